"""The mirror: copies of a share of live requests sent to the mirror deployment, their answers
compared with the live ones and then dropped (clients never see them).

On Azure the shadow deployment receives its share all the time, on machines of its own. Here it
shares the developer's CPU, so copies are sent as they come, through a bounded queue (by count
and by bytes) and at most MAX_IN_FLIGHT copies at once per mirror deployment (its instances'
concurrency, as the router's 429 threshold counts it): a copy is dropped only when the mirror
deployment cannot keep up, and every drop is counted with its reason. Live requests never wait
for a copy; they may get slower because the copies share the CPU (bench_router.py measures how
much).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from workbench.contract import MirrorBodies, MirrorRecord, MirrorSummary
from workbench.router.front import Reply, Request
from workbench.router.table import DeploymentRoute, Target
from workbench.router.upstream import Answer, UpstreamError

MIRROR_RECORDS = 1000
QUEUE_COPIES = 1000
QUEUE_BYTES = 64 * 1024 * 1024
SHOWN_BODY = 4096
"""Bytes of each answer kept for the most recent records, to be shown side by side."""
SHOWN_RECORDS = 20
MAX_IN_FLIGHT = 8
"""Copies in flight per mirror deployment at most, whatever its capacity."""


@dataclass
class _Copy:
    request: Request
    request_id: str
    live_deployment: str
    live_status: int
    live_ms: float
    live_digest: str
    mirror_deployment: str
    live_body: bytes
    """Its first SHOWN_BODY bytes, kept to show beside the mirror's."""


Send = Callable[[Request, str, DeploymentRoute, Target], Awaitable[Answer]]
"""Sends a request (with its request id) to one instance of a deployment; its answer."""
RouteOf = Callable[[str], DeploymentRoute | None]
Record = Callable[[str, int | None], None]


class Mirror:
    def __init__(self, send: Send, route_of: RouteOf, record: Record, clock: Callable[[], float]) -> None:
        self._send = send
        self._route_of = route_of
        self._record = record
        self._clock = clock
        self.records: deque[MirrorRecord] = deque(maxlen=MIRROR_RECORDS)
        self.bodies: OrderedDict[str, MirrorBodies] = OrderedDict()
        """The two answers of the SHOWN_RECORDS most recent records, by request id."""
        self.sent = 0
        self.dropped: Counter[str] = Counter()
        self.differed: Counter[str] = Counter()
        """Per mirror target, since the router started: copies whose answer differed from the
        live one (a rollout's mirror stage judges a window of it)."""
        self._queue: deque[_Copy] = deque()
        self._queued_bytes = 0
        self._in_flight: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()

    def offer(
        self, request: Request, *, request_id: str, live: str, reply: Reply, live_ms: float, to: str
    ) -> None:
        """A copy of an answered live request for deployment `to`, if there is room for it."""
        size = len(request.body)
        if len(self._queue) >= QUEUE_COPIES or self._queued_bytes + size > QUEUE_BYTES:
            self.dropped["queue full: the mirror deployment does not keep up"] += 1
            return
        digest = _digest(reply.body)
        kept = reply.body[:SHOWN_BODY]
        self._queue.append(_Copy(request, request_id, live, reply.status, live_ms, digest, to, kept))
        self._queued_bytes += size
        self._pump()

    def _pump(self) -> None:
        """Start as many queued copies as their deployments take."""
        waiting: deque[_Copy] = deque()
        while self._queue:
            copy = self._queue.popleft()
            route = self._route_of(copy.mirror_deployment)
            if route is None or not route.targets:
                self._queued_bytes -= len(copy.request.body)
                self.dropped["no ready instance in the mirror deployment"] += 1
                continue
            limit = min(MAX_IN_FLIGHT, route.max_concurrent_requests_per_instance * len(route.targets))
            if self._in_flight[copy.mirror_deployment] >= limit:
                waiting.append(copy)
                continue
            self._queued_bytes -= len(copy.request.body)
            self._in_flight[copy.mirror_deployment] += 1
            task = asyncio.get_running_loop().create_task(self._mirror(copy, route))
            self._tasks.add(task)
            task.add_done_callback(self._done)
        self._queue = waiting

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._queue:
            self._pump()

    async def _mirror(self, copy: _Copy, route: DeploymentRoute) -> None:
        status: int | None = None
        body: bytes | None = None
        start = self._clock()
        try:
            target = route.least_busy()
            if target is not None:
                answer = await self._send(copy.request, copy.request_id, route, target)
                status, body = answer.status, answer.body
        except (UpstreamError, asyncio.TimeoutError, OSError):
            status = None
        finally:
            self._in_flight[copy.mirror_deployment] -= 1
        self.sent += 1
        self._record(route.name, status)
        record = MirrorRecord(
            copy.request_id,
            copy.live_deployment,
            copy.live_status,
            copy.live_ms,
            copy.live_digest,
            route.name,
            status,
            (self._clock() - start) * 1000 if status is not None else None,
            _digest(body) if body is not None else None,
        )
        self.records.append(record)
        if record.verdict == "differs":
            self.differed[route.name] += 1
        self.bodies[copy.request_id] = MirrorBodies(
            copy.request_id, _shown(copy.live_body), None if body is None else _shown(body[:SHOWN_BODY])
        )
        while len(self.bodies) > SHOWN_RECORDS:
            self.bodies.popitem(last=False)

    def comparison(self) -> MirrorSummary:
        records = list(self.records)
        compared = [r for r in records if r.mirror_status is not None]
        differing = [r for r in compared if r.verdict == "differs"]
        return MirrorSummary(
            records=len(records),
            sent=self.sent,
            queued=len(self._queue),
            in_flight=sum(self._in_flight.values()),
            dropped=sum(self.dropped.values()),
            dropped_why=dict(self.dropped),
            differing=len(differing),
            differing_share=round(len(differing) / len(compared), 4) if compared else None,
            recent=records[-20:],
            differed=dict(self.differed),
        )

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._queue.clear()


def _shown(body: bytes) -> str:
    text = body.decode(errors="replace")
    return text + ("\n… (cut)" if len(body) >= SHOWN_BODY else "")


def _digest(body: bytes | None) -> str:
    return hashlib.sha256(body or b"").hexdigest()[:16]
