"""Runtimes run instances: processes (default) or, later, Docker containers.

`get_runtime(kind)` is the one place that chooses an implementation; each is imported only when
asked for, so nothing loads docker unless a deployment runs in Docker.
"""

from __future__ import annotations

from workbench.runtimes.base import InstanceSpec, RunningInstance, Runtime

__all__ = ["InstanceSpec", "RunningInstance", "Runtime", "get_runtime"]


def get_runtime(kind: str) -> Runtime:
    if kind == "process":
        from workbench.runtimes.process import ProcessRuntime

        return ProcessRuntime()
    raise ValueError(f"unknown runtime {kind!r}; this version runs instances as processes")
