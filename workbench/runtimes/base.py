"""The runtime interface: a few async methods to start, stop and wait for an instance."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


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


@dataclass
class RunningInstance:
    spec: InstanceSpec
    pid: int | None
    url: str


class Runtime(Protocol):
    async def start(self, spec: InstanceSpec) -> RunningInstance:
        """Start the instance's server; returns once the process exists (not once it is ready)."""

    async def stop(self, instance: RunningInstance, grace_s: float = 5.0) -> None:
        """Stop it: SIGTERM, then SIGKILL after `grace_s`; returns when it is gone."""

    async def wait(self, instance: RunningInstance) -> int:
        """Wait until it exits; its exit code."""
