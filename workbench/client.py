"""A typed client of a running engine's control API, for the CLI and the TUI.

It finds the engine of a project through `.workbench/connection.json` (URL and token, mode
0600), in the given folder or the nearest parent that has one.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from workbench import api_routes as routes
from workbench import running
from workbench.canary import RolloutNews, RolloutPlan
from workbench.contract import (
    Credentials,
    DebugSession,
    EndpointMetrics,
    MirrorBodies,
    Recording,
    Shell,
    Telemetry,
)
from workbench.errors import EngineError, NotFound
from workbench.layout import CONNECTION
from workbench.state import EndpointState, Event, endpoints_from_json

STOP_TIMEOUT_S = 60.0
STOP_POLL_S = 0.05


@dataclass(frozen=True)
class Invocation:
    """One request sent to an endpoint's scoring URI, and its answer."""

    endpoint: str
    deployment: str | None
    """The deployment asked for (azureml-model-deployment), None to let traffic choose."""
    status: int
    served_by: str | None
    headers: dict[str, str]
    body: str
    latency_ms: float
    sent_at: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class EngineClient:
    def __init__(self, url: str, token: str, root: Path, pid: int = 0) -> None:
        self.url = url
        self.root = root
        self.pid = pid
        """The engine's process id."""
        self.token = token
        self.verify_scoring = True
        """Whether an HTTPS scoring URI's certificate is checked (off where SSH carries it)."""
        self._scoring: httpx.Client | None = None
        """Kept alive across invocations, so that their latency is the request's, not a handshake's."""
        self._http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    @classmethod
    def for_folder(cls, folder: Path, *, anywhere: bool = False) -> EngineClient:
        """The engine of `folder` or the nearest folder above it that has one; with `anywhere`,
        else the one engine this user runs elsewhere (several: an error that lists them)."""
        start = folder.resolve()
        for candidate in (start, *start.parents):
            path = candidate / CONNECTION
            if path.is_file():
                info = json.loads(path.read_text())
                if not running.alive(int(info.get("pid", 0)), info.get("started")):
                    raise EngineError(
                        f"no engine is running for {candidate} (pid {info.get('pid')} ended without "
                        f"cleaning up): start one with `workbench up {candidate}`"
                    )
                return cls(str(info["url"]), str(info["token"]), candidate, int(info["pid"]))
        elsewhere = running.running() if anywhere else []
        if len(elsewhere) == 1:  # outside any project, and exactly one engine runs: that one
            return cls.for_folder(elsewhere[0])
        if elsewhere:
            listed = "\n".join(f"  {root}" for root in elsewhere)
            raise EngineError(
                f"no engine is running for {folder}, and {len(elsewhere)} run elsewhere; "
                f"name one with --project:\n{listed}"
            )
        raise EngineError(f"no engine is running for {folder}: start one with `workbench up {folder}`")

    def close(self) -> None:
        self._http.close()
        if self._scoring is not None:
            self._scoring.close()

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def status(self) -> list[EndpointState]:
        return endpoints_from_json(self._call(routes.STATUS).json()["endpoints"])

    def status_json(self) -> list[dict[str, Any]]:
        endpoints: list[dict[str, Any]] = self._call(routes.STATUS).json()["endpoints"]
        return endpoints

    def events(self, follow: bool = False) -> Iterator[Event]:
        for line in self._stream(routes.EVENTS.path(), {"follow": "1" if follow else "0"}):
            yield Event.from_json(json.loads(line))

    def logs(
        self,
        endpoint: str,
        deployment: str,
        *,
        container: str = "inference-server",
        instance: str = "0",
        lines: int = 5000,
        follow: bool = False,
    ) -> Iterator[str]:
        yield from self._stream(
            routes.LOGS.path(), _log_params(endpoint, deployment, container, instance, lines, follow=follow)
        )

    def scoring(self, endpoint: str, deployment: str | None = None) -> tuple[str, dict[str, str]]:
        """The endpoint's scoring URI and the headers a request to it needs: its key (or a fresh
        token) and, when given, the deployment it is pinned to."""
        state = next((e for e in self.status() if e.name == endpoint), None)
        if state is None or state.scoring_uri is None:
            raise EngineError(f"Local endpoint ({endpoint}) does not exist.")
        secret = self.credentials(endpoint).secret
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"}
        if deployment:
            headers["azureml-model-deployment"] = deployment
        return state.scoring_uri, headers

    def invoke(self, endpoint: str, body: bytes, deployment: str | None = None) -> Invocation:
        """Send `body` to the endpoint's scoring URI with its credentials, as `az ml online-endpoint
        invoke` does; pinned to `deployment` when given."""
        uri, headers = self.scoring(endpoint, deployment)
        if self._scoring is None:
            self._scoring = httpx.Client(timeout=300, verify=self.verify_scoring)
        sent_at = time.time()
        started = time.perf_counter()
        try:
            response = self._scoring.post(uri, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise EngineError(f"endpoint {endpoint} does not answer at {uri}: {exc}") from exc
        return Invocation(
            endpoint=endpoint,
            deployment=deployment,
            status=response.status_code,
            served_by=response.headers.get("azureml-model-deployment"),
            headers=dict(response.headers),
            body=response.text,
            latency_ms=(time.perf_counter() - started) * 1000,
            sent_at=sent_at,
        )

    def shutdown(self, timeout_s: float = STOP_TIMEOUT_S, *, restart: bool = False) -> bool:
        """Ask the engine to stop; True once its process has ended (every instance stopped),
        False if it still runs after `timeout_s`. With `restart`, its keeper holds the ports
        until the next engine starts (engine/keeper.py)."""
        self._call(routes.SHUTDOWN, {"restart": True} if restart else None)
        deadline = time.monotonic() + timeout_s
        while running.alive(self.pid, None):
            if time.monotonic() > deadline:
                return False
            time.sleep(STOP_POLL_S)
        return True

    def set_faults(self, endpoint: str, deployment: str, **faults: float) -> str:
        """Inject faults into a deployment's requests (latency_ms, error_rate, error_status,
        drop_rate; none given clears them); what now applies, in words."""
        answer = self._call(routes.FAULTS, dict(faults), name=endpoint, deployment=deployment)
        return str(answer.json()["faults"])

    def pressure(
        self,
        endpoint: str,
        deployment: str,
        *,
        cpu_cores: int,
        memory_mb: int,
        seconds: float,
        instance: str | None,
    ) -> str:
        """Busy cores and held memory inside the deployment's instances (or one) for `seconds`."""
        body = {"cpu_cores": cpu_cores, "memory_mb": memory_mb, "seconds": seconds, "instance": instance}
        return str(self._call(routes.PRESSURE, body, name=endpoint, deployment=deployment).json()["pressure"])

    def kill(self, endpoint: str, deployment: str, instance: str) -> None:
        """SIGKILL the instance's server, as a host failure would; it restarts as after a crash."""
        self._call(routes.KILL, name=endpoint, deployment=deployment, instance=instance)

    def recording(self, endpoint: str, on: bool) -> Recording:
        """Start (or stop) recording the endpoint's answered requests; the file and the count."""
        return Recording.from_json(self._call(routes.RECORDING, {"on": on}, name=endpoint).json())

    def reconcile(self, cause: str, *, wait: bool = False) -> list[str]:
        """Have the engine load its project's files again and apply them (a "reconciled" event
        says what it started). With `wait`, return once they are applied, with the errors that
        kept them from applying (none: they apply, and deployments start or change)."""
        answer = self._call(routes.RECONCILE, {"cause": cause, "wait": wait})
        return [str(p) for p in answer.json().get("problems", [])] if wait else []

    def credentials(self, endpoint: str) -> Credentials:
        return Credentials.from_json(self._call(routes.CREDENTIALS, name=endpoint).json())

    def regenerate_keys(self, endpoint: str, key_type: str) -> None:
        self._call(routes.REGENERATE_KEYS, {"key_type": key_type}, name=endpoint)

    def set_traffic(self, endpoint: str, traffic: dict[str, int], mirror: dict[str, int] | None) -> None:
        self._call(routes.TRAFFIC, {"traffic": traffic, "mirror_traffic": mirror}, name=endpoint)

    def rollout(self, plan: RolloutPlan) -> Generator[RolloutNews, None, None]:
        """Run a canary rollout in the engine, told as it goes until it ends. Leaving before its
        end (closing this iterator) puts its traffic back as it was."""
        path = routes.ROLLOUT.path(name=plan.endpoint)
        for line in self._stream(path, {}, method=routes.ROLLOUT.method, body=plan.to_json()):
            yield RolloutNews.from_json(json.loads(line))

    def stop_rollout(self, endpoint: str) -> RolloutNews:
        """Stop the endpoint's rollout: its traffic back as it was; its last word."""
        return RolloutNews.from_json(self._call(routes.ROLLOUT_STOP, name=endpoint).json())

    def metrics(self, endpoint: str) -> EndpointMetrics:
        return EndpointMetrics.from_json(self._call(routes.METRICS, name=endpoint).json())

    def mirror_bodies(self, endpoint: str, request_id: str) -> MirrorBodies:
        """The live and the mirror answer to one of the endpoint's recent mirrored requests."""
        return MirrorBodies.from_json(
            self._call(routes.MIRROR_BODIES, name=endpoint, request_id=request_id).json()
        )

    def telemetry(self) -> Telemetry:
        return Telemetry.from_json(self._call(routes.TELEMETRY).json())

    def reload(self, endpoint: str, deployment: str, *, if_changed: bool = False) -> None:
        """Stage the deployment's code again and reload it in place (`if_changed`: only if a file
        changed since it was staged); the outcome comes as events, and its `reloads` count grows."""
        query = "?if_changed=1" if if_changed else ""
        self._request(routes.RELOAD.method, routes.RELOAD.path(name=endpoint, deployment=deployment) + query)

    def scale(self, endpoint: str, deployment: str, instance_count: int) -> None:
        self._call(routes.SCALE, {"instance_count": instance_count}, name=endpoint, deployment=deployment)

    def restart_all(self, endpoint: str, deployment: str) -> None:
        """A rolling restart of the deployment; its progress comes as events."""
        self._call(routes.RESTART_ALL, name=endpoint, deployment=deployment)

    def restart(self, endpoint: str, deployment: str, instance: str) -> None:
        self._call(routes.RESTART, name=endpoint, deployment=deployment, instance=instance)

    def debug(self, endpoint: str, deployment: str, instance: str, *, wait: bool = False) -> DebugSession:
        """Restart the instance under debugpy; where it listens and VS Code's attach configuration."""
        answer = self._call(
            routes.DEBUG, {"wait": wait}, name=endpoint, deployment=deployment, instance=instance
        )
        return DebugSession.from_json(answer.json())

    def shell(self, endpoint: str, deployment: str, instance: str) -> Shell:
        """How to open a shell inside the instance: its environment and its folder."""
        return Shell.from_json(
            self._call(routes.SHELL, name=endpoint, deployment=deployment, instance=instance).json()
        )

    def stop_debugging(self, endpoint: str, deployment: str, instance: str) -> None:
        self._call(routes.DEBUG, {"stop": True}, name=endpoint, deployment=deployment, instance=instance)

    def _call(self, route: routes.Route, body: dict[str, Any] | None = None, **parts: str) -> httpx.Response:
        """`route` with its path's `parts` (name, deployment, instance, request_id) and `body`."""
        return self._request(route.method, route.path(**parts), body)

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise EngineError(
                f"the engine for {self.root} does not answer at {self.url} ({exc}); "
                "it may have stopped: run `workbench up` again"
            ) from exc
        _raise_for(response)
        return response

    def _stream(
        self, path: str, params: dict[str, str], *, method: str = "GET", body: dict[str, Any] | None = None
    ) -> Iterator[str]:
        try:
            with self._http.stream(method, path, params=params, json=body, timeout=None) as response:
                if response.status_code >= 400:
                    response.read()
                    _raise_for(response)
                yield from response.iter_lines()
        except httpx.TransportError as exc:
            raise EngineError(f"lost the engine at {self.url}: {exc}") from exc


class EngineStreams:
    """The control API's following streams (events, logs) as async iterators, for the terminal UI:
    cancelling the task that reads one closes it at once."""

    def __init__(self, client: EngineClient) -> None:
        self._http = httpx.AsyncClient(
            base_url=client.url, headers={"Authorization": f"Bearer {client.token}"}, timeout=None
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def events(self) -> AsyncIterator[Event]:
        async for line in self._lines(routes.EVENTS.path(), {"follow": "1"}):
            yield Event.from_json(json.loads(line))

    async def logs(
        self, endpoint: str, deployment: str, *, container: str, instance: str, lines: int
    ) -> AsyncIterator[str]:
        params = _log_params(endpoint, deployment, container, instance, lines, follow=True)
        async for line in self._lines(routes.LOGS.path(), params):
            yield line

    async def _lines(self, path: str, params: dict[str, str]) -> AsyncIterator[str]:
        try:
            async with self._http.stream("GET", path, params=params) as response:
                if response.status_code >= 400:
                    await response.aread()
                    _raise_for(response)
                async for line in response.aiter_lines():
                    yield line
        except httpx.TransportError as exc:
            raise EngineError(f"lost the engine: {exc}") from exc


def _log_params(
    endpoint: str, deployment: str, container: str, instance: str, lines: int, *, follow: bool
) -> dict[str, str]:
    return {
        "endpoint": endpoint,
        "deployment": deployment,
        "container": container,
        "instance": instance,
        "lines": str(lines),
        "follow": "1" if follow else "0",
    }


def _raise_for(response: httpx.Response) -> None:
    if response.status_code >= 400:
        try:
            message = response.json().get("message", response.text)
        except ValueError:
            message = response.text
        refused = NotFound if response.status_code == 404 else EngineError
        raise refused(f"engine refused ({response.status_code}): {message}")
