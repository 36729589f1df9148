"""The runtime interface: a few async methods to start, stop and wait for an instance."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from workbench.contract import Shell


@dataclass(frozen=True)
class GpuAssignment:
    """The GPUs an instance gets: `count` of them (None: all), or these device ids."""

    count: int | None
    device_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class InstanceSpec:
    """Everything a runtime needs to start one instance of a deployment."""

    name: str
    """A unique, stable name: <endpoint>.<deployment>.<index>."""
    python: Path
    """The interpreter of the deployment's environment."""
    app_root: Path
    port: int
    environment: Mapping[str, str] = field(default_factory=dict)
    log_file: Path = Path("/dev/null")
    labels: Mapping[str, str] = field(default_factory=dict)
    server_arguments: tuple[str, ...] = ()
    """More flags for the inference server (the debugger's)."""
    image: str | None = None
    """The container image (Docker runtime): the deployment's environment."""
    mounts: Mapping[str, str] = field(default_factory=dict)
    """Host folder -> path inside, read-only (Docker runtime)."""
    cpus: float | None = None
    memory_bytes: int | None = None
    """Limits of the deployment's instance type (a container's; a process's through cgroups where
    the engine can make them, else its memory by polling)."""
    gpus: GpuAssignment | None = None
    """GPUs passed through (Docker runtime); None for none."""
    outside_network: bool = True
    """False for `egress_public_network_access: disabled`: reachable, but reaching nothing."""
    custom_port: int | None = None
    """A custom container (BYOC): its image runs as it is, serving on this port."""
    server: str = "workbench"
    """The inference server to run: the workbench's, or `azmlinfsrv` (Docker runtime)."""
    read_only: tuple[Path, ...] = ()
    """Host folders the instance must not write to (its model), as Azure mounts them read-only;
    a container gets its files through read-only mounts anyway."""


@dataclass(frozen=True)
class Placement:
    """Where an instance sees its files: the paths for its environment variables, and the host
    folders a container mounts to get them there."""

    app_root: str
    model_dir: str
    server_code: str
    python: str
    mounts: Mapping[str, str] = field(default_factory=dict)


@dataclass
class RunningInstance:
    spec: InstanceSpec
    pid: int | None
    """The instance's own process on this machine, which the engine may signal (processes)."""
    url: str
    host_pid: int | None = None
    """A process on this machine whose family is the instance, to measure but never to signal:
    a container's first process, where its Docker engine runs here."""
    oom_killed: bool = False
    """Set by the runtime before `wait` returns: it was killed for going over its memory."""
    killed_on_purpose: bool = False
    """Set by the engine as it kills it (`workbench fault --kill`): its end needs no guess."""

    @property
    def measured_pid(self) -> int | None:
        return self.pid if self.pid is not None else self.host_pid


class Runtime(Protocol):
    kind: str

    def place(
        self,
        staged: Path,
        app_root: Path,
        model_dir: Path | None,
        server_code: Path,
        python: Path,
        *,
        model_mount: str | None = None,
    ) -> Placement:
        """How the instance sees its staged files, its server code and its interpreter;
        `model_mount`: the deployment's model_mount_path, where a runtime that can mount puts the
        models instead."""

    async def remove_orphans(self, project: Path) -> list[str]:
        """Remove what an engine for `project` left behind when it was killed; their names."""

    async def gpu_problem(self) -> str | None:
        """What this runtime lacks to pass GPUs through, with the fix; None when nothing."""

    async def start(self, spec: InstanceSpec) -> RunningInstance:
        """Start the instance's server; returns once the process exists (not once it is ready)."""

    async def stop(self, instance: RunningInstance, grace_s: float = 5.0) -> None:
        """Stop it: SIGTERM, then SIGKILL after `grace_s`; returns when it is gone."""

    async def wait(self, instance: RunningInstance) -> int:
        """Wait until it exits; its exit code."""

    async def kill(self, instance: RunningInstance) -> None:
        """SIGKILL it at once, with no grace, as a host failure or the OOM killer would; `wait`
        then returns its exit code."""

    def shell(self, instance: RunningInstance) -> Shell:
        """How a user opens a shell inside it: its environment, its folder."""


class OnTheHost:
    """For runtimes whose instances run on this machine as it is: they see the host's files where
    they are and its GPUs as they are; what a killed engine leaves is found by the engine's
    process registry (instances.json), not by the runtime."""

    def place(
        self,
        staged: Path,
        app_root: Path,
        model_dir: Path | None,
        server_code: Path,
        python: Path,
        *,
        model_mount: str | None = None,
    ) -> Placement:
        """The files where they are: a model_mount_path is not applied (spec/deployment.py says so)."""
        return Placement(str(app_root), str(model_dir or ""), str(server_code), str(python))

    async def gpu_problem(self) -> str | None:
        return None

    async def remove_orphans(self, project: Path) -> list[str]:
        return []

    def shell(self, instance: RunningInstance) -> Shell:
        """The user's shell in the instance's folder with its variables (its interpreter's
        folder first on PATH), less the engine's own admin token."""
        spec = instance.spec
        env = {k: v for k, v in spec.environment.items() if k not in ENGINE_ONLY}
        env["PATH"] = os.pathsep.join([str(spec.python.parent), env.get("PATH") or os.defpath])
        env["PS1"] = f"({spec.name}) $ "
        return Shell((os.environ.get("SHELL") or "/bin/sh",), str(spec.app_root), env)


ENGINE_ONLY = frozenset({"WORKBENCH_ADMIN_TOKEN"})
"""Variables of an instance that its server takes away from the user's code, and a shell too."""
