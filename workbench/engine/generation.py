"""One generation of a deployment: what its instances run, fixed once prepared.

A deployment's spec, environment and staged files change as the user edits them; each change
that needs new instances prepares a new generation. An instance is handed its generation and
never looks at its deployment, so an old instance that restarts during a rollout restarts as
what it was, not as half of the new spec.

`instance_spec` is the instance contract: the environment variables and limits an instance of a
generation gets, as a pure function.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from workbench.engine.collection import Collecting
from workbench.engine.gpus import assign
from workbench.engine.storage import Staged
from workbench.runtimes.base import InstanceSpec, Runtime
from workbench.spec.deployment import AZURE_APP_ROOT, DeploymentSpec, ProbeSettings
from workbench.spec.local import DeploymentSettings, GpuRequest
from workbench.spec.skus import find_sku


@dataclass(frozen=True)
class Generation:
    number: int
    endpoint: str
    deployment: str
    spec: DeploymentSpec
    settings: DeploymentSettings
    """workbench.yaml's settings for the deployment when the generation was prepared."""
    runtime: Runtime
    folder: Path
    """Where its model and code are staged (Azure's /var/azureml-app)."""
    staged: Staged
    python: Path
    image: str | None
    server_code: Path
    admin_token: str
    """Lets the engine ask its instances to reload; never logged."""
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    gpus: GpuRequest | None = None
    gpus_available: int = 0
    collecting: Collecting | None = None
    """Where its data collector's payloads go (azureml-ai-monitoring's variables)."""

    @property
    def readiness(self) -> ProbeSettings:
        return self.spec.readiness_probe

    @property
    def liveness(self) -> ProbeSettings:
        return self.spec.liveness_probe

    @property
    def probe_paths(self) -> tuple[str, str]:
        """Liveness and readiness paths: a custom container's own, else the inference server's /."""
        config = self.spec.environment.inference_config if self.spec.environment else None
        if config is None:
            return "/", "/"
        return config.liveness_route.path, config.readiness_route.path

    @property
    def scoring_path(self) -> str | None:
        """Where /score goes in a custom container; None for the inference server's own /score."""
        config = self.spec.environment.inference_config if self.spec.environment else None
        return config.scoring_route.path if config else None

    def user_paths(self, text: str) -> str:
        """`text` (a traceback, a failure's file and line) with the staged copy of the code, as
        the host or a container sees it, given as the project's own files: what the user opens."""
        code = self.spec.code_configuration
        if code is None:
            return text
        ours = f"{code.code}/"
        for staged in (f"{self.folder / code.code.name}/", f"{AZURE_APP_ROOT}/{code.code.name}/"):
            text = text.replace(staged, ours)
        return text

    @property
    def drain_s(self) -> float:
        """How long an instance leaving the route table waits for its requests: at most the
        longest a request may take."""
        return self.spec.request_settings.request_timeout_ms / 1000


INSTANCE_MARK = "WORKBENCH_INSTANCE"
"""In every instance's environment, and its workers': which instance of which project it is, so that
orphan cleanup signals only processes it can prove are the workbench's (orphans.py)."""


def instance_spec(
    generation: Generation,
    name: str,
    port: int,
    log_file: Path,
    serial: int,
    *,
    host_environment: Mapping[str, str] = os.environ,
) -> InstanceSpec:
    """Everything a runtime needs to start instance number `serial` of `generation`."""
    staged, spec = generation.staged, generation.spec
    place = generation.runtime.place(
        generation.folder,
        staged.app_root,
        staged.model_dir,
        generation.server_code,
        generation.python,
        model_mount=spec.model_mount_path,
    )
    environment = {
        "PATH": host_environment.get("PATH", "/usr/bin:/bin"),
        "HOME": host_environment.get("HOME", "/"),
        "LANG": host_environment.get("LANG", "C.UTF-8"),
        "PYTHONPATH": place.server_code,
        "PYTHONUNBUFFERED": "1",
        "AML_APP_ROOT": place.app_root,
        "AZUREML_ENTRY_SCRIPT": staged.entry_script,
        "AZUREML_MODEL_DIR": place.model_dir,
        "SERVICE_NAME": generation.endpoint,
        "WORKBENCH_ADMIN_TOKEN": generation.admin_token,
        "WORKBENCH_REUSE_INIT": "1" if generation.settings.reuse_init else "0",
        INSTANCE_MARK: f"{name}@{generation.folder}",
        "AZUREML_INFERENCE_PYTHON_PATH": os.path.dirname(place.python),
        **(generation.collecting.environment() if generation.collecting else {}),
        **spec.environment_variables,
        **generation.secrets,
    }
    sku = find_sku(spec.instance_type) if spec.instance_type else None
    config = spec.environment.inference_config if spec.environment else None
    return InstanceSpec(
        name=name,
        python=Path(place.python),
        app_root=staged.app_root,
        port=port,
        environment=environment,
        log_file=log_file,
        labels={"endpoint": generation.endpoint, "deployment": generation.deployment},
        image=generation.image,
        mounts=place.mounts,
        cpus=min(float(sku.vcpus), float(os.cpu_count() or 1)) if sku else None,
        memory_bytes=int(sku.memory_gib * 2**30) if sku and generation.settings.memory_limit else None,
        gpus=assign(generation.gpus, serial, generation.gpus_available) if generation.gpus else None,
        outside_network=spec.egress_public_network_access != "disabled",
        custom_port=config.scoring_route.port if config else None,
        server=generation.settings.server,
        read_only=(staged.model_dir,) if staged.model_dir else (),
    )
