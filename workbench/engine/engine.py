"""The composition root: one asyncio process that owns a folder's endpoints.

Start-up: read the specs (refusing to start on errors), stop instances orphaned by a killed
engine, open the control API, then reconcile. While running, a change to a spec file is read
and reconciled; a spec with errors is reported and changes nothing. SIGINT / SIGTERM (or the
API's shutdown) stop every instance before the engine exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import signal
import sys
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from workbench import running
from workbench.dev.watch import Watcher
from workbench.engine import eventloop, logrotation
from workbench.engine.api import ControlApi
from workbench.engine.autoscale import Autoscaler
from workbench.engine.collection import DataCollectors
from workbench.engine.context import Context, LiveSettings
from workbench.engine.environments import EnvironmentBuilder
from workbench.engine.files import read_json, write_json
from workbench.engine.keeper import KEEPER_ENV, RESTART_EXIT, KeeperClient
from workbench.engine.orphans import ProcessRegistry
from workbench.engine.routed import RoutedDeployment
from workbench.engine.routing import Routing
from workbench.engine.runtimeset import Runtimes
from workbench.engine.scaling import ScaleOverrides, Scaler
from workbench.engine.servercode import copy_server_code
from workbench.engine.store import Store
from workbench.engine.supervisor import Supervisor
from workbench.errors import StartupError, bug_summary
from workbench.layout import FOLDER, ProjectFiles
from workbench.router.listen import LOCAL, Listen
from workbench.runtimes.process import ProcessRuntime
from workbench.spec import Project, load_project
from workbench.spec.project import SPEC_SUFFIXES
from workbench.state import Event, EventKind, EventSeverity

T = TypeVar("T")

OPEN_FILES = 65536
CODE_DEBOUNCE_S = 0.05
"""An editor's save (temporary file, rename, metadata) lands within a few milliseconds; waiting
longer only delays the reload."""


class Engine:
    def __init__(
        self,
        project: Project,
        *,
        builder: EnvironmentBuilder | None = None,
        runtime: str | None = None,
        all_traffic: str | None = None,
        listen: Listen = LOCAL,
    ) -> None:
        self.runtime_override = runtime
        self.all_traffic = all_traffic
        self.listen = listen
        self.project = self._with_runtime(project)
        self.files = ProjectFiles(project.root)
        self.store = Store()
        self.builder = builder or EnvironmentBuilder()
        self._stop = asyncio.Event()
        self.restart = False
        self._changed = asyncio.Event()
        self._causes: set[str] = set()
        self._waiting: list[asyncio.Future[list[str]]] = []
        """Who waits for the reload of the causes recorded so far (`workbench`'s and `azlocal`'s
        commands that change files and then report what came of it)."""
        self._overridden: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._reconciler: asyncio.Task[None] | None = None
        self._code_watcher: Watcher | None = None
        self._code_watched: tuple[set[Path], set[Path]] = (set(), set())

    def request_stop(self, restart: bool = False) -> None:
        """Stop; with `restart`, under a keeper, exit with RESTART_EXIT for it to start the
        engine again once told (promote places a release's files in between). Otherwise the
        keeper is told first that this stop is on purpose: it ends with the engine."""
        self.restart = restart
        keeper = KeeperClient.from_env()
        if keeper is not None and not restart:
            with contextlib.suppress(OSError):
                keeper.stopping(_pid())
        self._stop.set()

    @property
    def exit_code(self) -> int:
        return RESTART_EXIT if self.restart and os.environ.get(KEEPER_ENV) else 0

    async def run(self, on_event: Callable[[Event], None] | None = None) -> None:
        # Logs hold the user's output and query strings, state.json the keys: everything in
        # .workbench/ is the user's alone (the folder is 0700; files with secrets are 0600 too).
        # Containers get what they need through mounts, which the folder's mode does not stop.
        self.files.root.mkdir(parents=True, exist_ok=True)
        self.files.root.chmod(0o700)
        _more_open_files()
        await self._run(on_event)

    async def _run(self, on_event: Callable[[Event], None] | None) -> None:
        """Start-up, main loop, shutdown, as uvicorn's server has them. Each resource made at
        start-up pushes its own teardown; the shutdown is the stack unwinding, last made first
        undone, every step taken even when one before it failed."""
        self._refuse_second_engine()
        async with contextlib.AsyncExitStack() as stack:
            await self._start_up(stack, on_event)
            await self._stop.wait()

    async def _start_up(
        self, stack: contextlib.AsyncExitStack, on_event: Callable[[Event], None] | None
    ) -> None:
        events = self.store.subscribe()
        if on_event is not None:
            printer = asyncio.ensure_future(_print_events(events, on_event))
            stack.push_async_callback(_end_printer, printer)
        registry = ProcessRegistry(self.files.instances)
        orphans = registry.stop_orphans()
        if orphans:
            self.store.publish(
                EventKind.ENGINE, "engine", f"stopped {len(orphans)} instance(s) left by a previous engine"
            )
        copy_server_code(self.files.server_code)
        http = await stack.enter_async_context(aiohttp.ClientSession())
        runtimes = Runtimes(self.project.root, self.project.settings)
        await self._clear_runtimes(runtimes)
        collectors = DataCollectors(self.files.collected)

        def deployments_of(endpoint: str) -> Mapping[str, RoutedDeployment]:
            """The routers read the supervisor's deployments, which ask the routers to
            refresh: the routing is made first, the supervisor right after it."""
            return supervisor.deployments_of(endpoint)

        routing = Routing(self.files, self.store, deployments_of, collectors, self.listen)
        ctx = Context(
            self.files,
            self.store,
            self.builder,
            runtimes,
            LiveSettings(self.project.settings),
            registry,
            http,
            routes=routing,
            collectors=collectors,
        )
        supervisor = Supervisor(ctx)
        scales = ScaleOverrides(routing.saved)
        scaler = Scaler(scales, lambda: self.project, self.request_apply)
        token = secrets.token_urlsafe(32)
        api = ControlApi(
            self.store,
            self.files,
            token=token,
            shutdown=self.request_stop,
            reconcile=self.request_reconcile,
            scale=scaler.scale,
            routing=routing,
            supervisor=supervisor,
        )
        stack.callback(self._say_stopped)
        runner = web.AppRunner(api.build(), access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        stack.push_async_callback(collectors.close)
        stack.push_async_callback(self._stop_instances, supervisor, runtimes)
        stack.push_async_callback(routing.stop)  # first: under a keeper its ports outlive the engine
        stack.push_async_callback(api.canaries.stop_all)  # before it: their traffic set back
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        self._connect(port, token, routing)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.request_stop)
        loop.add_signal_handler(signal.SIGUSR1, _print_tasks)
        stack.push_async_callback(self._end_tasks)
        watcher = self._watch(loop)
        stack.callback(self._stop_watching, watcher)
        self.store.publish(
            EventKind.ENGINE, "engine", f"control API on 127.0.0.1:{port} ({eventloop.name()} event loop)"
        )
        self._background(logrotation.keep_bounded(self.files.root))
        autoscaler = Autoscaler(
            self.store, supervisor.deployments_of, routing.figures, lambda: self.project, scale=scaler.scale
        )
        self._background(autoscaler.run())
        self._reconciler = loop.create_task(
            self._reconcile_loop(supervisor, routing, scales), name="reconcile"
        )

    async def _clear_runtimes(self, runtimes: Runtimes) -> None:
        """What a previous engine's runtimes left (its containers), and how limits are kept."""
        for kind in sorted(runtimes.in_use(self.project)):
            runtime = runtimes.get(kind)
            left = await runtime.remove_orphans(self.project.root)
            if left:
                message = f"removed {len(left)} container(s) left by a previous engine"
                self.store.publish(EventKind.ENGINE, "engine", message)
            if isinstance(runtime, ProcessRuntime):
                self.store.publish(EventKind.ENGINE, "engine", f"instance types' limits: {runtime.limits}")

    def _connect(self, port: int, token: str, routing: Routing) -> None:
        """The connection file that clients find the engine by (0600: it holds the token)."""
        write_json(
            self.files.connection,
            {
                "url": f"http://127.0.0.1:{port}",
                "token": token,
                "pid": _pid(),
                "started": running.started_at(_pid()),
                "root": str(self.project.root),
            },
        )
        running.register(self.project.root, _pid())
        if routing.keeper is not None:
            with contextlib.suppress(OSError):
                routing.keeper.ready(_pid())

    def _stop_watching(self, watcher: Watcher | None) -> None:
        if watcher is not None:
            watcher.stop()
        if self._code_watcher is not None:
            self._code_watcher.stop()

    async def _end_tasks(self) -> None:
        for task in [self._reconciler, *self._tasks]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _stop_instances(self, supervisor: Supervisor, runtimes: Runtimes) -> None:
        """Whatever a router's stop met, no instance outlives the engine."""
        self.store.publish(EventKind.ENGINE, "engine", "stopping every instance")
        await supervisor.stop_all()  # cancels builds and rollouts, drains every instance
        for runtime in runtimes.created():
            await runtime.remove_orphans(self.project.root)  # and whatever they shared

    def _say_stopped(self) -> None:
        self.store.publish(EventKind.ENGINE, "engine", "stopped")
        running.unregister(self.project.root)
        self.files.connection.unlink(missing_ok=True)  # last: `down` waits for the process

    def _with_runtime(self, project: Project) -> Project:
        """`up --runtime` sets the folder's runtime (a deployment's own in workbench.yaml still wins)."""
        if self.runtime_override is None:
            return project
        settings = dataclasses.replace(project.settings, runtime=self.runtime_override)
        return dataclasses.replace(project, settings=settings)

    def _refuse_second_engine(self) -> None:
        info = read_json(self.files.connection, None)
        if (
            isinstance(info, dict)
            and running.alive(int(info.get("pid", 0)), info.get("started"))
            and int(info["pid"]) != _pid()
        ):
            raise StartupError(
                f"an engine is already running for {self.project.root} (pid {info['pid']}); "
                "`workbench down` stops it"
            )

    def request_reconcile(self, cause: str) -> asyncio.Future[list[str]]:
        """Record that a file changed; the reconcile loop reads the folder again and applies it.
        The future says, once that reload is applied, the errors that kept it from applying."""
        self._causes.add(cause)
        done: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._waiting.append(done)
        self._changed.set()
        return done

    def request_apply(self, cause: str) -> None:
        """Record that an override changed (a scale); the reconcile loop applies the desired state
        it has, without reading the folder again."""
        self._overridden.add(cause)
        self._changed.set()

    async def _reconcile_loop(self, supervisor: Supervisor, routing: Routing, scales: ScaleOverrides) -> None:
        """The one task that applies the desired state: at start-up, then after every change,
        merging the changes that arrive while it works. A failure is an event, never a lost task."""
        await self._guarded(self._apply(self.project, supervisor, routing, scales))
        if self.all_traffic:
            self._give_all_traffic(self.all_traffic, routing)
        while True:
            await self._changed.wait()
            self._changed.clear()
            causes, self._causes = ", ".join(sorted(self._causes)), set()
            overridden, self._overridden = "; ".join(sorted(self._overridden)), set()
            waiting, self._waiting = self._waiting, []
            if causes:
                problems = await self._guarded(self._reload(supervisor, routing, scales, causes))
                for done in waiting:
                    if not done.done():
                        done.set_result(
                            ["reconciling failed: see the engine's events"] if problems is None else problems
                        )
            else:
                self.store.publish(EventKind.SPEC, "engine", f"{overridden}; reconciling")
                await self._guarded(self._apply(self.project, supervisor, routing, scales))

    async def _guarded(self, work: Coroutine[Any, Any, T]) -> T | None:
        """What `work` gives, or None when it failed (said as an event)."""
        try:
            return await work
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            self.store.publish(
                EventKind.ENGINE_ERROR,
                "engine",
                f"reconciling failed: {bug_summary(exc)}; a workbench bug, the rest keeps running",
                EventSeverity.ERROR,
            )
            return None

    async def _apply(
        self, project: Project, supervisor: Supervisor, routing: Routing, scales: ScaleOverrides
    ) -> None:
        await routing.apply(project)  # the routers, then the endpoints and their deployments
        started = supervisor.apply(project, routing.effective_traffic, scales)
        routing.refresh()  # once, with both in place
        self.store.publish(
            EventKind.SPEC, "engine", "reconciled: " + ("; ".join(started) or "no deployment changed")
        )
        self._watch_code(asyncio.get_running_loop(), supervisor)

    def _give_all_traffic(self, deployment: str, routing: Routing) -> None:
        """`up --all-traffic NAME`: its endpoint's whole share, as `az ml ... --all-traffic`."""
        for endpoint in self.project.endpoints:
            if endpoint.deployment(deployment) is not None:
                problems = routing.set_traffic(endpoint.name, {deployment: 100}, None)
                for problem in problems:
                    self.store.publish(
                        EventKind.ENDPOINT, endpoint.name, f"--all-traffic {deployment}: {problem}"
                    )

    def _watch_code(self, loop: asyncio.AbstractEventLoop, supervisor: Supervisor) -> None:
        """Scoring code or model files changed: their deployments stage them again and reload in
        place (the old code serves until the new code is ready). Which deployments use a folder
        is looked up when it changes, so a deployment added later is reloaded too."""
        paths = supervisor.reloadable()
        folders = {path for path in paths if path.is_dir()}
        flat = {path.parent for path in paths if not path.is_dir()}  # a model file: not its folder's tree
        if self._code_watcher is not None:
            if self._code_watched == (folders, flat):
                return
            self._code_watcher.stop()
            self._code_watcher = None
        self._code_watched = (folders, flat)
        if not folders and not flat:
            return

        def changed(paths: set[Path]) -> None:
            names = ", ".join(sorted({p.name for p in paths}))
            runners = {
                id(runner): runner
                for path, using in supervisor.reloadable().items()
                if any(path == p or path in p.parents for p in paths)
                for runner in using
            }
            for runner in runners.values():
                self._background(runner.reload_code(f"{names} changed", if_changed=True))

        self._code_watcher = Watcher(
            folders, changed, debounce_s=CODE_DEBOUNCE_S, flat=flat, loop=loop
        ).start()

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(self._guarded(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _watch(self, loop: asyncio.AbstractEventLoop) -> Watcher | None:
        root = self.project.root
        if not root.is_dir():
            return None

        def changed(paths: set[Path]) -> None:
            relevant = {p for p in paths if p.suffix.lower() in SPEC_SUFFIXES and FOLDER not in p.parts}
            if relevant:
                self.request_reconcile(", ".join(sorted(p.name for p in relevant)))

        # Only the folders that hold spec files, not recursively: the engine's own .workbench/
        # (logs, staged code) changes all the time and must cost nothing.
        folders = {root} | {f.parent for f in self.project.files}
        for endpoint in self.project.endpoints:
            for deployment in endpoint.deployments:
                conda = deployment.environment.conda_file if deployment.environment else None
                if conda is not None:
                    folders.add(conda.path.parent)
        watcher = Watcher(folders, changed, recursive=False, loop=loop)
        watcher.start()
        return watcher

    async def _reload(
        self, supervisor: Supervisor, routing: Routing, scales: ScaleOverrides, cause: str
    ) -> list[str]:
        """Read the files again and apply them; the errors that kept them from applying."""
        project = await asyncio.to_thread(
            load_project, list(self.project.named) or self.project.root, self.project.overrides
        )
        if not project.ok:
            problems = [p.format(relative_to=project.root) for p in project.problems if p.is_error]
            self.store.publish(
                EventKind.SPEC,
                "engine",
                f"{cause} changed but has errors; nothing changed:\n  " + "\n  ".join(problems),
                EventSeverity.ERROR,
            )
            return problems
        self.store.publish(EventKind.SPEC, "engine", f"{cause} changed; reconciling")
        self.project = project = self._with_runtime(project)
        await self._apply(project, supervisor, routing, scales)
        return []


async def _end_printer(printer: asyncio.Future[None]) -> None:
    """The printer says the last events (the engine's "stopped" among them), then ends."""
    await asyncio.sleep(0)
    printer.cancel()


async def _print_events(queue: asyncio.Queue[Event], on_event: Callable[[Event], None] | None) -> None:
    while True:
        event = await queue.get()
        if on_event is not None:
            on_event(event)


def _print_tasks() -> None:
    """SIGUSR1: every task of the engine's loop with where it waits, on stderr (the engine's log),
    for a user or a test to see what an engine that seems stuck is waiting on."""
    for task in asyncio.all_tasks():
        print(f"--- task {task.get_name()}", file=sys.stderr)
        task.print_stack(limit=12, file=sys.stderr)
    print("--- tasks end", file=sys.stderr)
    sys.stderr.flush()


def _more_open_files() -> None:
    """Every connection is an open file: the engine takes what the system allows (up to
    OPEN_FILES), so that the routers' connection caps are reached long before the control API or
    a new instance runs out of files."""
    with contextlib.suppress(ValueError, OSError, AttributeError):
        import resource  # noqa: PLC0415 (not on Windows)

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, OPEN_FILES)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _pid() -> int:
    return os.getpid()
