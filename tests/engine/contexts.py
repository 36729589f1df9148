"""The engine's shared context for tests that run deployments in process, without an engine."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from workbench.engine.context import Context, LiveSettings, Routes, Unrouted
from workbench.engine.environments import EnvironmentBuilder
from workbench.engine.orphans import ProcessRegistry
from workbench.engine.probes import Prober
from workbench.engine.runtimeset import Runtimes
from workbench.engine.store import Store
from workbench.layout import ProjectFiles
from workbench.runtimes.base import Runtime
from workbench.spec.local import LocalSettings


def engine_context(
    folder: Path,
    settings: LocalSettings,
    http: aiohttp.ClientSession,
    runtime: Runtime,
    *,
    envs: Path | None = None,
    routes: Routes | None = None,
    probes: Prober | None = None,
) -> Context:
    """`runtime` runs the process instances; `envs`: where environments are built (the
    user's cache when None); `routes`: what stands for the routers (none when None)."""
    files = ProjectFiles(folder)
    return Context(
        files,
        Store(),
        EnvironmentBuilder(envs) if envs is not None else EnvironmentBuilder(),
        Runtimes(folder, settings, given={"process": runtime}),
        LiveSettings(settings),
        ProcessRegistry(files.instances),
        http,
        routes=routes or Unrouted(),
        probes=probes,
    )
