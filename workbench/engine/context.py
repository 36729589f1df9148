"""What the engine's parts share: files, the store, the environment builder, the runtime."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from workbench.engine.environments import EnvironmentBuilder
from workbench.engine.files import ProjectFiles
from workbench.engine.orphans import ProcessRegistry
from workbench.engine.store import Store
from workbench.runtimes.base import Runtime
from workbench.spec.local import LocalSettings


@dataclass
class Context:
    files: ProjectFiles
    store: Store
    builder: EnvironmentBuilder
    runtime: Runtime
    settings: LocalSettings
    registry: ProcessRegistry
    http: aiohttp.ClientSession
