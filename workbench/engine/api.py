"""The control API: HTTP on 127.0.0.1 with a bearer token, for the CLI and the TUI.

GET  /v1/status                    endpoints, deployments, instances
GET  /v1/events[?follow=1]         past events, then live ones, as JSON lines
GET  /v1/logs?endpoint=&deployment=&container=&instance=&lines=&follow=1
POST /v1/shutdown
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from workbench.engine.files import ProjectFiles
from workbench.engine.instances import log_tail
from workbench.engine.store import Store
from workbench.state import endpoints_to_json

CONTAINERS = ("inference-server", "storage-initializer", "build")
FOLLOW_POLL_S = 0.2


class ControlApi:
    def __init__(self, store: Store, files: ProjectFiles, token: str, shutdown: Callable[[], None]) -> None:
        self.store = store
        self.files = files
        self.token = token
        self.shutdown = shutdown

    def build(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/v1/status", self.status)
        app.router.add_get("/v1/events", self.events)
        app.router.add_get("/v1/logs", self.logs)
        app.router.add_post("/v1/shutdown", self.stop)
        return app

    @web.middleware
    async def _auth(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").encode()
        if not hmac.compare_digest(supplied, self.token.encode()):
            return web.json_response({"message": "missing or wrong control token"}, status=401)
        return await handler(request)

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response({"endpoints": endpoints_to_json(self.store.endpoints)})

    async def events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        queue = self.store.subscribe()
        try:
            for event in list(self.store.events):
                await response.write(json.dumps(event.to_json()).encode() + b"\n")
            if request.query.get("follow") != "1":
                return response
            while not _gone(request):
                try:
                    event = await asyncio.wait_for(queue.get(), FOLLOW_POLL_S * 5)
                except asyncio.TimeoutError:
                    continue
                await response.write(json.dumps(event.to_json()).encode() + b"\n")
        finally:
            self.store.unsubscribe(queue)
        return response

    async def logs(self, request: web.Request) -> web.StreamResponse:
        endpoint, deployment = request.query.get("endpoint", ""), request.query.get("deployment", "")
        container = request.query.get("container", "inference-server")
        if container not in CONTAINERS:
            return web.json_response(
                {
                    "message": f"Invalid container type '{container}'. Supported container types are "
                    "inference-server, storage-initializer and build"
                },
                status=400,
            )
        state = self.store.endpoint(endpoint)
        deployment_state = state.deployment(deployment) if state else None
        if deployment_state is None:
            return web.json_response({"message": f"no deployment {endpoint}/{deployment}"}, status=404)
        path = self._log_path(
            endpoint,
            deployment,
            container,
            request.query.get("instance", "0"),
            [i.id for i in deployment_state.instances],
        )
        if path is None:
            return web.json_response({"message": "no such instance"}, status=404)
        lines = int(request.query.get("lines", "5000"))
        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await response.prepare(request)
        for line in log_tail(path, lines):
            await response.write(line.encode() + b"\n")
        if request.query.get("follow") == "1":
            await _follow(path, request, response)
        return response

    def _log_path(
        self, endpoint: str, deployment: str, container: str, instance: str, instance_ids: list[str]
    ) -> Path | None:
        logs = self.files.logs(endpoint, deployment)
        if container == "storage-initializer":
            return logs / "storage-initializer.log"
        if container == "build":
            return logs / "build.log"
        if instance.isdigit():
            index = int(instance)
            if index >= len(instance_ids):
                return None
            instance = instance_ids[index]
        return self.files.instance_log(endpoint, deployment, instance)

    async def stop(self, request: web.Request) -> web.Response:
        asyncio.get_running_loop().call_soon(self.shutdown)
        return web.json_response({"status": "stopping"})


def _gone(request: web.Request) -> bool:
    """The client has closed its end: stop streaming to it."""
    return request.transport is None or request.transport.is_closing()


async def _follow(path: Path, request: web.Request, response: web.StreamResponse) -> None:
    position = path.stat().st_size if path.exists() else 0
    while not _gone(request):
        await asyncio.sleep(FOLLOW_POLL_S)
        if not path.exists():
            continue
        size = path.stat().st_size
        if size < position:
            position = 0
        if size > position:
            with path.open("rb") as file:
                file.seek(position)
                chunk = file.read(size - position)
            position = size
            await response.write(chunk)
