"""The control API: HTTP on 127.0.0.1 with a bearer token, for the CLI and the TUI.

GET  /v1/status                    endpoints, deployments, instances
GET  /v1/events[?follow=1]         past events, then live ones, as JSON lines
GET  /v1/logs?endpoint=&deployment=&container=&instance=&lines=&follow=1
GET  /v1/telemetry                 CPU and memory per instance, GPUs
GET  /v1/endpoints/NAME/credentials | metrics
GET  /v1/endpoints/NAME/mirror/REQUEST_ID   a recent mirrored request's two answers
POST /v1/endpoints/NAME/regenerate-keys | traffic
POST /v1/endpoints/NAME/rollout    a canary rollout (a plan): its steps as JSON lines, until it ends
POST /v1/endpoints/NAME/rollout/stop   its traffic back as it was (Ctrl-C); its last word
POST /v1/endpoints/NAME/deployments/DEPLOYMENT/reload | scale | faults | pressure | restart
POST /v1/endpoints/NAME/deployments/DEPLOYMENT/instances/ID/restart | kill
POST /v1/endpoints/NAME/deployments/DEPLOYMENT/instances/ID/debug   {"wait": bool} or {"stop": true}
GET  /v1/endpoints/NAME/deployments/DEPLOYMENT/instances/ID/shell   how to open a shell inside it
POST /v1/shutdown

Actions that take time (reload, scale, restart) answer 202 at once; their outcome arrives as
events.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from workbench import api_routes as routes
from workbench.canary import RolloutNews, RolloutPlan
from workbench.contract import Telemetry
from workbench.engine.bodies import body_of, flag, instance_name, number, shares, text, whole
from workbench.engine.canary import Canaries
from workbench.engine.deployments import DeploymentRunner
from workbench.engine.instances import log_tail
from workbench.engine.prometheus import exposition
from workbench.engine.routing import Routing
from workbench.engine.store import Store
from workbench.engine.supervisor import Supervisor
from workbench.errors import EngineError, NotFound, NotSaved, WorkbenchError
from workbench.layout import ProjectFiles
from workbench.spec.deployment import MAX_INSTANCES
from workbench.spec.faults import Faults
from workbench.state import Event, endpoints_to_json
from workbench.telemetry.gpu import gpus
from workbench.telemetry.processes import ProcessSampler

CONTAINERS = ("inference-server", "storage-initializer", "build", "router")
FOLLOW_POLL_S = 0.2
FOLLOW_CHUNK = 64 * 1024
MAX_LOG_LINES = 1_000_000
MAX_FAULT_LATENCY_MS = 600_000.0
"""Ten minutes: more than any request timeout (Azure's largest is 180 s), less than forever."""


class ControlApi:
    def __init__(
        self,
        store: Store,
        files: ProjectFiles,
        *,
        token: str,
        shutdown: Callable[[bool], None],
        reconcile: Callable[[str], asyncio.Future[list[str]]],
        scale: Callable[[str, str, int, str], None],
        routing: Routing,
        supervisor: Supervisor,
    ) -> None:
        self.store = store
        self.files = files
        self.token = token
        self.shutdown = shutdown
        self.reconcile = reconcile
        """Records that something changed; the engine's reconcile loop applies it."""
        self.scale_to = scale
        """Records a scale override (written to disk, or an error); the reconcile loop applies it."""
        self.routing = routing
        self.supervisor = supervisor
        self.canaries = Canaries(routing, store)
        self._sampler = ProcessSampler()
        self._background: set[asyncio.Task[None]] = set()

    def build(self) -> web.Application:
        app = web.Application(middlewares=[self._auth, _errors])
        served = {
            routes.STATUS: self.status,
            routes.EVENTS: self.events,
            routes.LOGS: self.logs,
            routes.CREDENTIALS: self.credentials,
            routes.REGENERATE_KEYS: self.regenerate,
            routes.TRAFFIC: self.traffic,
            routes.RECORDING: self.recording,
            routes.METRICS: self.metrics,
            routes.ROLLOUT: self.rollout,
            routes.ROLLOUT_STOP: self.stop_rollout,
            routes.MIRROR_BODIES: self.mirror_bodies,
            routes.TELEMETRY: self.telemetry,
            routes.PROMETHEUS: self.prometheus,
            routes.RELOAD: self.reload,
            routes.SCALE: self.scale,
            routes.FAULTS: self.faults,
            routes.PRESSURE: self.pressure,
            routes.KILL: self.kill,
            routes.RESTART_ALL: self.restart_all,
            routes.RESTART: self.restart,
            routes.DEBUG: self.debug,
            routes.SHELL: self.shell,
            routes.SHUTDOWN: self.stop,
            routes.RECONCILE: self.reconcile_now,
        }
        for route, handler in served.items():
            app.router.add_route(route.method, route.template, handler)
        return app

    async def credentials(self, request: web.Request) -> web.Response:
        return web.json_response(self.routing.credentials(request.match_info["name"]).to_json())

    async def regenerate(self, request: web.Request) -> web.Response:
        body = await body_of(request)
        name = request.match_info["name"]
        self.routing.regenerate(name, str(text(body, "key_type", "")))
        return web.json_response({"status": "ok"})

    async def traffic(self, request: web.Request) -> web.Response:
        body = await body_of(request)
        name = request.match_info["name"]
        traffic = shares(body, "traffic") or {}
        mirror = shares(body, "mirror_traffic")
        problems = self.routing.set_traffic(name, traffic, mirror)
        if problems:
            return web.json_response({"message": "; ".join(problems), "problems": problems}, status=400)
        self.reconcile(f"traffic of {name}")  # a deletion it held back may now go ahead
        return web.json_response({"status": "ok"})

    async def recording(self, request: web.Request) -> web.Response:
        body = await body_of(request)
        recording = self.routing.recording(request.match_info["name"], flag(body, "on"))
        return web.json_response(recording.to_json())

    async def rollout(self, request: web.Request) -> web.StreamResponse:
        """The rollout runs while its caller listens; a caller that leaves (a killed command, a
        closed SSH tunnel) has its traffic put back as it was."""
        body = await body_of(request)
        try:
            plan = RolloutPlan.from_json({**body, "endpoint": request.match_info["name"]})
        except WorkbenchError as exc:
            raise EngineError(str(exc)) from exc
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})

        async def tell(news: RolloutNews) -> None:
            if _gone(request):
                raise ConnectionResetError("the rollout's caller has gone")
            await response.write(json.dumps(news.to_json()).encode() + b"\n")

        run = self.canaries.begin(plan, tell, lambda: _gone(request))  # refused before any line
        await response.prepare(request)
        await self.canaries.run(run)
        self.reconcile(f"rollout of {plan.endpoint}")  # a deletion it held back may now go ahead
        return response

    async def stop_rollout(self, request: web.Request) -> web.Response:
        news = await self.canaries.stop(request.match_info["name"])
        return web.json_response(news.to_json())

    async def metrics(self, request: web.Request) -> web.Response:
        return web.json_response(self.routing.metrics(request.match_info["name"]).to_json())

    async def mirror_bodies(self, request: web.Request) -> web.Response:
        bodies = self.routing.mirror_bodies(request.match_info["name"], request.match_info["request_id"])
        return web.json_response(bodies.to_json())

    async def telemetry(self, request: web.Request) -> web.Response:
        pids = {
            f"{endpoint.name}/{instance.id}": instance.pid
            for endpoint in self.store.endpoints
            for deployment in endpoint.deployments
            for instance in deployment.instances
            if instance.pid
        }

        def sample() -> Telemetry:
            figures = {key: self._sampler.sample(pid) for key, pid in pids.items()}
            self._sampler.forget_unseen()
            return Telemetry({key: f for key, f in figures.items() if f is not None}, gpus())

        return web.json_response((await asyncio.to_thread(sample)).to_json())

    async def prometheus(self, request: web.Request) -> web.Response:
        """Prometheus' text format (prometheus.py), for a scraper that sends the control token."""
        keys = {
            (endpoint.name, deployment.name, instance.id): instance.pid
            for endpoint in self.store.endpoints
            for deployment in endpoint.deployments
            for instance in deployment.instances
            if instance.pid
        }

        def render() -> str:
            sampled = {key: self._sampler.sample(pid) for key, pid in keys.items()}
            self._sampler.forget_unseen()
            instances = {key: figures for key, figures in sampled.items() if figures is not None}
            return exposition(
                self.store.endpoints, self.routing.figures(), instances, self.routing.networks(), gpus()
            )

        text = await asyncio.to_thread(render)
        return web.Response(
            body=text.encode(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
        )

    async def faults(self, request: web.Request) -> web.Response:
        body = await body_of(request)
        try:
            faults = Faults(
                latency_ms=number(body, "latency_ms", 0, low=0, high=MAX_FAULT_LATENCY_MS),
                error_rate=number(body, "error_rate", 0, low=0, high=1),
                error_status=whole(body, "error_status", 503, low=400, high=599),
                drop_rate=number(body, "drop_rate", 0, low=0, high=1),
            )
        except ValueError as exc:
            raise EngineError(f"faults: {exc}") from exc
        self.routing.set_faults(request.match_info["name"], request.match_info["deployment"], faults)
        return web.json_response({"faults": faults.describe()})

    async def pressure(self, request: web.Request) -> web.Response:
        body = await body_of(request)
        runner = self.supervisor.runner(request.match_info["name"], request.match_info["deployment"])
        cores = whole(body, "cpu_cores", 0, low=0, high=1024)
        memory_mb = whole(body, "memory_mb", 0, low=0, high=1024 * 1024)
        seconds = number(body, "seconds", 30, low=0, high=24 * 3600)
        instance = text(body, "instance") or None
        said = await runner.pressure(None if instance is None else str(instance), cores, memory_mb, seconds)
        return web.json_response({"pressure": said})

    async def kill(self, request: web.Request) -> web.Response:
        runner = self.supervisor.runner(request.match_info["name"], request.match_info["deployment"])
        await runner.kill(instance_name(request.match_info["instance"]))
        return web.json_response({"status": "killed"})

    async def reload(self, request: web.Request) -> web.Response:
        """`?if_changed=1`: only when a staged file changed (promote, after the watcher may have)."""
        if_changed = request.query.get("if_changed") == "1"
        return self._start(
            request, lambda runner, _: runner.reload_code("reload requested", if_changed=if_changed)
        )

    async def scale(self, request: web.Request) -> web.Response:
        body = await body_of(request)
        count = body.get("instance_count")
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_INSTANCES:
            return web.json_response(
                {"message": f"instance_count must be a whole number from 1 to {MAX_INSTANCES}"}, status=400
            )
        name, deployment = request.match_info["name"], request.match_info["deployment"]
        self.scale_to(name, deployment, count, "scale requested")
        return web.json_response({"status": f"scaling to {count} instance(s)"}, status=202)

    async def restart(self, request: web.Request) -> web.Response:
        def restart(runner: DeploymentRunner, req: web.Request) -> Awaitable[None]:
            instance = runner.instance(req.match_info["instance"]).state.id  # NotFound now, not later
            return runner.restart(instance, "restart requested")

        return self._start(request, restart)

    async def restart_all(self, request: web.Request) -> web.Response:
        return self._start(request, lambda runner, _: runner.restart_all("rolling restart requested"))

    async def debug(self, request: web.Request) -> web.Response:
        body = await body_of(request)
        instance = instance_name(request.match_info["instance"])
        runner = self.supervisor.runner(request.match_info["name"], request.match_info["deployment"])
        if flag(body, "stop"):
            await runner.stop_debugging(instance)
            return web.json_response({"status": "debugger off"})
        session = await runner.debug(instance, wait=flag(body, "wait"))
        return web.json_response(session.to_json())

    async def shell(self, request: web.Request) -> web.Response:
        instance = instance_name(request.match_info["instance"])
        runner = self.supervisor.runner(request.match_info["name"], request.match_info["deployment"])
        return web.json_response(runner.shell(instance).to_json())

    def _start(
        self, request: web.Request, action: Callable[[DeploymentRunner, web.Request], Awaitable[None]]
    ) -> web.Response:
        """Find the deployment, check the action can start, and run it in the background."""
        runner = self.supervisor.runner(request.match_info["name"], request.match_info["deployment"])
        work = action(runner, request)  # refusals are raised now, before anything starts
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return web.json_response({"status": "accepted"}, status=202)

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
            await self._send_events(request, response, queue)
        except ConnectionResetError:
            pass  # the client has gone (a dashboard that quit): nothing to say about it
        finally:
            self.store.unsubscribe(queue)
        return response

    async def _send_events(
        self, request: web.Request, response: web.StreamResponse, queue: asyncio.Queue[Event]
    ) -> None:
        for event in list(self.store.events):
            await response.write(json.dumps(event.to_json()).encode() + b"\n")
        if request.query.get("follow") != "1":
            return
        while not _gone(request):
            try:
                event = await asyncio.wait_for(queue.get(), FOLLOW_POLL_S * 5)
            except asyncio.TimeoutError:
                continue
            await response.write(json.dumps(event.to_json()).encode() + b"\n")

    async def logs(self, request: web.Request) -> web.StreamResponse:
        endpoint, deployment = request.query.get("endpoint", ""), request.query.get("deployment", "")
        container = request.query.get("container", "inference-server")
        if container not in CONTAINERS:
            return web.json_response(
                {
                    "message": f"Invalid container type '{container}'. Supported container types are "
                    "inference-server, storage-initializer, build and router"
                },
                status=400,
            )
        path = self._resolve_log(
            endpoint, deployment, container, instance_name(request.query.get("instance", "0"))
        )
        if path is None:
            return web.json_response(
                {"message": f"no such endpoint, deployment or instance: {endpoint}/{deployment}"}, status=404
            )
        lines = _lines(request.query.get("lines", "5000"))
        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await response.prepare(request)
        try:
            for line in log_tail(path, lines):
                await response.write(line.encode() + b"\n")
            if request.query.get("follow") == "1":
                await _follow(path, request, response)
        except ConnectionResetError:
            pass  # the client has gone while the log was sent: nothing to say about it
        return response

    def _resolve_log(self, endpoint: str, deployment: str, container: str, instance: str) -> Path | None:
        state = self.store.endpoint(endpoint)
        if state is None:
            return None
        if container == "router":
            return self.files.access_log(endpoint)
        deployment_state = state.deployment(deployment)
        if deployment_state is None:
            return None
        return self._log_path(
            endpoint, deployment, container, instance, [i.id for i in deployment_state.instances]
        )

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

    async def reconcile_now(self, request: web.Request) -> web.Response:
        """Load the project from its files and apply it now (a promote that has just replaced
        them asks, rather than waiting for the file watcher). With `"wait": true`, the answer
        comes once they are applied, with the errors that kept them from applying."""
        body = await body_of(request)
        applied = self.reconcile(text(body, "cause") or "requested")
        if body.get("wait") is not True:
            return web.json_response({"status": "reconciling"}, status=202)
        problems = await applied
        return web.json_response({"status": "failed" if problems else "reconciled", "problems": problems})

    async def stop(self, request: web.Request) -> web.Response:
        """Stop the engine; `"restart": true` (promote, when the workbench on the host changed):
        its keeper holds the ports and starts the engine again when told."""
        body = await body_of(request)
        asyncio.get_running_loop().call_soon(self.shutdown, body.get("restart") is True)
        return web.json_response({"status": "stopping"})


def _lines(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) <= MAX_LOG_LINES:
        raise EngineError(f"lines must be a whole number from 1 to {MAX_LOG_LINES}, not {value!r}")
    return int(value)


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """The one place that turns a refusal into an answer: NotFound is 404, NotSaved 507 (Insufficient
    Storage: nothing changed), any other EngineError 400, with its message (the client turns them
    back: client._raise_for)."""
    try:
        return await handler(request)
    except NotFound as exc:
        return web.json_response({"message": str(exc)}, status=404)
    except NotSaved as exc:
        return web.json_response({"message": str(exc)}, status=507)
    except EngineError as exc:
        return web.json_response({"message": str(exc)}, status=400)


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
        while size > position:  # what is new, in bounded pieces: a chatty log never fills memory
            with path.open("rb") as file:
                file.seek(position)
                chunk = file.read(min(size - position, FOLLOW_CHUNK))
            if not chunk:
                break
            position += len(chunk)
            await response.write(chunk)
