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
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web
from multidict import CIMultiDict

from workbench.router import traffic
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
}
CLIENT_ID = re.compile(r"[^A-Za-z0-9_-]")
NOT_FORWARDED = HOP_BY_HOP | {"x-request-id", "x-ms-client-request-id"}
"""Replaced by the router (request ids) or never passed on (hop-by-hop, Authorization)."""
UPSTREAM_TIMEOUT = "upstream request timeout"
DEBUGGING_TIMEOUT_S = 24 * 3600.0
"""For an instance under the debugger: a breakpoint must never turn into a 408."""
UPSTREAM_RESET = (
    "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
)
MIRROR_RECORDS = 1000
MIRROR_QUEUE = 1000
MIRROR_QUIET_S = 0.02


@dataclass
class Call:
    request: web.Request
    body: bytes
    started: float = field(default_factory=time.perf_counter)
    request_id: str = ""
    client_request_id: str = ""
    route: traffic.Route | None = None
    mirror: str | None = None
    response: web.Response | None = None
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


Step = Callable[["Pipeline", Call], Awaitable[web.Response | None]]


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

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self._live += 1
        self._started += 1
        self._idle.clear()
        try:
            return await self._handle(request)
        finally:
            self._live -= 1
            if self._live == 0:
                self._idle.set()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        call = Call(request, await request.read())
        try:
            for step in PIPELINE:
                answer = await step(self, call)
                if answer is not None:
                    call.response = answer
                    break
        finally:
            if call.response is None:
                call.response = web.Response(status=500, text="router failure")
            self._finish(call)
        return call.response

    def _finish(self, call: Call) -> None:
        response = call.response
        assert response is not None
        response.headers["x-request-id"] = call.request_id
        if call.client_request_id:
            response.headers["x-ms-client-request-id"] = call.client_request_id
        if call.route is not None:
            response.headers["azureml-model-deployment"] = call.route.deployment
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
        live_body = call.response.body if isinstance(call.response.body, bytes) else b""
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
                _digest(live_body),
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
        headers = [(k, v) for k, v in call.request.headers.items() if k.lower() not in NOT_FORWARDED]
        headers.append(("x-request-id", call.request_id))
        if call.client_request_id:
            headers.append(("x-ms-client-request-id", call.client_request_id))
        timeout_s = DEBUGGING_TIMEOUT_S if target.debugging else route.request_timeout_s
        path = call.request.path_qs
        if route.scoring_path is not None and call.request.path == "/score":
            path = route.scoring_path + (f"?{call.request.query_string}" if call.request.query_string else "")
        target.in_flight += 1
        try:
            return await target.upstream.request(call.request.method, path, headers, call.body, timeout_s)
        finally:
            target.in_flight -= 1


def _digest(body: bytes | None) -> str:
    return hashlib.sha256(body or b"").hexdigest()[:16]


# -- the steps, in order ---------------------------------------------------------------------


async def assign_request_id(pipeline: Pipeline, call: Call) -> web.Response | None:
    """x-request-id belongs to the service: always a new GUID. x-ms-client-request-id is the
    client's: alphanumerics, '-' and '_' only, at most 40 characters (reference 4.5)."""
    call.request_id = str(uuid.UUID(int=pipeline.rng.getrandbits(128), version=4))
    supplied = call.request.headers.get("x-ms-client-request-id", "")
    call.client_request_id = CLIENT_ID.sub("", supplied)[:40]
    return None


async def access_log(pipeline: Pipeline, call: Call) -> web.Response | None:
    """From here on the call is logged (and counted) when it finishes, whatever answers it."""
    call.on_finish.append(pipeline.router.record)
    return None


async def authenticate(pipeline: Pipeline, call: Call) -> web.Response | None:
    header = call.request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() == "bearer" and credential and pipeline.router.accepts(credential.strip()):
        return None
    mode = pipeline.router.table.auth_mode
    code = "key_auth_access_denied" if mode == "key" else "token_auth_access_denied"
    return web.json_response({"message": code}, status=401)


async def choose_deployment(pipeline: Pipeline, call: Call) -> web.Response | None:
    table = pipeline.router.table
    try:
        call.route = traffic.choose(
            table.traffic,
            set(table.deployments),
            call.request.headers.get(traffic.DEPLOYMENT_HEADER),
            pipeline.rng,
        )
    except traffic.NoRoute as exc:
        return web.json_response({"message": str(exc)}, status=404)
    return None


async def plan_mirror(pipeline: Pipeline, call: Call) -> web.Response | None:
    assert call.route is not None
    table = pipeline.router.table
    call.mirror = traffic.mirror_to(table.mirror_traffic, call.route, set(table.deployments), pipeline.rng)
    return None


async def forward(pipeline: Pipeline, call: Call) -> web.Response | None:
    assert call.route is not None
    route = pipeline.router.table.deployments[call.route.deployment]
    if not route.targets:
        return web.json_response(
            {
                "message": f"Deployment '{route.name}' has no ready instance (provisioning state "
                f"{route.provisioning_state}); see `workbench status` and `workbench logs`."
            },
            status=503,
        )
    if route.in_flight >= route.capacity:
        return web.json_response({"message": "Too many pending requests"}, status=429)
    tried: set[str] = set()
    while True:
        target = route.least_busy(skip=tried)
        if target is None:
            return web.json_response({"message": UPSTREAM_RESET}, status=502)
        tried.add(target.id)
        call.target = target.id
        try:
            answer = await pipeline._send(call, route, target)
        except Refused:
            continue  # refused before any byte was sent: another instance may take it
        except asyncio.TimeoutError:
            return web.Response(status=408, text=UPSTREAM_TIMEOUT)
        except (UpstreamError, OSError):
            return web.json_response({"message": UPSTREAM_RESET}, status=502)
        call.model_status = answer.status
        headers = CIMultiDict((k, v) for k, v in answer.headers if k.lower() not in HOP_BY_HOP)
        if 200 <= answer.status < 300:
            return web.Response(status=answer.status, body=answer.body, headers=headers)
        headers["ms-azureml-model-error-statuscode"] = str(answer.status)
        headers["ms-azureml-model-error-reason"] = answer.reason
        return web.Response(status=424, body=answer.body, headers=headers)


PIPELINE: tuple[Step, ...] = (
    assign_request_id,
    access_log,
    authenticate,
    choose_deployment,
    plan_mirror,
    forward,
)
