"""What the engine's parts share: files, the store, the environment builder, the runtimes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import aiohttp

from workbench.engine.collection import DataCollectors
from workbench.engine.environments import EnvironmentBuilder
from workbench.engine.orphans import ProcessRegistry
from workbench.engine.probes import HttpProber, Prober
from workbench.engine.runtimeset import Runtimes
from workbench.engine.store import Store
from workbench.layout import ProjectFiles
from workbench.spec.local import LocalSettings


async def _no_drain(endpoint: str, urls: Sequence[str], timeout_s: float) -> None:
    return None


@dataclass
class Context:
    files: ProjectFiles
    store: Store
    builder: EnvironmentBuilder
    runtimes: Runtimes
    settings: LocalSettings
    registry: ProcessRegistry
    http: aiohttp.ClientSession
    on_change: Callable[[], None] = field(default=lambda: None)
    """Called after any deployment or instance changed: the engine rebuilds the route tables."""
    drain: Callable[[str, Sequence[str], float], Awaitable[None]] = field(default=_no_drain)
    collectors: DataCollectors | None = None
    """Where deployments with a data_collector send what they collect."""
    probes: Prober | None = None
    """How instances are probed: over HTTP unless given (the runtime double's in-process tests)."""

    @property
    def prober(self) -> Prober:
        return self.probes if self.probes is not None else HttpProber(self.http)

    """drain(endpoint, instance URLs, timeout_s): returns once the endpoint's router has no
    request in flight to those URLs (which have already left its route table), or at the timeout."""
