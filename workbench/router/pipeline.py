"""The endpoint's request pipeline: one ordered list of steps, in the order the cloud applies them.

    PIPELINE = (assign_request_id, access_log, authenticate, throttle, choose_deployment,
                inject_faults, plan_mirror, forward)

Each step reads and fills a `Call`; a step that answers (401, 404, 408, 424, 429, ...) ends the
pipeline. Where the endpoint emulates Azure's limits (`throttle.py`), the answer waits for the
endpoint's bandwidth too. Mirror copies (`mirror.py`) never delay or alter what clients get: a copy of an
answered request is handed to the mirror, which sends it on its own.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from workbench.router import traffic
from workbench.router.front import Reply, Request
from workbench.router.mirror import Mirror
from workbench.router.table import DeploymentRoute, RouteTable, Target
from workbench.router.throttle import RATE_LIMITED, REQUEST_DELAY_HEADER, RESPONSE_DELAY_HEADER, Throttle
from workbench.router.upstream import Answer, Refused, UpstreamError
from workbench.spec.faults import INJECTED


class Endpoint(Protocol):
    """What the steps need of the endpoint they serve (EndpointRouter is one): its route table,
    its credentials check, its limits, and where finished calls are counted."""

    table: RouteTable
    throttle: Throttle | None

    def accepts(self, credential: str) -> bool: ...

    def record(self, call: Call, latency_ms: float) -> None: ...

    def record_mirror(self, deployment: str, status: int | None) -> None: ...


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
NOT_RETURNED = HOP_BY_HOP | {"x-request-id", "x-ms-client-request-id", "azureml-model-deployment", "server"}
"""Headers of an instance's answer that the router sets itself, once, or that are the instance's
own business (which server it runs)."""
UPSTREAM_TIMEOUT = "upstream request timeout"
DEBUGGING_TIMEOUT_S = 24 * 3600.0
"""For an instance under the debugger: a breakpoint must never turn into a 408."""
UPSTREAM_RESET = (
    "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
)


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
    throttle: Throttle | None = None
    request_delay_ms: int = 0
    delayed_s: float = 0.0
    """Latency injected on purpose before the instance sees the request: it counts toward the
    deployment's request timeout, as any time the request spends does."""


Step = Callable[["Pipeline", Call], Awaitable[Reply | None]]


class Pipeline:
    def __init__(self, router: Endpoint, rng: random.Random | None = None) -> None:
        self.router = router
        self.rng = rng or random.Random()
        self.mirror = Mirror(self.send, self._route_of, router.record_mirror, time.perf_counter)

    def _route_of(self, deployment: str) -> DeploymentRoute | None:
        return self.router.table.deployments.get(deployment)

    def admit(self, request: Request) -> bool:
        """Whether the request carries a key or token of the endpoint: asked at its head too, so a
        request without one is refused before its body is read. An endpoint without auth (Azure's
        local mode) admits every request."""
        if self.router.table.auth_mode == "none":
            return True
        scheme, _, credential = request.header("authorization").partition(" ")
        return scheme.lower() == "bearer" and bool(credential) and self.router.accepts(credential.strip())

    async def handle(self, request: Request) -> Reply:
        return await self._handle(request)

    async def _handle(self, request: Request) -> Reply:
        call = Call(request)
        try:
            for step in PIPELINE:
                answer = await step(self, call)
                if answer is not None:
                    call.response = answer
                    break
            if call.throttle is not None and call.response is not None:
                await _pace_response(call, call.throttle, call.response)
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
        if call.model_status is not None and call.route is not None:
            self._collect(call, response)
        for finished in call.on_finish:
            finished(call, latency)
        if call.mirror is not None and call.route is not None:
            self.mirror.offer(
                call.request,
                request_id=call.request_id,
                live=call.route.deployment,
                reply=response,
                live_ms=latency,
                to=call.mirror,
            )

    def _collect(self, call: Call, response: Reply) -> None:
        """The payloads of a request the model answered, to the deployment's data collector."""
        assert call.route is not None
        route = self._route_of(call.route.deployment)
        if route is None or route.collect_payloads is None:
            return
        request = call.request
        route.collect_payloads("request", request.body, request.header("content-type"), call.request_id)
        content_type = next((v for k, v in response.headers if k.lower() == "content-type"), "")
        route.collect_payloads("response", response.body, content_type, call.request_id)

    async def close(self) -> None:
        await self.mirror.close()

    # -- sending -----------------------------------------------------------------------------

    async def send(
        self,
        request: Request,
        request_id: str,
        route: DeploymentRoute,
        target: Target,
        client_id: str = "",
        *,
        spent_s: float = 0.0,
    ) -> Answer:
        headers = [(k, v) for k, v in request.headers if k.lower() not in NOT_FORWARDED]
        headers.append(("x-request-id", request_id))
        if client_id:
            headers.append(("x-ms-client-request-id", client_id))
        timeout_s = DEBUGGING_TIMEOUT_S if target.debugging else route.request_timeout_s - spent_s
        path = request.target
        if route.scoring_path is not None and request.path == "/score":
            path = route.scoring_path + (f"?{request.query_string}" if request.query_string else "")
        target.in_flight += 1
        try:
            return await target.upstream.request(request.method, path, headers, request.body, timeout_s)
        finally:
            target.in_flight -= 1


