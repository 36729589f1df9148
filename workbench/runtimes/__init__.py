"""Runtimes run instances: processes (default) or Docker containers.

`get_runtime(kind)` is the one place that chooses an implementation; each is imported only when
asked for, so nothing loads docker unless a deployment runs in Docker.
"""

from __future__ import annotations

from pathlib import Path

from workbench.runtimes.base import InstanceSpec, RunningInstance, Runtime

__all__ = ["InstanceSpec", "RunningInstance", "Runtime", "get_runtime"]


def get_runtime(kind: str, project: Path) -> Runtime:
    if kind == "process":
        from workbench.runtimes.process import ProcessRuntime

        return ProcessRuntime()
    if kind == "docker":
        from workbench.runtimes.docker import DockerRuntime

        return DockerRuntime(project)
    raise ValueError(f"unknown runtime {kind!r}: process or docker")
