"""What the engine's parts share: files, the store, the environment builder, the runtime."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp

from workbench.engine.environments import EnvironmentBuilder
from workbench.engine.files import ProjectFiles
from workbench.engine.orphans import ProcessRegistry
from workbench.engine.store import Store
from workbench.runtimes.base import Runtime
from workbench.spec.local import LocalSettings

if TYPE_CHECKING:
    from workbench.engine.images import DockerImages


@dataclass
class Context:
    files: ProjectFiles
    store: Store
    builder: EnvironmentBuilder
    runtime: Runtime
    settings: LocalSettings
    registry: ProcessRegistry
    http: aiohttp.ClientSession
    images: DockerImages | None = None
    """Builds images for the Docker runtime; None with the process runtime (venvs instead)."""
    on_change: Callable[[], None] = field(default=lambda: None)
    """Called after any deployment or instance changed: the engine rebuilds the route tables."""
