"""Runtimes run instances: processes (default) or Docker containers.

`get_runtime(kind)` is the one place that chooses an implementation; each is imported only when
asked for, so nothing loads docker unless a deployment runs in Docker.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import MissingExtra
from workbench.runtimes.base import InstanceSpec, RunningInstance, Runtime

if TYPE_CHECKING:
    from workbench.runtimes.docker import DockerRuntime

__all__ = ["InstanceSpec", "RunningInstance", "Runtime", "docker_runtime", "get_runtime"]


def get_runtime(kind: str, project: Path) -> Runtime:
    if kind == "process":
        from workbench.runtimes.process import ProcessRuntime

        return ProcessRuntime()
    if kind == "docker":
        return docker_runtime(project)
    raise ValueError(f"unknown runtime {kind!r}: process or docker")


def docker_runtime(project: Path) -> DockerRuntime:
    """The Docker runtime, or a MissingExtra naming the `docker` extra."""
    try:
        from workbench.runtimes.docker import DockerRuntime
    except ImportError as exc:
        if (exc.name or "").split(".")[0] != "docker":
            raise
        raise MissingExtra("docker", "the Docker runtime") from exc
    return DockerRuntime(project)
