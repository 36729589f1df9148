"""One endpoint's router: its socket on 127.0.0.1, its credentials, its route table, its figures.

The engine owns it, keeps its port across restarts, and pushes a new route table whenever
instances, traffic or auth change; nothing here talks to a runtime.
"""

from __future__ import annotations

import asyncio
import bisect
import random
import socket
import statistics
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from workbench.contract import DeploymentMetrics, MirrorBodies, MirrorSummary, Network, Timeline
from workbench.router.accesslog import AccessLog
from workbench.router.credentials import EndpointKeys, TokenSigner
from workbench.router.front import FrontServer, Limits
from workbench.router.listen import LOCAL, Listen
from workbench.router.pipeline import Call, Pipeline
from workbench.router.recorder import Recorder
from workbench.router.table import RouteTable, Target
from workbench.router.throttle import EndpointLimits, Throttle

MAX_BODY_BYTES = 1024**3
DRAIN_POLL_S = 0.01
LATENCY_WINDOW = 2000
TIMELINE_SECONDS = 300
HISTOGRAM_BOUNDS_MS = (0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
"""Upper bounds of the latency histogram's buckets; a last bucket takes everything slower."""


def percentile(ordered: list[float], share: float) -> float | None:
    """The value at `share` (0..1) of an ascending list, rounded to the microsecond; None if empty."""
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 3) if ordered else None


class PerSecond:
    """Requests, p50 and p99 per second over the last TIMELINE_SECONDS, and mirrored copies, for
    the dashboard's sparklines. A second is summarised when the next one starts, so recording
    stays O(1)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._second = int(clock())
        self._latencies: list[float] = []
        self._mirrored = 0
        self.seconds: deque[tuple[int, int, float | None, float | None, int]] = deque(maxlen=TIMELINE_SECONDS)

    def add(self, latency_ms: float) -> None:
        self._roll(int(self._clock()))
        self._latencies.append(latency_ms)

    def add_mirrored(self) -> None:
        self._roll(int(self._clock()))
        self._mirrored += 1

    def _roll(self, now: int) -> None:
        if now == self._second:
            return
        ordered = sorted(self._latencies)
        self.seconds.append(
            (self._second, len(ordered), percentile(ordered, 0.5), percentile(ordered, 0.99), self._mirrored)
        )
        for quiet in range(self._second + 1, min(now, self._second + TIMELINE_SECONDS + 1)):
            self.seconds.append((quiet, 0, None, None, 0))
        self._second, self._latencies, self._mirrored = now, [], 0

    def summary(self) -> Timeline:
        """Complete seconds only, oldest first, up to the one before now."""
        self._roll(int(self._clock()))
        return Timeline(
            [s[0] for s in self.seconds],
            [s[1] for s in self.seconds],
            [s[2] for s in self.seconds],
            [s[3] for s in self.seconds],
            [s[4] for s in self.seconds],
        )


@dataclass
class DeploymentFigures:
    """Since the engine started: requests, statuses, a latency histogram; p50, p99 and mean over
    the last LATENCY_WINDOW requests; per-second figures over the last TIMELINE_SECONDS."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    histogram: list[int] = field(default_factory=lambda: [0] * (len(HISTOGRAM_BOUNDS_MS) + 1))
    timeline: PerSecond = field(default_factory=PerSecond)
    mirrored: int = 0
    mirror_statuses: Counter[int] = field(default_factory=Counter)
    latency_sum_ms: float = 0.0
    by_instance: Counter[str] = field(default_factory=Counter)
    """Requests each instance answered (not those answered before one was chosen: 429, 404)."""

    def add(self, status: int, latency_ms: float, instance: str | None = None) -> None:
        self.requests += 1
        if instance is not None:
            self.by_instance[instance] += 1
        self.latency_sum_ms += latency_ms
        self.statuses[status] += 1
        self.latencies_ms.append(latency_ms)
        self.histogram[bisect.bisect_left(HISTOGRAM_BOUNDS_MS, latency_ms)] += 1
        self.timeline.add(latency_ms)

    def summary(self) -> DeploymentMetrics:
        ordered = sorted(self.latencies_ms)
        return DeploymentMetrics(
            requests=self.requests,
            statuses={str(k): v for k, v in sorted(self.statuses.items())},
            p50_ms=percentile(ordered, 0.5),
            p99_ms=percentile(ordered, 0.99),
            mean_ms=round(statistics.fmean(ordered), 3) if ordered else None,
            histogram_le_ms=[*HISTOGRAM_BOUNDS_MS, "+Inf"],
            histogram_counts=list(self.histogram),
            mirrored=self.mirrored,
            mirror_statuses={str(k): v for k, v in sorted(self.mirror_statuses.items())},
            timeline=self.timeline.summary(),
            by_instance=dict(sorted(self.by_instance.items())),
        )


