"""Preparing a generation: the environment built (a venv or an image), model and code staged by
the storage initializer, secrets resolved. Every failure is a StartupError that says what to fix;
a cancelled preparation (a newer edit, or the engine stopping) stops its build at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from workbench.engine import nocode, secret_values
from workbench.engine.blobs import BlobStore
from workbench.engine.collection import PAYLOAD_COLLECTIONS, Collecting
from workbench.engine.context import Context
from workbench.engine.environments import Requirements, requirements
from workbench.engine.generation import Generation
from workbench.engine.gpus import wanted_gpus
from workbench.engine.storage import Staged, stage, stage_in_container
from workbench.errors import StartupError
from workbench.spec.assets import EnvironmentSpec
from workbench.spec.deployment import DeploymentSpec
from workbench.spec.local import GpuRequest
from workbench.spec.skus import find_sku
from workbench.state import EventKind, EventSeverity
from workbench.telemetry.gpu import gpus, missing_gpu

AZMLINFSRV = "azureml-inference-server-http>=1.5"
"""For `server: azmlinfsrv` in workbench.yaml."""


class Preparer:
    """Prepares the generations of one deployment, numbered in order; a number is never reused,
    so a cancelled preparation's files can never mix with a later one's."""

    def __init__(self, ctx: Context, endpoint: str, deployment: str) -> None:
        self.ctx = ctx
        self.endpoint = endpoint
        self.deployment = deployment
        self.admin_token = secrets.token_urlsafe(24)
        self._numbers = itertools.count(1)

    @property
    def subject(self) -> str:
        return f"{self.endpoint}/{self.deployment}"

    async def prepare(self, spec: DeploymentSpec) -> Generation:
        number = next(self._numbers)
        values = self._secrets(spec)  # the quickest to check: before anything is built
        settings = self.ctx.settings.deployment(self.endpoint, spec.name)
        kind = self.ctx.runtimes.kind_for(self.endpoint, spec.name)
        runtime = self.ctx.runtimes.get(kind)
        logs = self.ctx.files.logs(self.endpoint, spec.name)
        if spec.code_configuration is None and spec.model is not None and spec.model.type == "triton_model":
            raise StartupError(
                "a Triton no-code deployment needs NVIDIA's Triton Inference Server "
                "image (nvcr.io/nvidia/tritonserver), which the workbench does not run yet; give it a "
                "scoring script (code_configuration) to run it here"
            )
        if nocode.is_nocode_mlflow(spec):  # Azure generates its scoring script and environment
            wanted = nocode.requirements(spec) if spec.environment is None else requirements(spec.environment)
            spec = nocode.with_generated_code(spec, self.ctx.files.generated(self.endpoint, spec.name))
            self.ctx.store.publish(
                EventKind.BUILD, self.subject, "MLflow no-code deployment: scoring script generated"
            )
        else:
            wanted = requirements(spec.environment)
        if settings.server == "azmlinfsrv":
            wanted = self._with_azmlinfsrv(wanted, kind)
        for warning in wanted.warnings:
            self.ctx.store.publish(
                EventKind.BUILD, self.subject, f"warning: {warning}", EventSeverity.WARNING
            )
        environment = spec.environment
        if (
            self.ctx.runtimes.images(kind) is None
            and environment is not None
            and environment.image is not None
            and environment.conda_file is None
            and not nocode.is_nocode_mlflow(spec)
        ):
            self.ctx.store.publish(
                EventKind.BUILD,
                self.subject,
                f"warning: the environment is the image {environment.image} alone: as a process, its "
                "packages are not installed here (only what the inference server needs), so imports "
                "of them fail; `workbench up --runtime docker` runs it in its image",
                EventSeverity.WARNING,
            )
        request = await self._gpus(spec, kind)
        python, image = await self._environment(spec, wanted, kind, logs / "build.log")
        folder = self.ctx.files.staged(self.endpoint, spec.name) / f"g{number}"
        staged = await self._stage(spec, folder, kind, logs / "storage-initializer.log")
        collecting = await self._collecting(spec, kind)
        return Generation(
            number=number,
            endpoint=self.endpoint,
            deployment=spec.name,
            spec=spec,
            settings=settings,
            runtime=runtime,
            folder=folder,
            staged=staged,
            python=python,
            image=image,
            server_code=self.ctx.files.server_code,
            admin_token=self.admin_token,
            secrets=values,
            gpus=request,
            gpus_available=len(await asyncio.to_thread(gpus)) if request else 0,
            collecting=collecting,
        )

    def _with_azmlinfsrv(self, wanted: Requirements, kind: str) -> Requirements:
        """`server: azmlinfsrv`: the real server in the environment; it listens on every interface
        (fixed in azmlinfsrv), so only in a container, whose port is published on 127.0.0.1 alone."""
        if self.ctx.runtimes.images(kind) is None:
            raise StartupError(
                f"{self.subject}: server: azmlinfsrv listens on every network interface (0.0.0.0, fixed "
                "in azmlinfsrv), so the workbench runs it only in the Docker runtime (runtime: docker)"
            )
        return dataclasses.replace(wanted, packages=(*wanted.packages, AZMLINFSRV))

    async def _gpus(self, spec: DeploymentSpec, kind: str) -> GpuRequest | None:
        """A deployment that wants GPUs in a container: what is missing for them, with the fix,
        fails it before anything is built."""
        if self.ctx.runtimes.images(kind) is None:
            return None
        sku = find_sku(spec.instance_type) if spec.instance_type else None
        request = wanted_gpus(sku, self.ctx.settings.deployment(self.endpoint, spec.name).gpus)
        if request is None:
            return None
        problem = await asyncio.to_thread(missing_gpu) or await self.ctx.runtimes.get(kind).gpu_problem()
        if problem is not None:
            wanted = f"{spec.instance_type} has {sku.gpus} GPU(s)" if sku and sku.gpus else "gpus: is set"
            raise StartupError(f"GPU needed ({wanted}) but {problem}")
        return request

    async def _environment(
        self, spec: DeploymentSpec, wanted: Requirements, kind: str, log: Path
    ) -> tuple[Path, str | None]:
        """The interpreter to run, and the image it is in (Docker runtime) or None (a venv)."""

        def progress(line: str) -> None:
            self.ctx.store.publish(EventKind.BUILD, self.subject, line)

        images = self.ctx.runtimes.images(kind)
        environment = spec.environment
        if environment is not None and environment.inference_config is not None:
            return Path("/"), await self._custom_image(environment, kind)
        try:
            if images is not None:
                base = await images.base_for(environment, progress)
                built = await images.is_built(wanted, base)
                if not built:
                    progress("image not built yet; building")
                image = await images.ensure(wanted, base, log, progress)
                if built:
                    _say_cached(log, f"image {image}", wanted)
                return Path(images.python), image
            built = self.ctx.builder.is_built(wanted)
            if not built:
                progress("environment not in the cache; building")
            python = await self.ctx.builder.ensure(wanted, log, progress)
            if built:
                _say_cached(log, f"environment {python.parent.parent}", wanted)
            return python, None
        except StartupError as exc:  # Azure's code for it, then what failed; the log has the rest
            raise StartupError(
                f"ImageBuildFailure: {exc} (see `workbench logs ... --container build`)"
            ) from exc

    async def _custom_image(self, environment: EnvironmentSpec, kind: str) -> str:
        """A custom container's image, as it is: it must be on this machine already."""
        config = environment.inference_config
        assert config is not None
        images = self.ctx.runtimes.images(kind)
        if images is None or environment.image is None:
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
        if not await images.runtime.image_exists(environment.image):
            raise StartupError(
                f"image {environment.image} is not on this machine, and no registry is used: "
                "`docker build` (or `docker load`) it first"
            )
        return environment.image

    async def _stage(self, spec: DeploymentSpec, target: Path, kind: str, log: Path) -> Staged:
        """The storage initializer: in a container of its own before the inference server's
        (Docker runtime), else on this machine."""
        images = self.ctx.runtimes.images(kind)
        project = self.ctx.files.project
        if images is None:
            return await asyncio.to_thread(
                stage, spec, target, log, BlobStore.at(self.ctx.files.blobs), project
            )

        async def run(
            command: list[str],
            read_only: dict[str, str],
            writable: dict[str, str],
            say: Callable[[str], None],
        ) -> int:
            name = f"{self.endpoint}.{spec.name}.storage-initializer"
            base = await images.stand_in(say)
            say(f"Running in container {name} from {base}")
            return await images.runtime.run_to_completion(
                name, base, command, read_only=read_only, writable=writable, say=say
            )

        return await stage_in_container(spec, target, log, run, project)

    async def _collecting(self, spec: DeploymentSpec, kind: str) -> Collecting | None:
        """A collector for a deployment whose data_collector enables a collection that score.py
        fills (`request` and `response` are the router's: see collection.payload_sink)."""
        collector = spec.data_collector
        if (
            collector is None
            or not any(c.enabled and c.name not in PAYLOAD_COLLECTIONS for c in collector.collections)
            or self.ctx.collectors is None
        ):
            return None
        if self.ctx.runtimes.images(kind) is not None:
            self.ctx.store.publish(
                EventKind.BUILD,
                self.subject,
                "warning: data collection runs with the process runtime only; in a container the "
                "Collector's payloads have nowhere to go",
            )
            return None
        return await self.ctx.collectors.listen(self.endpoint, spec.name, collector)

    def _secrets(self, spec: DeploymentSpec) -> dict[str, str]:
        return secret_values.resolve(spec, self.ctx.settings, self.ctx.files)


def _say_cached(log: Path, what: str, wanted: Requirements) -> None:
    """The build log of a deployment whose environment was built before says so, rather than
    staying empty: what it runs in, and with which packages."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    packages = ", ".join(wanted.packages) or "none"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as out:
            out.write(f"{stamp} | build | {what}: built before, from the cache; nothing to build\n")
            out.write(f"{stamp} | build | python {wanted.python}; packages: {packages}\n")
    except OSError:
        pass  # a full disk: the events say it was cached