def _guid(bits: int) -> str:
    """A version 4 GUID from 128 random bits: uuid.UUID's layout in a third of its time."""
    digits = f"{bits:032x}"
    variant = "89ab"[int(digits[16], 16) & 3]
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{variant}{digits[17:20]}-{digits[20:]}"


# -- the steps, in order ---------------------------------------------------------------------


async def assign_request_id(pipeline: Pipeline, call: Call) -> Reply | None:
    """x-request-id belongs to the service: always a new GUID. x-ms-client-request-id is the
    client's: alphanumerics, '-' and '_' only, at most 40 characters (docs/azure.md, "Request tracing")."""
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
    if call.request.admitted or pipeline.admit(call.request):
        return None
    mode = pipeline.router.table.auth_mode
    code = "key_auth_access_denied" if mode == "key" else "token_auth_access_denied"
    return Reply.json(401, {"message": code})


async def throttle(pipeline: Pipeline, call: Call) -> Reply | None:
    """Azure's endpoint-wide limits, where the endpoint emulates them: 429 "Rate-limited" past
    the rate or the active requests, and a wait for the bandwidth (throttle.py)."""
    limiter = pipeline.router.throttle
    if limiter is None:
        return None
    if not limiter.admit():
        return Reply.json(429, {"message": RATE_LIMITED})
    limiter.active += 1
    call.throttle = limiter
    call.on_finish.append(_release)
    delay = limiter.delay_s(len(call.request.body))
    call.request_delay_ms = round(delay * 1000)
    if delay:
        await asyncio.sleep(delay)
    return None


def _release(call: Call, _latency_ms: float) -> None:
    assert call.throttle is not None
    call.throttle.active -= 1


async def _pace_response(call: Call, limiter: Throttle, response: Reply) -> None:
    delay = limiter.delay_s(len(response.body))
    if delay:
        await asyncio.sleep(delay)
    response.headers.append((REQUEST_DELAY_HEADER, str(call.request_delay_ms)))
    response.headers.append((RESPONSE_DELAY_HEADER, str(round(delay * 1000))))


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


async def inject_faults(pipeline: Pipeline, call: Call) -> Reply | None:
    """The faults a deployment was given on purpose (faults.py), before its instances see it."""
    assert call.route is not None
    route = pipeline.router.table.deployments.get(call.route.deployment)
    faults = route.faults if route else None
    if faults is None:
        return None
    if faults.latency_ms:
        timeout_s = route.request_timeout_s if route is not None else 0.0
        if timeout_s and faults.latency_ms / 1000 >= timeout_s:  # the request times out first
            await asyncio.sleep(timeout_s)
            return Reply.text(408, UPSTREAM_TIMEOUT)
        await asyncio.sleep(faults.latency_ms / 1000)
        call.delayed_s = faults.latency_ms / 1000
    outcome = faults.outcome(pipeline.rng)
    if outcome == "drop":
        return Reply.json(502, {"message": UPSTREAM_RESET})
    if outcome == "error":
        return Reply.json(faults.error_status, {"message": INJECTED})
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
            answer = await pipeline.send(
                call.request, call.request_id, route, target, call.client_request_id, spent_s=call.delayed_s
            )
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
    throttle,
    choose_deployment,
    inject_faults,
    plan_mirror,
    forward,
)
