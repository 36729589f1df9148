"""What the router routes to: pushed by the engine whenever instances or traffic change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from workbench.router.upstream import Upstream
from workbench.spec.faults import Faults


@dataclass
class Target:
    """A ready instance; `in_flight` counts the router's open requests to it."""

    id: str
    url: str
    debugging: bool = False
    """Runs under the debugger: a request may stop at a breakpoint, so no timeout applies."""
    in_flight: int = 0
    _upstream: Upstream | None = field(default=None, repr=False, compare=False)

    @property
    def upstream(self) -> Upstream:
        if self._upstream is None:
            parts = urlsplit(self.url)
            self._upstream = Upstream(parts.hostname or "127.0.0.1", parts.port or 80)
        return self._upstream

    def close(self) -> None:
        if self._upstream is not None:
            self._upstream.close()


PayloadSink = Callable[[str, bytes, str, str], None]
"""(collection: "request" or "response", body, content type, request id): a deployment's
data collector taking the HTTP payloads its `request` / `response` collections ask for."""


@dataclass
class DeploymentRoute:
    name: str
    provisioning_state: str
    targets: list[Target] = field(default_factory=list)
    request_timeout_s: float = 5.0
    max_concurrent_requests_per_instance: int = 1
    scoring_path: str | None = None
    """A custom container's scoring route: /score is sent there (with its query)."""
    faults: Faults | None = None
    """Injected on purpose (`workbench fault`): latency, errors, dropped connections."""
    collect_payloads: PayloadSink | None = None
    """Set where the deployment's data_collector enables its `request` or `response` collection."""

    @property
    def in_flight(self) -> int:
        return sum(t.in_flight for t in self.targets)

    @property
    def capacity(self) -> int:
        """Azure's 429 threshold: 2 x max_concurrent_requests_per_instance x ready instances."""
        return 2 * self.max_concurrent_requests_per_instance * len(self.targets)

    def least_busy(self, skip: set[str] | None = None) -> Target | None:
        candidates = [t for t in self.targets if not skip or t.id not in skip]
        return min(candidates, key=lambda t: t.in_flight) if candidates else None


@dataclass
class RouteTable:
    auth_mode: str
    traffic: dict[str, int]
    mirror_traffic: dict[str, int]
    deployments: dict[str, DeploymentRoute]

    def merged_with(self, previous: RouteTable | None) -> RouteTable:
        """Keep the in-flight counts of targets that stay, so a refresh loses no accounting."""
        if previous is None:
            return self
        for name, route in self.deployments.items():
            old = previous.deployments.get(name)
            if old is None:
                continue
            kept = {(t.id, t.url, t.debugging): t for t in old.targets}
            route.targets = [kept.get((t.id, t.url, t.debugging), t) for t in route.targets]
        staying = {id(t) for route in self.deployments.values() for t in route.targets}
        for route in previous.deployments.values():
            for target in route.targets:
                if id(target) not in staying:
                    target.close()
        return self

    def close(self) -> None:
        for route in self.deployments.values():
            for target in route.targets:
                target.close()