class EndpointRouter:
    def __init__(
        self,
        name: str,
        keys: EndpointKeys,
        signer: TokenSigner,
        access_log: Path,
        *,
        rng: random.Random | None = None,
        listen: Listen = LOCAL,
    ) -> None:
        self.name = name
        self.listen = listen
        self.keys = keys
        self.signer = signer
        self.table = RouteTable("key", {}, {}, {})
        self.figures: dict[str, DeploymentFigures] = {}
        self.pipeline = Pipeline(self, rng)
        self._access_log = AccessLog(access_log)
        self._front = FrontServer(
            self.pipeline.handle, Limits(max_body=MAX_BODY_BYTES), admit=self.pipeline.admit
        )
        self.port = 0
        self.on_model_error: Callable[[str, str], None] | None = None
        """Told of each 424 (the user's run() failed): the deployment and the instance's id."""
        self.throttle: Throttle | None = None
        """Azure's endpoint-wide limits, where the endpoint emulates them."""
        self.recorder: Recorder | None = None
        """Answered requests written for a replay, while `workbench record` runs."""
        self._retired: list[Target] = []
        """Targets that left the route table with requests still in flight."""

    @property
    def scoring_uri(self) -> str:
        return self.listen.uri(self.port)

    def bind(self, port: int) -> socket.socket:
        """A listening socket on the listen address (127.0.0.1 unless asked), `port` (0 for any
        free port); served once `serve` is called, its connections queued until then."""
        sock = socket.socket(self.listen.family(), socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.listen.address, port))
        sock.listen(4096)
        return sock

    async def serve(self, sock: socket.socket) -> None:
        """Accept and answer on `sock`: one this router bound, or one held across an engine's
        restart (engine/keeper.py), whose queued connections are then answered."""
        self.port = sock.getsockname()[1]
        await self._front.start(sock, self.listen.context())

    async def start(self, port: int) -> None:
        await self.serve(self.bind(port))

    async def stop(self, drain_s: float = 0.0) -> None:
        """Stop: at once, or (`drain_s`) no new connection accepted (they wait in the socket for
        whoever holds it next), the requests received answered, then every connection closed."""
        if drain_s:
            await self._front.drain(drain_s)
        if self.recorder is not None:
            self.recorder.close()
        await self.pipeline.close()
        await self._front.close()
        self.table.close()
        self._access_log.close()

    def limit(self, limits: EndpointLimits | None) -> None:
        """Emulate `limits` from now on (None: none), keeping what was counted if they stay."""
        if limits is None:
            self.throttle = None
        elif self.throttle is None or self.throttle.limits != limits:
            self.throttle = Throttle(limits)

    def update(self, table: RouteTable) -> None:
        previous = self.table
        self.table = table.merged_with(previous)
        staying = {id(t) for route in self.table.deployments.values() for t in route.targets}
        self._retired = [
            t
            for route in previous.deployments.values()
            for t in route.targets
            if id(t) not in staying and t.in_flight
        ] + [t for t in self._retired if t.in_flight and id(t) not in staying]

    async def until_idle(self, urls: Sequence[str], timeout_s: float) -> None:
        """Returns once no request is in flight to `urls` (instances that have left the route
        table and finish what they were sent), or after `timeout_s`."""
        wanted = set(urls)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            targets = [t for route in self.table.deployments.values() for t in route.targets]
            if not any(t.in_flight for t in targets + self._retired if t.url in wanted):
                return
            await asyncio.sleep(DRAIN_POLL_S)

    def accepts(self, credential: str) -> bool:
        if self.table.auth_mode == "key":
            return self.keys.accepts(credential)
        return self.signer.accepts(self.name, credential)

    def record(self, call: Call, latency_ms: float) -> None:
        assert call.response is not None
        deployment = call.route.deployment if call.route else None
        if self.recorder is not None and call.model_status is not None:
            self.recorder.write(call.request, call.response, deployment)
        if deployment is not None:
            figures = self.figures.get(deployment)
            if figures is None:  # not setdefault: it would build a DeploymentFigures every call
                figures = self.figures[deployment] = DeploymentFigures()
            figures.add(call.response.status, latency_ms, call.target)
            if call.response.status == 424 and call.target is not None and self.on_model_error is not None:
                self.on_model_error(deployment, call.target)
        self._access_log.write(
            {
                "request_id": call.request_id,
                "client_request_id": call.client_request_id,
                "method": call.request.method,
                "path": call.request.path,
                "deployment": deployment,
                "pinned": bool(call.route and call.route.pinned),
                "mirrored_to": call.mirror,
                "status": call.response.status,
                "model_status": call.model_status,
                "latency_ms": round(latency_ms, 3),
                "bytes_in": len(call.request.body),
                "bytes_out": len(call.response.body),
                "auth_mode": self.table.auth_mode,
            }
        )

    def record_mirror(self, deployment: str, status: int | None) -> None:
        figures = self.figures.get(deployment)
        if figures is None:
            figures = self.figures[deployment] = DeploymentFigures()
        figures.mirrored += 1
        figures.mirror_statuses[status or 0] += 1
        figures.timeline.add_mirrored()

    def network(self) -> Network:
        front = self._front
        return Network(len(front.connections), front.accepted, front.bytes_in, front.bytes_out)

    def mirror_bodies(self, request_id: str) -> MirrorBodies | None:
        return self.pipeline.mirror.bodies.get(request_id)

    def mirror_comparison(self) -> MirrorSummary:
        return self.pipeline.mirror.comparison()
