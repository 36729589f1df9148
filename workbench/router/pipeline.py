"""The endpoint's request pipeline: one ordered list of steps, in the order the cloud applies them.

    PIPELINE = (assign_request_id, access_log, authenticate, choose_deployment, plan_mirror, forward)

Each step reads and fills a `Call`; a step that answers (401, 404, 408, 424, 429, ...) ends the
pipeline. Mirror copies never delay or alter what clients get: on Azure the shadow deployment
runs on machines of its own, here it shares the developer's CPU, so copies wait in a bounded
queue and are sent one at a time once the endpoint has been quiet (no live request) for
MIRROR_QUIET_S, for as long as it stays quiet; when the queue is full the oldest copy is
dropped and counted.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from workbench.router import traffic
from workbench.router.front import Reply, Request
from workbench.router.table import DeploymentRoute, Target
from workbench.router.upstream import Answer, Refused, UpstreamError

if TYPE_CHECKING:
    from workbench.router.endpoint import EndpointRouter

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "authorization",
    "expect",
}
CLIENT_ID = re.compile(r"[^A-Za-z0-9_-]")
NOT_FORWARDED = HOP_BY_HOP | {"x-request-id", "x-ms-client-request-id"}
"""Replaced by the router (request ids) or never passed on (hop-by-hop, Authorization)."""
NOT_RETURNED = HOP_BY_HOP | {"x-request-id", "x-ms-client-request-id", "azureml-model-deployment"}
"""Headers of an instance's answer that the router sets itself, once."""
UPSTREAM_TIMEOUT = "upstream request timeout"
DEBUGGING_TIMEOUT_S = 24 * 3600.0
"""For an instance under the debugger: a breakpoint must never turn into a 408."""
UPSTREAM_RESET = (
    "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
)
MIRROR_RECORDS = 1000
MIRROR_QUEUE = 1000
MIRROR_QUIET_S = 0.02


@dataclass(slots=True)
class Call:
    request: Request
    started: float = field(default_factory=time.perf_counter)
    request_id: str = ""
    client_request_id: str = ""
    route: traffic.Route | None = None
    mirror: str | None = None
    response: Reply | None = None
    model_status: int | None = None
    target: str | None = None
    on_finish: list[Callable[[Call, float], None]] = field(default_factory=list)


@dataclass
class MirrorRecord:
    request_id: str
    live_deployment: str
    live_status: int
    live_ms: float
    live_digest: str
    mirror_deployment: str
    mirror_status: int | None
    mirror_ms: float | None
    mirror_digest: str | None


Step = Callable[["Pipeline", Call], Awaitable[Reply | None]]


class Pipeline:
    def __init__(self, router: EndpointRouter, rng: random.Random | None = None) -> None:
        self.router = router
        self.rng = rng or random.Random()
        self.mirror_records: deque[MirrorRecord] = deque(maxlen=MIRROR_RECORDS)
        self.mirror_dropped = 0
        self._mirror_queue: deque[tuple[Call, float]] = deque()
        self._mirror_worker: asyncio.Task[None] | None = None
        self._live = 0
        self._started = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._queued = asyncio.Event()

    async def handle(self, request: Request) -> Reply:
        self._live += 1
        self._started += 1
        self._idle.clear()
        try:
            return await self._handle(request)
        finally:
            self._live -= 1
            if self._live == 0:
                self._idle.set()

    async def _handle(self, request: Request) -> Reply:
        call = Call(request)
        try:
            for step in PIPELINE:
                answer = await step(self, call)
                if answer is not None:
                    call.response = answer
                    break
        finally:
            if call.response is None:
                call.response = Reply.text(500, "router failure")
            self._finish(call)
        return call.response

    def _finish(self, call: Call) -> None:
        response = call.response
        assert response is not None
        response.headers.append(("x-request-id", call.request_id))
        if call.client_request_id:
            response.headers.append(("x-ms-client-request-id", call.client_request_id))
        if call.route is not None:
            response.headers.append(("azureml-model-deployment", call.route.deployment))
        latency = (time.perf_counter() - call.started) * 1000
        for finished in call.on_finish:
            finished(call, latency)
        if call.mirror is not None and call.route is not None:
            self._start_mirror(call, latency)

    # -- mirroring ---------------------------------------------------------------------------

    def _start_mirror(self, call: Call, live_ms: float) -> None:
        if len(self._mirror_queue) >= MIRROR_QUEUE:
            self._mirror_queue.popleft()
            self.mirror_dropped += 1
        self._mirror_queue.append((call, live_ms))
        self._queued.set()
        if self._mirror_worker is None:
            self._mirror_worker = asyncio.get_running_loop().create_task(self._send_mirrors())

    async def _send_mirrors(self) -> None:
        """Sends queued copies one at a time while the endpoint is quiet."""
        while True:
            await self._queued.wait()
            while self._mirror_queue:
                await self._quiet()
                seen = self._started
                while self._mirror_queue and self._live == 0 and self._started == seen:
                    call, live_ms = self._mirror_queue.popleft()
                    route = self.router.table.deployments.get(call.mirror or "")
                    if route is None or not route.targets or route.in_flight >= route.capacity:
                        self.mirror_dropped += 1
                        continue
                    await self._mirror(call, route, live_ms)
            self._queued.clear()

    async def _quiet(self) -> None:
        """Returns once no live request has started or run for MIRROR_QUIET_S."""
        while True:
            await self._idle.wait()
            seen = self._started
            await asyncio.sleep(MIRROR_QUIET_S)
            if self._live == 0 and self._started == seen:
                return

    async def _mirror(self, call: Call, route: DeploymentRoute, live_ms: float) -> None:
        assert call.response is not None
        assert call.route is not None
        status: int | None = None
        body: bytes | None = None
        start = time.perf_counter()
        target = route.least_busy()
        if target is not None:
            try:
                answer = await self._send(call, route, target)
                status, body = answer.status, answer.body
            except (UpstreamError, asyncio.TimeoutError, OSError):
                status = None
        self.router.record_mirror(route.name, status)
        self.mirror_records.append(
            MirrorRecord(
                call.request_id,
                call.route.deployment,
                call.response.status,
                live_ms,
                _digest(call.response.body),
                route.name,
                status,
                (time.perf_counter() - start) * 1000 if status is not None else None,
                _digest(body) if body is not None else None,
            )
        )

    async def close(self) -> None:
        if self._mirror_worker is not None:
            self._mirror_worker.cancel()

    # -- sending -----------------------------------------------------------------------------

    async def _send(self, call: Call, route: DeploymentRoute, target: Target) -> Answer:
        headers = [(k, v) for k, v in call.request.headers if k.lower() not in NOT_FORWARDED]
        headers.append(("x-request-id", call.request_id))
        if call.client_request_id:
            headers.append(("x-ms-client-request-id", call.client_request_id))
        timeout_s = DEBUGGING_TIMEOUT_S if target.debugging else route.request_timeout_s
        path = call.request.target
        if route.scoring_path is not None and call.request.path == "/score":
            path = route.scoring_path + (f"?{call.request.query_string}" if call.request.query_string else "")
        target.in_flight += 1
        try:
            return await target.upstream.request(
                call.request.method, path, headers, call.request.body, timeout_s
            )
        finally:
            target.in_flight -= 1


