"""What the engine's parts share: files, the store, the environment builder, the runtimes, and
the routes the deployments are served by. Built once, before the deployments, and never changed
after: the one part that changes, workbench.yaml's settings, is held apart (`LiveSettings`) and
replaced whole on each apply."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from workbench.engine.collection import DataCollectors
from workbench.engine.environments import EnvironmentBuilder
from workbench.engine.orphans import ProcessRegistry
from workbench.engine.probes import HttpProber, Prober
from workbench.engine.runtimeset import Runtimes
from workbench.engine.store import Store
from workbench.layout import ProjectFiles
from workbench.spec.local import LocalSettings


class Routes(Protocol):
    """What deployments ask of the routers that serve them (routing.Routing is the engine's)."""

    def refresh(self) -> None:
        """A deployment or an instance changed: the route tables are built again."""

    async def drain(self, endpoint: str, urls: Sequence[str], timeout_s: float) -> None:
        """Returns once `endpoint`'s router has no request in flight to `urls` (which have
        already left its route table), or at the timeout."""


class Unrouted:
    """Deployments run with no router in front (tests of the deployments alone)."""

    def refresh(self) -> None:
        return None

    async def drain(self, endpoint: str, urls: Sequence[str], timeout_s: float) -> None:
        return None


@dataclass
class LiveSettings:
    """workbench.yaml's settings as last applied: replaced whole by each apply."""

    current: LocalSettings


@dataclass(frozen=True)
class Context:
    files: ProjectFiles
    store: Store
    builder: EnvironmentBuilder
    runtimes: Runtimes
    live: LiveSettings
    registry: ProcessRegistry
    http: aiohttp.ClientSession
    routes: Routes = field(default_factory=Unrouted)
    collectors: DataCollectors | None = None
    """Where deployments with a data_collector send what they collect."""
    probes: Prober | None = None
    """How instances are probed: over HTTP unless given (the runtime double's in-process tests)."""

    @property
    def settings(self) -> LocalSettings:
        return self.live.current

    @property
    def prober(self) -> Prober:
        return self.probes if self.probes is not None else HttpProber(self.http)

    def on_change(self) -> None:
        """Called after any deployment or instance changed: the route tables are built again."""
        self.routes.refresh()

    async def drain(self, endpoint: str, urls: Sequence[str], timeout_s: float) -> None:
        await self.routes.drain(endpoint, urls, timeout_s)
