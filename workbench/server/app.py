"""The HTTP surface: `/`, `/score`, `/swagger.json` as azmlinfsrv answers them, plus admin routes.

Every request goes through `dispatch`, which reads top to bottom in the order azmlinfsrv applies
its steps: route and method, request ids (431), the handler, response headers, the summary log
line. run() executes on a single worker thread, like a gunicorn sync worker, so the event loop
keeps answering probes while the user's code runs.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import random
import re
import signal
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from workbench.server import admin, debug, loops
from workbench.server.admin import ReloadAnswer, ReloadSignalled
from workbench.server.cors import cors_headers
from workbench.server.logs import RequestLog
from workbench.server.pressure import Pressure, PressureError
from workbench.server.reload import Reloader
from workbench.server.runner import RunThread
from workbench.server.scoring import Scoring
from workbench.server.script import (
    INTERNAL_ERROR,
    BadInput,
    Incoming,
    UnsupportedMethod,
    UserCodeFailed,
    UserScript,
)
from workbench.server.settings import Settings
from workbench.server.swagger import SwaggerNotFound

logger = logging.getLogger("azmlinfsrv")

HEADER_LIMIT = 100
ADMIN_PREFIX = "/-/"
NOT_FOUND = (
    "The requested URL was not found on the server. If you entered the URL manually please check "
    "your spelling and try again."
)
NOT_ALLOWED = "The method is not allowed for the requested URL."
SCRIPT_FAILED = "An unexpected error occurred in scoring script. Check the logs for more info."


@dataclass
class RequestIds:
    request_id: str = ""
    legacy_id: str = ""
    client_id: str = ""
    error: str | None = None


@dataclass
class Reply:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    run_ms: float | None = None
    bare: bool = False
    """Sent as gunicorn sends its own errors under azmlinfsrv: no request ids, no x-ms headers."""


GUNICORN_ERROR = (
    b"<html>\n  <head>\n    <title>Internal Server Error</title>\n  </head>\n  <body>\n"
    b"    <h1><p>Internal Server Error</p></h1>\n    \n  </body>\n</html>\n"
)
"""gunicorn's own 500, byte for byte: what azmlinfsrv answers when run() escapes Flask (a
SystemExit) or its worker times out."""


def gunicorn_error() -> Reply:
    return Reply(500, GUNICORN_ERROR, [("Content-Type", "text/html")], bare=True)


class ScoringApp:
    def __init__(
        self,
        settings: Settings,
        scoring: Scoring,
        worker_count: int = 1,
        custom_logging: bool = False,
        on_worker_timeout: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.on_worker_timeout = on_worker_timeout
        self.replacing = False
        """Replaces this worker, its stuck run() with it (after the 500 is written)."""
        self.worker_timeout_s = (
            0.0 if settings.debug_port or settings.azureml_debug_port else settings.worker_timeout_s
        )
        """Off under a debugger: a breakpoint in run() is not a stuck worker."""
        self.scoring = scoring
        self.custom_logging = custom_logging
        self.runner: RunThread | None = None
        self.request_log: RequestLog | None = None
        self.reloader = Reloader(settings)
        self.pressure = Pressure()
        self.worker_count = worker_count
        self.in_flight = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.request_seen = asyncio.Event()
        self.routes: dict[
            str, tuple[frozenset[str], Callable[[web.Request, RequestIds], Awaitable[Reply]]]
        ] = {
            "/": (frozenset({"GET", "HEAD", "OPTIONS"}), self.health),
            "/score": (frozenset({"GET", "POST", "OPTIONS", "HEAD"}), self.score),
            "/swagger.json": (frozenset({"GET", "HEAD", "OPTIONS"}), self.swagger),
        }

    def build(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_body_bytes)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        app.on_startup.append(self._startup)
        app.on_shutdown.append(self._shutdown)
        return app

    async def _startup(self, _: web.Application) -> None:
        loop = asyncio.get_running_loop()
        self.runner = RunThread(loop)
        self.request_log = RequestLog(loop, self.custom_logging)

    async def _shutdown(self, _: web.Application) -> None:
        self.pressure.stop()
        if self.runner is not None:
            self.runner.stop()

    # -- the pipeline ------------------------------------------------------------------------

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        start = time.perf_counter()
        self.request_seen.set()
        if request.path.startswith(ADMIN_PREFIX) and self.settings.admin_token:
            return await self.admin(request)
        path = request.path
        route = self.routes.get(path) or self.routes.get(_merged_slashes(path))
        if route is None:
            return _response(_error(404, NOT_FOUND))
        methods, handler = route
        if request.method not in methods:
            return _response(_error(405, NOT_ALLOWED))
        ids = request_ids(request)
        reply = _error(431, ids.error) if ids.error else await handler(request, ids)
        if not reply.bare:
            reply.headers.extend(self._id_headers(request, ids))
            reply.headers.extend(cors_headers(self.settings.cors_origins, request.method, request.headers))
        if reply.run_ms is not None:
            reply.headers.append(("x-ms-run-fn-exec-ms", f"{reply.run_ms:.3f}"))
        if request.path != "/":
            path = request.path + (f"?{request.query_string}" if request.query_string else "")
            elapsed = (time.perf_counter() - start) * 1000
            assert self.request_log is not None
            self.request_log.write(
                f"{request.method} {path} {reply.status} {elapsed:.3f}ms {len(reply.body)}"
            )
        response = _response(reply)
        if self.replacing:
            response.force_close()  # this worker is about to be replaced: no connection outlives it
        return response

    def _id_headers(self, request: web.Request, ids: RequestIds) -> list[tuple[str, str]]:
        headers = [("x-ms-server-version", self.settings.server_version)]
        if ids.request_id:
            headers.append(("x-request-id", ids.request_id))
        if ids.legacy_id:
            headers.append(("x-ms-request-id", ids.legacy_id))
        if ids.client_id:
            headers.append(("x-ms-client-request-id", ids.client_id))
        if "TraceId" in request.headers:
            headers.append(("TraceId", request.headers["TraceId"]))
        return headers

    # -- routes ------------------------------------------------------------------------------

    async def health(self, request: web.Request, ids: RequestIds) -> Reply:
        if request.method == "OPTIONS":
            return _options()
        return Reply(200, b"Healthy", [("Content-Type", "text/html; charset=utf-8")])

    async def swagger(self, request: web.Request, ids: RequestIds) -> Reply:
        if request.method == "OPTIONS":
            return _options()
        try:
            document = self.scoring.swagger.get(request.query.get("version", "2"))
        except SwaggerNotFound as exc:
            return _error(404, str(exc))
        return _json_reply(200, document)

    async def score(self, request: web.Request, ids: RequestIds) -> Reply:
        scoring = self.scoring
        if request.method == "OPTIONS" and scoring.script.mode != "raw":
            return Reply(
                200,
                b"",
                [("Content-Type", "text/html; charset=utf-8"), ("x-ms-run-function-failed", "False")],
            )
        self._started()
        try:
            body = await request.read()
        except BaseException:
            self._finished(None)
            raise
        incoming = Incoming(
            method=request.method,
            path=request.path,
            query=request.query_string,
            headers=list(request.headers.items()),
            body=body,
            host=request.host,
        )
        assert self.runner is not None
        timeout = self.settings.scoring_timeout_ms
        stuck_after = self.worker_timeout_s
        future = self.runner.submit(invoke, scoring.script, incoming)
        future.add_done_callback(self._finished)
        if await _within(future, min(timeout / 1000, stuck_after or float("inf"))):
            reply: Reply = future.result()
            return reply
        if stuck_after and stuck_after < timeout / 1000:
            # gunicorn's worker timeout, as azmlinfsrv runs it: the worker is replaced (init() again)
            logger.critical(f"WORKER TIMEOUT (pid:{os.getpid()}): run() took over {stuck_after:g} s")
            self.replacing = True
            self.on_worker_timeout()
            return gunicorn_error()
        logger.error(f"Encountered Exception: scoring timeout after {timeout} ms; run() interrupted")
        future.remove_done_callback(self._finished)  # answered now, whatever the old thread does
        self._finished(None)
        self.runner.abandon()  # as azmlinfsrv's alarm: run() interrupted, the next request served at once
        self.runner = RunThread(asyncio.get_running_loop())
        return _error(500, f"Scoring timeout after {timeout} ms", run_function_failed=True)

    def _started(self) -> None:
        self.in_flight += 1
        self.idle.clear()

    def _finished(self, _: object) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self.idle.set()

    # -- admin -------------------------------------------------------------------------------

    async def admin(self, request: web.Request) -> web.StreamResponse:
        supplied = request.headers.get("Authorization", "")
        supplied = supplied[len("Bearer ") :] if supplied.startswith("Bearer ") else supplied
        token = self.settings.admin_token or ""
        if not hmac.compare_digest(supplied.encode(), token.encode()):
            return web.json_response({"message": "admin token required"}, status=401)
        if request.path == "/-/status" and request.method == "GET":
            return web.json_response(self.status())
        if request.path == "/-/reload" and request.method == "POST":
            if self.worker_count > 1:
                os.kill(os.getppid(), signal.SIGHUP)
                signalled = ReloadSignalled(self.worker_count)
                return web.json_response(admin.to_json(signalled), status=admin.HTTP_STATUS[ReloadSignalled])
            outcome = await self.reload(cause="admin request")
            return web.json_response(admin.to_json(outcome), status=admin.HTTP_STATUS[type(outcome)])
        if request.path == "/-/pressure" and request.method == "POST":
            try:
                return web.json_response(await self.pressure.apply(await request.json()))
            except (PressureError, ValueError) as exc:
                return web.json_response({"message": str(exc)}, status=400)
        return web.json_response({"message": NOT_FOUND}, status=404)

    async def reload(self, cause: str) -> ReloadAnswer:
        outcome, scoring = await self.reloader.reload(cause, self.scoring.script)
        if scoring is not None:
            self.scoring = scoring
        return outcome

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "script": str(self.scoring.script.path),
            "input_mode": self.scoring.script.mode,
            "reloads": self.reloader.count,
            "last_reload": admin.to_json(self.reloader.last) if self.reloader.last else None,
            "debugger_attached": debug.client_connected(),
            "event_loop": loops.name(),
        }


async def _within(future: asyncio.Future[Any], seconds: float) -> bool:
    """Waits for `future` at most `seconds`; False on time-out, leaving the future running.
    Cheaper than wait_for(shield(...)) on the hot path: one timer and one waiter."""
    if future.done():
        return True
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    future.add_done_callback(wake)
    timer = loop.call_later(seconds, wake)
    try:
        await waiter
    finally:
        timer.cancel()
        future.remove_done_callback(wake)
    return future.done()


def invoke(script: UserScript, incoming: Incoming) -> Reply:
    """Runs on the worker thread: parse the input, call run(), serialize its answer."""
    try:
        arguments = script.arguments(incoming)
    except BadInput as exc:
        return _error(exc.status, str(exc))
    except UnsupportedMethod:
        return _error(405, "Method not allowed")
    try:
        result, run_ms = script.run(arguments, incoming.header_dict())
    except UserCodeFailed as exc:
        cause = exc.__cause__ or exc
        if isinstance(cause, SystemExit):  # past Flask, as under azmlinfsrv: gunicorn answers it
            logger.error("Error handling request: " + "".join(traceback.format_exception(cause)))
            return gunicorn_error()
        logger.error("Encountered Exception: " + "".join(traceback.format_exception(cause)))
        return _error(500, SCRIPT_FAILED, run_function_failed=True)
    if hasattr(result, "status_code") and hasattr(result, "get_data"):
        logger.info("run() output is HTTP Response")
        return _http_reply(result, run_ms)
    try:
        body = b"{}" if result is None else json.dumps(result).encode()
    except Exception:
        logger.error("Encountered Exception: " + traceback.format_exc())
        return _error(500, INTERNAL_ERROR)
    return Reply(
        200,
        body,
        [("Content-Type", "application/json"), ("x-ms-run-function-failed", "False")],
        run_ms=run_ms,
    )


def _http_reply(response: Any, run_ms: float) -> Reply:
    status = int(response.status_code)
    headers = [(str(k), str(v)) for k, v in list(response.headers) if k.lower() != "content-length"]
    if status >= 500:
        headers = [(k, v) for k, v in headers if k.lower() != "x-ms-run-function-failed"]
        headers.append(("x-ms-run-function-failed", "True"))
    return Reply(status, bytes(response.get_data()), headers, run_ms=run_ms)


def request_ids(request: web.Request) -> RequestIds:
    """The id mapping of azmlinfsrv, with its 431 limits (docs/azure.md, "The inference server's
    contract")."""
    request_id = request.headers.get("x-request-id")
    if request_id is None:  # an empty one is kept empty, and neither id is sent back, as azmlinfsrv does
        request_id = _new_request_id()
    if len(request_id) > HEADER_LIMIT:
        return RequestIds(error=f"x-request-id must not exceed {HEADER_LIMIT} characters")
    legacy = request.headers.get("x-ms-request-id", "")
    client = request.headers.get("x-ms-client-request-id", "")
    if legacy:
        logger.warning(
            "x-ms-request-id header has been deprecated and will be removed from future versions of the "
            "server. Please use x-ms-client-request-id."
        )
        client = client or legacy
    else:
        legacy = client or request_id
    if len(legacy) > HEADER_LIMIT or len(client) > HEADER_LIMIT:
        return RequestIds(
            request_id=request_id,
            error=f"x-ms-request-id and x-ms-client-request-id must not exceed {HEADER_LIMIT} characters",
        )
    return RequestIds(request_id, legacy, client)


def _merged_slashes(path: str) -> str:
    """`//score` as `/score`: werkzeug merges repeated slashes before azmlinfsrv's routes see them."""
    return re.sub("/{2,}", "/", path)


def _new_request_id() -> str:
    """A version-4 UUID from the fast PRNG: request ids need uniqueness, not secrecy, and
    uuid4() costs a system call per request."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4))


def _options() -> Reply:
    """Flask's automatic OPTIONS answer for a GET route, as azmlinfsrv gives it."""
    return Reply(200, b"", [("Content-Type", "text/html; charset=utf-8"), ("Allow", "HEAD, OPTIONS, GET")])


def _error(status: int, message: str, *, run_function_failed: bool = False) -> Reply:
    return _json_reply(status, {"message": message}, run_function_failed=run_function_failed)


def _json_reply(status: int, payload: Any, *, run_function_failed: bool = False) -> Reply:
    return Reply(
        status,
        json.dumps(payload).encode(),
        [
            ("Content-Type", "application/json"),
            ("x-ms-run-function-failed", str(run_function_failed)),
        ],
    )


def _response(reply: Reply) -> web.Response:
    response = web.Response(status=reply.status, body=reply.body)
    for name, value in reply.headers:
        if name.lower() == "content-type":
            response.headers["Content-Type"] = value
        else:
            response.headers.add(name, value)
    if not any(name.lower() == "content-type" for name, _ in reply.headers):
        response.headers.pop("Content-Type", None)
    return response