def _guid(bits: int) -> str:
    """A version 4 GUID from 128 random bits: uuid.UUID's layout in a third of its time."""
    digits = f"{bits:032x}"
    variant = "89ab"[int(digits[16], 16) & 3]
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{variant}{digits[17:20]}-{digits[20:]}"


def _digest(body: bytes | None) -> str:
    return hashlib.sha256(body or b"").hexdigest()[:16]


# -- the steps, in order ---------------------------------------------------------------------


async def assign_request_id(pipeline: Pipeline, call: Call) -> Reply | None:
    """x-request-id belongs to the service: always a new GUID. x-ms-client-request-id is the
    client's: alphanumerics, '-' and '_' only, at most 40 characters (reference 4.5)."""
    call.request_id = _guid(pipeline.rng.getrandbits(128))
    supplied = call.request.header("x-ms-client-request-id")
    if supplied:
        call.client_request_id = CLIENT_ID.sub("", supplied)[:40]
    return None


async def access_log(pipeline: Pipeline, call: Call) -> Reply | None:
    """From here on the call is logged (and counted) when it finishes, whatever answers it."""
    call.on_finish.append(pipeline.router.record)
    return None


async def authenticate(pipeline: Pipeline, call: Call) -> Reply | None:
    header = call.request.header("authorization")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() == "bearer" and credential and pipeline.router.accepts(credential.strip()):
        return None
    mode = pipeline.router.table.auth_mode
    code = "key_auth_access_denied" if mode == "key" else "token_auth_access_denied"
    return Reply.json(401, {"message": code})


async def choose_deployment(pipeline: Pipeline, call: Call) -> Reply | None:
    table = pipeline.router.table
    try:
        call.route = traffic.choose(
            table.traffic,
            table.deployments,
            call.request.header(traffic.DEPLOYMENT_HEADER),
            pipeline.rng,
        )
    except traffic.NoRoute as exc:
        return Reply.json(404, {"message": str(exc)})
    return None


async def plan_mirror(pipeline: Pipeline, call: Call) -> Reply | None:
    assert call.route is not None
    table = pipeline.router.table
    call.mirror = traffic.mirror_to(table.mirror_traffic, call.route, table.deployments, pipeline.rng)
    return None


async def forward(pipeline: Pipeline, call: Call) -> Reply | None:
    assert call.route is not None
    route = pipeline.router.table.deployments[call.route.deployment]
    if not route.targets:
        return Reply.json(
            503,
            {
                "message": f"Deployment '{route.name}' has no ready instance (provisioning state "
                f"{route.provisioning_state}); see `workbench status` and `workbench logs`."
            },
        )
    if route.in_flight >= route.capacity:
        return Reply.json(429, {"message": "Too many pending requests"})
    tried: set[str] = set()
    while True:
        target = route.least_busy(skip=tried)
        if target is None:
            return Reply.json(502, {"message": UPSTREAM_RESET})
        tried.add(target.id)
        call.target = target.id
        try:
            answer = await pipeline._send(call, route, target)
        except Refused:
            continue  # refused before any byte was sent: another instance may take it
        except asyncio.TimeoutError:
            return Reply.text(408, UPSTREAM_TIMEOUT)
        except (UpstreamError, OSError):
            return Reply.json(502, {"message": UPSTREAM_RESET})
        call.model_status = answer.status
        headers = [(k, v) for k, v in answer.headers if k.lower() not in NOT_RETURNED]
        if 200 <= answer.status < 300:
            return Reply(answer.status, answer.body, headers, answer.reason)
        headers.append(("ms-azureml-model-error-statuscode", str(answer.status)))
        headers.append(("ms-azureml-model-error-reason", answer.reason))
        return Reply(424, answer.body, headers)


PIPELINE: tuple[Step, ...] = (
    assign_request_id,
    access_log,
    authenticate,
    choose_deployment,
    plan_mirror,
    forward,
)
