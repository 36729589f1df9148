"""The engine's side of the routers: one per endpoint, on a port kept across restarts, with its
keys and traffic override saved, and a route table rebuilt from the deployments on every change."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import time
from collections.abc import Mapping, Sequence

from workbench.contract import Credentials, EndpointMetrics, MirrorBodies, Network, Recording
from workbench.engine.collection import DataCollectors
from workbench.engine.keeper import KeeperClient
from workbench.engine.routed import DeploymentsOf
from workbench.engine.saved import SavedEndpoint, SavedState
from workbench.engine.store import Store
from workbench.errors import EngineError, NotFound, NotSaved
from workbench.layout import ProjectFiles
from workbench.router.credentials import TokenSigner
from workbench.router.endpoint import DeploymentFigures, EndpointRouter
from workbench.router.listen import LOCAL, Listen
from workbench.router.recorder import Recorder
from workbench.router.table import DeploymentRoute, RouteTable, Target
from workbench.router.throttle import AZURE
from workbench.spec import Endpoint, Project
from workbench.spec.endpoint import spelled_as, traffic_rules
from workbench.spec.faults import Faults
from workbench.state import EventKind, EventSeverity, ProvisioningState

HOLD_LIMIT_S = 120.0
"""The longest a socket kept across an engine's restart waits for its deployments before it is
served anyway (a client's own timeout is often a minute or two)."""
DRAIN_S = 30.0
"""At a stop under a keeper, how long the routers may take to answer what they received."""


class Routing:
    def __init__(
        self,
        files: ProjectFiles,
        store: Store,
        deployments_of: DeploymentsOf,
        collectors: DataCollectors | None = None,
        listen: Listen = LOCAL,
    ) -> None:
        self.files = files
        self.store = store
        self.deployments_of = deployments_of
        self.collectors = collectors
        self.listen = listen
        self.faults: dict[tuple[str, str], Faults] = {}
        """Injected on purpose (`workbench fault`), in place of workbench.yaml's; kept in memory
        only: a restart goes back to the file's."""
        self.saved = SavedState(files.state)
        self.signer = TokenSigner(self.saved.token_secret)
        self.routers: dict[str, EndpointRouter] = {}
        self.project: Project | None = None
        self._announced: set[str] = set()
        self.keeper = KeeperClient.from_env()
        self._held: dict[str, socket.socket] = {}
        """Listening sockets taken from the keeper, not served until their endpoint is ready."""
        self._serving: set[asyncio.Task[None]] = set()
        self._started = time.monotonic()
        self._stale_said: set[tuple[str, tuple[str, ...]]] = set()

    async def apply(self, project: Project) -> None:
        self.project = project
        wanted = {e.name for e in project.endpoints}
        for name in list(self.routers):
            if name not in wanted:
                router = self.routers.pop(name)
                await router.stop()
                held = self._held.pop(name, None)
                if held is not None:
                    held.close()
                self._let_go(router.port)
                self._announced.discard(name)
        for endpoint in project.endpoints:
            if endpoint.name not in self.routers:
                await self._start(endpoint.name, project)
        self.saved.save()  # the route tables: refreshed by the caller once the deployments are applied

    async def _start(self, name: str, project: Project) -> None:
        saved = self.saved.endpoint(name)
        pinned = project.settings.endpoints.get(name)
        port = pinned.port if pinned is not None and pinned.port else saved.port
        router = EndpointRouter(
            name, saved.keys, self.signer, self.files.access_log(name), listen=self.listen
        )
        held = self._take_held(port)
        if held is not None:  # the engine restarted: its clients wait in this socket's queue
            router.port = port
            self._held[name] = held
            asyncio.get_running_loop().call_later(HOLD_LIMIT_S, self.refresh)
            self.store.publish(
                EventKind.ENDPOINT,
                name,
                f"port {port} kept across the engine's restart: its requests wait until the "
                "deployments are ready",
            )
        else:
            try:
                sock = router.bind(port)
            except OSError as exc:
                if pinned is not None and pinned.port:
                    raise EngineError(
                        f"port {port} for endpoint {name} (workbench.yaml) is taken: {exc.strerror}"
                    ) from exc
                self.store.publish(EventKind.ENDPOINT, name, f"saved port {port} is taken; choosing another")
                sock = router.bind(0)
            await router.serve(sock)
            self._hand_over(sock)
        saved.port = router.port
        router.on_model_error = functools.partial(self._model_error, name)
        self.routers[name] = router

    def _held_key(self, port: int) -> str:
        return f"{self.listen.address}:{port}"

    def _take_held(self, port: int) -> socket.socket | None:
        """The listening socket the keeper (engine/keeper.py) holds for this address and port,
        where an engine before this one served it."""
        if self.keeper is None or not port:
            return None
        try:
            return self.keeper.take(self._held_key(port))
        except OSError:
            return None

    def _hand_over(self, sock: socket.socket) -> None:
        """A copy of the socket to the keeper, so that it outlives this engine."""
        if self.keeper is None:
            return
        try:
            self.keeper.hold(self._held_key(sock.getsockname()[1]), sock)
        except OSError as exc:
            self.store.publish(
                EventKind.ENGINE,
                "engine",
                f"the keeper did not take the port ({exc}): a restart drops requests",
                EventSeverity.WARNING,
            )

    def _let_go(self, port: int) -> None:
        if self.keeper is not None:
            with contextlib.suppress(OSError):
                self.keeper.drop(self._held_key(port))

    def _serve_held(self, project: Project) -> None:
        """Serve each held socket once its endpoint's deployments are ready (each one serves, or
        failed), or after HOLD_LIMIT_S: the requests that waited are then answered."""
        for endpoint in project.endpoints:
            sock = self._held.get(endpoint.name)
            router = self.routers.get(endpoint.name)
            if sock is None or router is None:
                continue
            runners = self.deployments_of(endpoint.name)
            ready = all(
                (runner := runners.get(d.name)) is not None
                and (bool(runner.targets()) or runner.state.provisioning_state is ProvisioningState.FAILED)
                for d in endpoint.deployments
            )
            if ready or time.monotonic() - self._started > HOLD_LIMIT_S:
                del self._held[endpoint.name]
                task = asyncio.get_running_loop().create_task(router.serve(sock))
                self._serving.add(task)
                task.add_done_callback(self._serving.discard)

    def _model_error(self, endpoint: str, deployment: str, instance: str) -> None:
        runner = self.deployments_of(endpoint).get(deployment)
        if runner is not None:
            runner.model_error(instance)

    def refresh(self) -> None:
        """Rebuild every route table from the deployments' ready instances and the traffic."""
        if self.project is None:
            return
        if self._held:
            self._serve_held(self.project)
        for endpoint in self.project.endpoints:
            router = self.routers.get(endpoint.name)
            state = self.store.endpoint(endpoint.name)
            if router is None or state is None:
                continue
            traffic, mirror = self.effective_traffic(endpoint.name)
            routes: dict[str, DeploymentRoute] = {}
            for name, runner in self.deployments_of(endpoint.name).items():
                settings = runner.spec.request_settings
                faults, said = self._faults(endpoint.name, name)
                runner.show_faults(said)
                routes[name] = DeploymentRoute(
                    name=name,
                    provisioning_state=runner.state.provisioning_state.value,
                    targets=[
                        Target(id_, url, debugging=debugging) for id_, url, debugging in runner.targets()
                    ],
                    request_timeout_s=settings.request_timeout_ms / 1000,
                    max_concurrent_requests_per_instance=settings.max_concurrent_requests_per_instance,
                    scoring_path=runner.scoring_path,
                    faults=faults,
                    collect_payloads=self.collectors.payload_sink(
                        endpoint.name, name, runner.spec.data_collector
                    )
                    if self.collectors is not None
                    else None,
                )
            settings_of = self.project.settings.endpoints.get(endpoint.name)
            no_auth = settings_of is not None and settings_of.auth == "none"
            auth_mode = "none" if no_auth else endpoint.spec.auth_mode.value
            router.update(RouteTable(auth_mode, traffic, mirror, routes))
            emulated = settings_of is not None and settings_of.limits == "azure"
            router.limit(AZURE if emulated else None)
            state.limits = (
                f"Azure's, emulated: {AZURE.describe()}"
                if emulated
                else f"none (Azure throttles at {AZURE.describe()}; `limits: azure` in workbench.yaml "
                "emulates it)"
            )
            state.scoring_uri = router.scoring_uri
            state.traffic, state.mirror_traffic = traffic, mirror
            state.traffic_override = _override_said(endpoint, traffic, mirror)
            if endpoint.name not in self._announced and any(r.targets for r in routes.values()):
                self._announced.add(endpoint.name)
                self.store.publish(
                    EventKind.ENDPOINT,
                    endpoint.name,
                    f"endpoint {endpoint.name} ready at {router.scoring_uri}",
                )
                self._say_saved_override(endpoint, traffic, mirror)
                if not any(traffic.values()):
                    first = sorted(routes)[0]
                    self.store.publish(
                        EventKind.ENDPOINT,
                        endpoint.name,
                        "no deployment has traffic: a request without the azureml-model-deployment header "
                        f"gets 404, as on Azure; `workbench traffic {endpoint.name} {first}=100` (or "
                        f"`workbench up --all-traffic {first}`) sends it to {first}",
                    )

    def _say_saved_override(
        self, endpoint: Endpoint, traffic: dict[str, int], mirror: dict[str, int]
    ) -> None:
        """A split saved by an earlier run that is in force instead of the YAML's is said once."""
        yaml_traffic, yaml_mirror = dict(endpoint.spec.traffic), dict(endpoint.spec.mirror_traffic)
        if _nonzero(yaml_traffic) == _nonzero(traffic) and _nonzero(yaml_mirror) == _nonzero(mirror):
            return
        self.store.publish(
            EventKind.ENDPOINT,
            endpoint.name,
            f"traffic {_shares(traffic)}; mirror {_shares(mirror)}: saved by an earlier `workbench traffic` "
            f"or `--all-traffic`, in force instead of the YAML's {_shares(yaml_traffic)}; mirror "
            f"{_shares(yaml_mirror)} until the endpoint YAML's traffic changes",
        )

    def effective_traffic(self, name: str) -> tuple[dict[str, int], dict[str, int]]:
        """The traffic and mirror in force: a `workbench traffic` override while the endpoint's
        YAML is as it was then, else the YAML's; deployment names as the deployments spell them
        (Azure compares them without case)."""
        assert self.project is not None
        endpoint = self.project.endpoint(name)
        if endpoint is None:
            return {}, {}
        base = {"traffic": dict(endpoint.spec.traffic), "mirror_traffic": dict(endpoint.spec.mirror_traffic)}
        saved = self.saved.endpoint(name)
        traffic, mirror = base["traffic"], base["mirror_traffic"]
        names = [d.name for d in endpoint.deployments] + list(self.deployments_of(name))
        if (
            saved.traffic is not None
            and saved.overridden == base
            and not self._names_absent(name, saved, names)
        ):
            traffic, mirror = dict(saved.traffic), dict(saved.mirror_traffic or {})
        return spelled_as(traffic, names), spelled_as(mirror, names)

    def _names_absent(self, name: str, saved: SavedEndpoint, names: list[str]) -> bool:
        """Whether the saved split gives a share to a deployment that is not there now (the files
        named this time leave it out): then the YAML's split holds, and that is said once."""
        present = {n.lower() for n in names}
        shares = {**(saved.traffic or {}), **(saved.mirror_traffic or {})}
        absent = tuple(sorted(d for d, share in shares.items() if share and d.lower() not in present))
        if absent and (name, absent) not in self._stale_said:
            self._stale_said.add((name, absent))
            self.store.publish(
                EventKind.ENDPOINT,
                name,
                f"the traffic saved by an earlier run gives {', '.join(absent)} a share, and "
                f"{'it is' if len(absent) == 1 else 'they are'} not running now: the endpoint YAML's "
                "traffic holds instead",
                EventSeverity.WARNING,
            )
        return bool(absent)

    async def drain(self, name: str, urls: Sequence[str], timeout_s: float) -> None:
        router = self.routers.get(name)
        if router is not None:
            await router.until_idle(urls, timeout_s)

    def set_traffic(self, name: str, traffic: dict[str, int], mirror: dict[str, int] | None) -> list[str]:
        """Validate and apply a traffic change at once; the problems when it is refused."""
        self._router(name)
        current_traffic, current_mirror = self.effective_traffic(name)
        known = list(self.deployments_of(name))
        traffic = spelled_as(traffic, known)
        new_mirror = current_mirror if mirror is None else spelled_as(mirror, known)
        problems = traffic_rules(traffic, new_mirror, set(self.deployments_of(name)))
        if problems:
            return problems
        assert self.project is not None
        endpoint = self.project.endpoint(name)
        assert endpoint is not None
        saved = self.saved.endpoint(name)
        with self.saved.changing():  # on disk first, or nothing changes
            saved.traffic = {k: v for k, v in traffic.items()}
            saved.mirror_traffic = {k: v for k, v in new_mirror.items() if v > 0}
            saved.overridden = {
                "traffic": dict(endpoint.spec.traffic),
                "mirror_traffic": dict(endpoint.spec.mirror_traffic),
            }
        self.refresh()
        self.store.publish(
            EventKind.ENDPOINT,
            name,
            f"traffic {_shares(saved.traffic)}; mirror {_shares(saved.mirror_traffic)}"
            f" (was {_shares(current_traffic)}; mirror {_shares(current_mirror)}); saved: it holds across "
            "restarts until the endpoint YAML's traffic changes",
        )
        return []

    def credentials(self, name: str) -> Credentials:
        router = self._router(name)
        if router.table.auth_mode == "none":
            raise EngineError(f"Endpoint '{name}' is a local endpoint: it asks no key or token (auth: none)")
        if router.table.auth_mode == "key":
            return Credentials(primary_key=router.keys.primary, secondary_key=router.keys.secondary)
        return self.signer.issue(name)

    def regenerate(self, name: str, key_type: str) -> None:
        router = self._router(name)
        if router.table.auth_mode != "key":
            raise EngineError(f"Endpoint '{name}' does not use keys for authentication.")
        try:
            with self.saved.changing():  # the new key serves only once it is on disk
                router.keys.regenerate(key_type)
        except ValueError as exc:
            raise EngineError(str(exc)) from exc
        self.store.publish(EventKind.ENDPOINT, name, f"{key_type} key regenerated")

    def metrics(self, name: str) -> EndpointMetrics:
        router = self._router(name)
        return EndpointMetrics(
            {d: f.summary() for d, f in router.figures.items()}, router.mirror_comparison(), router.network()
        )

    def set_faults(self, endpoint: str, deployment: str, faults: Faults | None) -> None:
        """Inject `faults` into the deployment's requests from now on (None: none)."""
        runner = self.deployments_of(self._router(endpoint).name).get(deployment)
        if runner is None:
            raise NotFound(f"no deployment {deployment} in endpoint {endpoint}")
        self.faults[(endpoint, deployment)] = faults or Faults()
        self.store.publish(
            EventKind.DEPLOYMENT,
            f"{endpoint}/{deployment}",
            f"faults injected: {faults.describe()}" if faults and faults.any else "faults cleared",
            EventSeverity.WARNING if faults and faults.any else EventSeverity.INFO,
        )
        self.refresh()

    def _faults(self, endpoint: str, deployment: str) -> tuple[Faults | None, str]:
        """The faults the router applies to a deployment's requests, and in words with where they
        come from ("" for none)."""
        faults = self.faults.get((endpoint, deployment))
        source = "workbench fault"
        if faults is None and self.project is not None:
            faults, source = self.project.settings.deployment(endpoint, deployment).faults, "workbench.yaml"
        if faults is None or not faults.any:
            return None, ""
        return faults, f"{faults.describe()} ({source})"

    def recording(self, endpoint: str, on: bool) -> Recording:
        """Start recording the endpoint's answered requests (a new file under
        .workbench/recordings/), or stop and say where they are and how many."""
        router = self._router(endpoint)
        if router.recorder is not None:
            router.recorder.close()
            if router.recorder.failed:
                self.store.publish(
                    EventKind.ENDPOINT,
                    endpoint,
                    f"the recording stopped early: {router.recorder.path} could not be written (the requests "
                    "it held in memory then are lost with it)",
                    EventSeverity.WARNING,
                )
            done = Recording(str(router.recorder.path), router.recorder.count, recording=False)
            router.recorder = None
            if not on:
                return done
        elif not on:
            raise EngineError(f"endpoint {endpoint} is not recording")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        keys = router.keys
        try:
            router.recorder = Recorder(
                self.files.recordings / f"{endpoint}-{stamp}.jsonl", lambda: (keys.primary, keys.secondary)
            )
        except OSError as exc:
            raise NotSaved(
                f"the recording could not be created ({exc.strerror}): nothing is recorded"
            ) from exc
        self.store.publish(EventKind.ENDPOINT, endpoint, f"recording requests to {router.recorder.path}")
        return Recording(str(router.recorder.path), 0, recording=True)

    def figures(self) -> dict[str, dict[str, DeploymentFigures]]:
        """Every endpoint's per-deployment figures, as the router counts them."""
        return {name: dict(router.figures) for name, router in self.routers.items()}

    def mirror_bodies(self, endpoint: str, request_id: str) -> MirrorBodies:
        bodies = self._router(endpoint).mirror_bodies(request_id)
        if bodies is None:
            raise NotFound(f"no recent mirrored request {request_id} in endpoint {endpoint}")
        return bodies

    def networks(self) -> dict[str, Network]:
        """Every endpoint's connections and bytes on its scoring port."""
        return {name: router.network() for name, router in self.routers.items()}

    def _router(self, name: str) -> EndpointRouter:
        router = self.routers.get(name)
        if router is None:
            raise NotFound(f"Local endpoint ({name}) does not exist.")
        return router

    async def stop(self) -> None:
        """Every router stopped. Under a keeper, the ports stay open in it: each router first
        answers what it received, its new connections waiting for the next engine."""
        drain_s = DRAIN_S if self.keeper is not None else 0.0
        await asyncio.gather(*(router.stop(drain_s) for router in self.routers.values()))
        self.routers.clear()
        for sock in self._held.values():
            sock.close()
        self._held.clear()


def _override_said(endpoint: Endpoint, traffic: Mapping[str, int], mirror: Mapping[str, int]) -> str | None:
    """The YAML's split, where the one in force differs (an override holds); None when they agree."""
    wanted, wanted_mirror = _nonzero(endpoint.spec.traffic), _nonzero(endpoint.spec.mirror_traffic)
    if _nonzero(traffic) == wanted and _nonzero(mirror) == wanted_mirror:
        return None
    said = f"the YAML says traffic {_shares(endpoint.spec.traffic)}"
    if endpoint.spec.mirror_traffic:
        said += f", mirror {_shares(endpoint.spec.mirror_traffic)}"
    return said + " (a change made here holds until the YAML's traffic changes)"


def _nonzero(table: Mapping[str, int]) -> dict[str, int]:
    return {k.lower(): v for k, v in table.items() if v}


def _shares(table: Mapping[str, int] | None) -> str:
    return " ".join(f"{k}={v}" for k, v in (table or {}).items()) or "none"
