"""One deployment's life: build its environment, stage model and code, run its instances.

Creating -> Succeeded once every instance is ready; Failed, with Azure's reason and the last
lines of the log, when its environment, staging or secrets fail or an instance gives up;
Updating while it scales or replaces its instances one by one (a new one ready before an old one
stops).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from workbench.dev.vscode import attach_configuration, write_attach_configuration
from workbench.engine.context import Context
from workbench.engine.environments import Requirements, requirements
from workbench.engine.gpus import assign, wanted_gpus
from workbench.engine.instances import InstanceRunner
from workbench.engine.storage import Staged, refresh, stage, stage_in_container
from workbench.errors import EngineError, NotFound, StartupError
from workbench.runtimes.base import InstanceSpec
from workbench.spec.assets import EnvironmentSpec
from workbench.spec.deployment import DeploymentSpec
from workbench.spec.local import DeploymentSettings, GpuRequest
from workbench.spec.skus import find_sku
from workbench.state import DeploymentState, InstancePhase, ProvisioningState
from workbench.telemetry.gpu import gpus, missing_gpu

AZMLINFSRV = "azureml-inference-server-http>=1.5"
"""For `server: azmlinfsrv` in workbench.yaml."""


class DeploymentRunner:
    def __init__(self, ctx: Context, endpoint: str, spec: DeploymentSpec, state: DeploymentState) -> None:
        self.ctx = ctx
        self.endpoint = endpoint
        self.spec = spec
        kind = ctx.runtimes.kind_for(endpoint, spec.name)
        self.runtime = ctx.runtimes.get(kind)
        self.images = ctx.runtimes.images(kind)
        self.state = state
        self.instances: list[InstanceRunner] = []
        self.generation = 0
        self._serial = 0
        self._python: str = ""
        self._image: str | None = None
        self._gpus: GpuRequest | None = None
        self._gpus_available = 0
        self._staged: Staged | None = None
        self._started = time.monotonic()
        self._admin_token = secrets.token_urlsafe(24)
        """Lets the engine ask its instances to reload; never logged."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def subject(self) -> str:
        return f"{self.endpoint}/{self.name}"

    async def create(self) -> None:
        self._set(ProvisioningState.CREATING, "creating")
        if await self._prepare(self.spec):
            for _ in range(self.spec.instance_count):
                self._add_instance()

    async def scale(self, count: int) -> None:
        self._set(ProvisioningState.UPDATING, f"scaling to {count} instance(s)")
        self.spec = _with_count(self.spec, count)
        self.state.instance_count = count
        while len(self.instances) < count:
            self._add_instance()
        while len(self.instances) > count:
            await self.instances.pop().stop()
        self.instance_changed()

    async def replace(self, spec: DeploymentSpec) -> None:
        """New instances from `spec`, one at a time, each ready before an old one stops."""
        self._set(ProvisioningState.UPDATING, "replacing instances")
        old = list(self.instances)
        if not await self._prepare(spec):
            return
        self.spec = spec
        self.state.instance_count = spec.instance_count
        for index in range(spec.instance_count):
            new = self._add_instance()
            await _first_done(new.ready.wait(), _until_failed(new))
            if new.failure is not None:
                return  # the old instances keep serving; the deployment shows why
            if index < len(old):
                await old[index].stop()
                self.instances.remove(old[index])
        for extra in old[spec.instance_count :]:
            await extra.stop()
            self.instances.remove(extra)
        self.instance_changed()

    async def reload_code(self, cause: str) -> None:
        """Stage the model and code again in place and have every ready instance reload; each
        instance's outcome (time taken, init() run or kept, or the failure with file and line)
        is an event."""
        if self._staged is None or self.spec.code_configuration is None:
            return
        started = time.perf_counter()
        try:
            changed = await asyncio.to_thread(
                refresh,
                self.spec,
                self.ctx.files.staged(self.endpoint, self.name) / f"g{self.generation}",
                self.ctx.files.logs(self.endpoint, self.name) / "storage-initializer.log",
            )
        except StartupError as exc:
            self.ctx.store.publish("reload-failed", self.subject, str(exc))
            return
        self.ctx.store.publish(
            "reload",
            self.subject,
            f"model and code staged again in {(time.perf_counter() - started) * 1000:.0f} ms "
            f"({changed} file(s) changed); reloading {len(self.instances)} instance(s)",
        )
        if self._local.server == "azmlinfsrv":  # no in-place reload there: a rolling restart
            for instance in list(self.instances):
                await instance.restart(f"azmlinfsrv has no in-place reload; {cause}")
                await _first_done(instance.ready.wait(), _until_failed(instance))
            return
        await asyncio.gather(*(i.reload(cause, self._admin_token) for i in list(self.instances)))

    def _with_azmlinfsrv(self, wanted: Requirements) -> Requirements:
        """`server: azmlinfsrv`: the real server in the environment; it listens on every interface
        (fixed in azmlinfsrv), so only in a container, whose port is published on 127.0.0.1 alone."""
        if self.images is None:
            raise StartupError(
                f"{self.subject}: server: azmlinfsrv listens on every network interface (0.0.0.0, fixed "
                "in azmlinfsrv), so the workbench runs it only in the Docker runtime (runtime: docker)"
            )
        return dataclasses.replace(wanted, packages=(*wanted.packages, AZMLINFSRV))

    async def debug(self, instance_id: str, *, wait: bool) -> dict[str, Any]:
        """Run one instance under the debugger and write VS Code's attach configuration for it:
        where debugpy listens and how the code folder maps to where the instance runs it."""
        instance = self.instance(instance_id)
        code = self.spec.code_configuration
        if self._local.server == "azmlinfsrv":
            raise EngineError(f"{self.subject} runs azmlinfsrv: `workbench debug` needs the workbench server")
        if code is None:
            raise EngineError(f"{self.subject} has no code_configuration: there is no Python code to debug")
        debugging = await instance.debug(wait=wait)
        staged = self.ctx.files.staged(self.endpoint, self.name) / f"g{self.generation}"
        seen = self.runtime.place(
            staged, staged / code.code.name, None, self.ctx.files.server_code, Path("/")
        )
        # the code folder as the instance sees it: in a container, where Azure mounts it
        configuration = attach_configuration(
            f"{self.endpoint}/{instance_id}", debugging.port, code.code.resolve(), Path(seen.app_root)
        )
        written = write_attach_configuration(self.ctx.files.project, configuration)
        self.ctx.store.publish(
            "debug",
            f"{self.endpoint}/{instance_id}",
            f"debugpy on 127.0.0.1:{debugging.port}"
            + ("; init() waits for a debugger" if wait else "")
            + (f"; VS Code: '{configuration['name']}' in {written}" if written else ""),
        )
        return {
            "host": "127.0.0.1",
            "port": debugging.port,
            "wait": wait,
            "launch_json": str(written) if written else None,
            "configuration": configuration,
        }

    def instance(self, instance_id: str) -> InstanceRunner:
        found = next((i for i in self.instances if i.state.id == instance_id), None)
        if found is None:
            known = ", ".join(i.state.id for i in self.instances) or "none"
            raise NotFound(f"deployment {self.subject} has no instance {instance_id} (it has: {known})")
        return found

    async def delete(self) -> None:
        self._set(ProvisioningState.DELETING, "deleting")
        await asyncio.gather(*(instance.stop() for instance in self.instances))
        self.instances.clear()

    async def _prepare(self, spec: DeploymentSpec) -> bool:
        """Environment, staging and secrets for `spec`; False (and Failed) when any fails."""
        logs = self.ctx.files.logs(self.endpoint, self.name)
        try:
            wanted = requirements(spec.environment)
            if self._local.server == "azmlinfsrv":
                wanted = self._with_azmlinfsrv(wanted)
            for warning in wanted.warnings:
                self.ctx.store.publish("build", self.subject, f"warning: {warning}")
            python, image = await self._environment(wanted, logs / "build.log")
            generation = self.generation + 1
            staged = await self._stage(spec, generation, logs / "storage-initializer.log")
            self._secrets(spec)
        except StartupError as exc:
            self.state.reason = str(exc)
            self._set(ProvisioningState.FAILED, str(exc).splitlines()[0])
            return False
        self.generation, self._python, self._staged, self._image = generation, str(python), staged, image
        return True

    async def _custom_image(self, environment: EnvironmentSpec) -> str:
        """A custom container's image, as it is: it must be on this machine already."""
        config = environment.inference_config
        assert config is not None
        if self.images is None or environment.image is None:
            raise StartupError(
                f"{self.subject} is a custom container (inference_config): it needs the Docker runtime "
                "(`runtime: docker` in workbench.yaml, or `workbench up --runtime docker`)"
            )
        ports = {config.liveness_route.port, config.readiness_route.port, config.scoring_route.port}
        if len(ports) > 1:
            raise StartupError(
                f"{self.subject}: the workbench runs custom containers whose liveness, readiness and "
                f"scoring routes share one port; these use {sorted(ports)}"
            )
        await self._check_gpus()
        if not await self.images.runtime.image_exists(environment.image):
            raise StartupError(
                f"image {environment.image} is not on this machine, and no registry is used: "
                "`docker build` (or `docker load`) it first"
            )
        return environment.image

    @property
    def probe_paths(self) -> tuple[str, str]:
        """Liveness and readiness paths: a custom container's own, else the inference server's /."""
        environment = self.spec.environment
        config = environment.inference_config if environment else None
        if config is None:
            return "/", "/"
        return config.liveness_route.path, config.readiness_route.path

    @property
    def scoring_path(self) -> str | None:
        """Where /score goes in a custom container; None for the inference server's own /score."""
        environment = self.spec.environment
        config = environment.inference_config if environment else None
        return config.scoring_route.path if config else None

    async def _check_gpus(self) -> None:
        """A deployment that wants GPUs in a container: what is missing for them, with the fix,
        fails it before anything is built."""
        sku = find_sku(self.spec.instance_type) if self.spec.instance_type else None
        self._gpus = wanted_gpus(sku, self._local.gpus)
        if self._gpus is None:
            return
        problem = await asyncio.to_thread(missing_gpu) or await self.runtime.gpu_problem()
        if problem is not None:
            wanted = (
                f"{self.spec.instance_type} has {sku.gpus} GPU(s)" if sku and sku.gpus else "gpus: is set"
            )
            raise StartupError(f"GPU needed ({wanted}) but {problem}")
        self._gpus_available = len(await asyncio.to_thread(gpus))

    async def _stage(self, spec: DeploymentSpec, generation: int, log: Path) -> Staged:
        """The storage initializer: in a container of its own before the inference server's
        (Docker runtime), else on this machine with hard links."""
        target = self.ctx.files.staged(self.endpoint, self.name) / f"g{generation}"
        if self.images is None:
            return await asyncio.to_thread(stage, spec, target, log)
        images = self.images

        async def run(
            command: list[str],
            read_only: dict[str, str],
            writable: dict[str, str],
            say: Callable[[str], None],
        ) -> int:
            name = f"{self.endpoint}.{self.name}.storage-initializer"
            say(f"Running in container {name} from {images.base_image}")
            return await images.runtime.run_to_completion(
                name, images.base_image, command, read_only=read_only, writable=writable, say=say
            )

        return await stage_in_container(spec, target, log, run)

    async def _environment(self, wanted: Requirements, log: Path) -> tuple[Path, str | None]:
        """The interpreter to run, and the image it is in (Docker runtime) or None (a venv)."""

        def progress(line: str) -> None:
            self.ctx.store.publish("build", self.subject, line)

        environment = self.spec.environment
        if environment is not None and environment.inference_config is not None:
            return Path("/"), await self._custom_image(environment)
        if self.images is not None:
            await self._check_gpus()
            if not await self.images.is_built(wanted):
                progress("image not built yet; building")
            image = await self.images.ensure(wanted, log, progress)
            return Path(self.images.python), image
        if not self.ctx.builder.is_built(wanted):
            progress("environment not in the cache; building")
        return await self.ctx.builder.ensure(wanted, log, progress), None

    def _secrets(self, spec: DeploymentSpec) -> dict[str, str]:
        values: dict[str, str] = {}
        for variable, reference in spec.secret_references().items():
            secret = self.ctx.settings.secrets.get(reference)
            value = None
            if secret is not None:
                value = secret.literal if secret.literal is not None else os.environ.get(secret.env or "")
            if value is None:
                raise StartupError(
                    f"SecretsInjectionError: no local value for {reference} ({variable}); "
                    "give one under secrets: in workbench.yaml"
                )
            values[variable] = value
        return values

    def instance_spec(
        self, name: str, port: int, log_file: os.PathLike[str], serial: int = 0
    ) -> InstanceSpec:
        assert self._staged is not None
        staged = self._staged
        spec = self.spec
        generation = self.ctx.files.staged(self.endpoint, self.name) / f"g{self.generation}"
        place = self.runtime.place(
            generation, staged.app_root, staged.model_dir, self.ctx.files.server_code, Path(self._python)
        )
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "PYTHONPATH": place.server_code,
            "PYTHONUNBUFFERED": "1",
            "AML_APP_ROOT": place.app_root,
            "AZUREML_ENTRY_SCRIPT": staged.entry_script,
            "AZUREML_MODEL_DIR": place.model_dir,
            "WORKER_COUNT": str(spec.request_settings.max_concurrent_requests_per_instance),
            "SERVICE_NAME": self.endpoint,
            "WORKBENCH_ADMIN_TOKEN": self._admin_token,
            "WORKBENCH_REUSE_INIT": "1" if self._local.reuse_init else "0",
            "AZUREML_INFERENCE_PYTHON_PATH": os.path.dirname(place.python),
            **spec.environment_variables,
            **self._secrets(spec),
        }
        sku = find_sku(spec.instance_type) if spec.instance_type else None
        config = spec.environment.inference_config if spec.environment else None
        return InstanceSpec(
            name=name,
            python=Path(place.python),
            app_root=staged.app_root,
            port=port,
            environment=environment,
            log_file=Path(log_file),
            labels={"endpoint": self.endpoint, "deployment": self.name},
            image=self._image,
            mounts=place.mounts,
            cpus=min(float(sku.vcpus), float(os.cpu_count() or 1)) if sku else None,
            memory_bytes=int(sku.memory_gib * 2**30) if sku else None,
            gpus=assign(self._gpus, serial, self._gpus_available) if self._gpus else None,
            outside_network=spec.egress_public_network_access != "disabled",
            custom_port=config.scoring_route.port if config else None,
            server=self._local.server,
        )

    @property
    def _local(self) -> DeploymentSettings:
        """workbench.yaml's settings for this deployment."""
        return self.ctx.settings.deployment(self.endpoint, self.name)

    def _add_instance(self) -> InstanceRunner:
        runner = InstanceRunner(self, self._serial)
        self._serial += 1
        self.instances.append(runner)
        self.state.instances.append(runner.state)
        runner.start()
        return runner

    def instance_changed(self) -> None:
        """Recompute the deployment's state from its instances' and publish a change."""
        self.state.instances = [i.state for i in self.instances]
        self.ctx.on_change()
        if self.state.provisioning_state in (ProvisioningState.DELETING,):
            return
        failed = next((i for i in self.instances if i.failure is not None), None)
        ready = [i for i in self.instances if i.state.state is InstancePhase.READY]
        if failed is not None and len(ready) < self.spec.instance_count:
            if self.state.provisioning_state is not ProvisioningState.FAILED:
                self.state.reason = failed.failure
                self._set(ProvisioningState.FAILED, (failed.failure or "").splitlines()[0])
        elif len(ready) >= self.spec.instance_count and self.state.provisioning_state in (
            ProvisioningState.CREATING,
            ProvisioningState.UPDATING,
            ProvisioningState.FAILED,
        ):
            self.state.reason = None
            elapsed = time.monotonic() - self._started
            self._set(
                ProvisioningState.SUCCEEDED,
                f"{len(ready)}/{self.spec.instance_count} instance(s) ready in {elapsed:.1f} s",
            )

    def _set(self, state: ProvisioningState, why: str) -> None:
        if state in (ProvisioningState.CREATING, ProvisioningState.UPDATING):
            self._started = time.monotonic()
        self.state.provisioning_state = state
        self.ctx.on_change()
        self.ctx.store.publish("deployment", self.subject, f"{state.value}: {why}")


async def _until_failed(instance: InstanceRunner) -> None:
    while instance.failure is None:
        await asyncio.sleep(0.1)


async def _first_done(*awaitables: Awaitable[object]) -> None:
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


def _with_count(spec: DeploymentSpec, count: int) -> DeploymentSpec:
    return dataclasses.replace(spec, instance_count=count)
