"""One instance's life: start, wait until ready, probe, restart with backoff, give up, drain.

An instance is handed its generation (what it runs) and a callback for changes; it never looks
at its deployment.

Readiness is polled every 0.1 s from the start, so an instance is routed to as soon as its
server answers (Azure waits `initial_delay` before its first probe; being ready sooner changes
nothing a client sees). A start-up that fails MAX_BOOT_FAILURES times in a row (init() raising,
the script not loading, readiness never reached) marks the instance Failed instead of looping.
An instance that was ready and then crashed restarts at once the first time, then after a delay
that grows as Kubernetes' CrashLoopBackOff does (10 s doubling to 5 min), forgotten once it has
run healthy for 10 minutes.

Leaving is always drained: the instance leaves the route table first, the requests it is
serving finish (at most the deployment's request timeout), then its processes stop. A restart
the engine or the user asks for starts the new process first and retires the old one once the
new one is ready, so an endpoint with one instance answers throughout.

Under the debugger (`debug`), an instance runs with debugpy listening on a loopback port, and
its probes are off for as long as it runs so: a breakpoint (which stops every thread, the
server's included) must never look like a hung instance and get it restarted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from workbench.contract import Failure
from workbench.dev.debugger import provide_debugpy
from workbench.engine import eventloop, failures
from workbench.engine.context import Context
from workbench.engine.generation import INSTANCE_MARK, Generation, instance_spec
from workbench.errors import EngineError, StartupError, bug_summary
from workbench.logfile import say_started
from workbench.runtimes.base import InstanceSpec, RunningInstance
from workbench.server import admin
from workbench.state import EventKind, EventSeverity, InstancePhase, InstanceState

MAX_BOOT_FAILURES = 3
BOOT_RETRY_S = 0.5
"""The first retry of a failed start-up; doubled for each further one."""
CRASH_BACKOFF_S = 10.0
MAX_CRASH_BACKOFF_S = 300.0
HEALTHY_RESET_S = 600.0
"""Kubernetes' CrashLoopBackOff: 10 s doubling to 5 min, reset after 10 min of healthy running."""
READY_POLL_S = 0.1
LOG_TAIL_LINES = 20
LOG_TAIL_BYTES = 64 * 1024
DEBUGGER_IN_CONTAINER = "/opt/workbench-debugger"
RELOAD_TIMEOUT_S = 600.0
"""A reload runs the user's init(), which may load a large model."""
ADMIN_TIMEOUT_S = 30.0


def crash_backoff(crashes: int) -> float:
    """The delay before restarting an instance that was ready and has now crashed `crashes`
    times in a row: at once the first time, then 10 s doubling to 5 min."""
    if crashes <= 1:
        return 0.0
    return min(MAX_CRASH_BACKOFF_S, CRASH_BACKOFF_S * 2.0 ** (crashes - 2))


def exit_cause(code: int | None, running: RunningInstance | None = None) -> str:
    """What an exit code says, in words: a negative one is the signal that killed it; an instance
    its runtime saw killed for its memory is OOMKilled, as Azure reports it."""
    if running is not None and running.oom_killed:
        limit = running.spec.memory_bytes
        over = f" ({limit / 2**30:.1f} GiB, the instance type's)" if limit else ""
        return f"OOMKilled: the instance went over its memory limit{over}; {exit_cause(code)}"
    if code is None:
        return "exited"
    if running is not None and running.killed_on_purpose:
        return f"exited with code {code}: killed on purpose (workbench fault --kill)"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory, or killed from outside)" if -code == signal.SIGKILL else ""
        return f"exited with code {code}: killed by {name}{hint}"
    if code == 137:
        return "exited with code 137: killed (SIGKILL; out of memory, or killed from outside)"
    return f"exited with code {code}"


class InstanceRunner:
    def __init__(
        self, ctx: Context, generation: Generation, serial: int, on_change: Callable[[], None]
    ) -> None:
        self.ctx = ctx
        self.generation = generation
        self.serial = serial
        self.on_change = on_change
        self.state = InstanceState(id=f"{generation.deployment}-{serial}")
        self.name = f"{generation.endpoint}.{generation.deployment}.{serial}"
        self.log_file = ctx.files.instance_log(generation.endpoint, generation.deployment, self.state.id)
        self.running: RunningInstance | None = None
        self.retiring: RunningInstance | None = None
        """The previous process of a restart: it serves until the new one is ready."""
        self.ready = asyncio.Event()
        self.settled = asyncio.Event()
        """Set once the instance is ready or has given up (Failed)."""
        self.failure: str | None = None
        """Why it gave up starting, in Azure's words with the log's last lines."""
        self.code_failure: Failure | None = None
        """Where in the user's code it failed, when its log says (a traceback)."""
        self.debugging: Debugging | None = None
        self._task: asyncio.Task[None] | None = None
        self._leaving = False
        self._handing_over = False

    @property
    def subject(self) -> str:
        return f"{self.generation.endpoint}/{self.state.id}"

    def routes(self) -> list[str]:
        """The URLs the router may send this instance's share to."""
        urls = []
        if self.state.state is InstancePhase.READY and self.state.url and not self._leaving:
            urls.append(self.state.url)
        if self.retiring is not None:
            urls.append(self.retiring.url)
        return urls

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._live(), name=self.name)

    async def restart(self, cause: str) -> None:
        """A fresh process, counted as a restart; a Failed instance gets a new chance. A ready
        instance keeps serving from its old process until the new one is ready."""
        previous = self.running if self.state.state is InstancePhase.READY else None
        self._handing_over = previous is not None
        try:
            await self._cancel_life()
        finally:
            self._handing_over = False
        if previous is not None:
            await self._retire()  # a restart during a restart: the oldest goes now
            self.retiring = previous
            self.state.handing_over = True
        self.ready.clear()
        self.settled.clear()
        self.failure = self.code_failure = None
        self.state.restarts += 1
        self._become(InstancePhase.STARTING, f"restarting ({cause})")
        self.start()

    async def debug(self, *, wait: bool) -> Debugging:
        """Restart under the debugger on a free loopback port; `wait` holds init() until a
        debugger attaches."""
        self.debugging = Debugging(port=_free_port(), wait=wait)
        await self.restart(f"debugger on 127.0.0.1:{self.debugging.port}" + (", waiting" if wait else ""))
        return self.debugging

    async def stop_debugging(self) -> None:
        if self.debugging is not None:
            self.debugging = None
            await self.restart("debugger off")

    async def reload(self, cause: str) -> ReloadOutcome | None:
        """Ask the server to load its code again in place; the outcome becomes an event and is
        returned (None when the instance was not serving)."""
        if self.running is None or self.state.state is not InstancePhase.READY:
            return None
        try:
            async with self.ctx.http.post(
                self.running.url + "/-/reload",
                headers={"Authorization": f"Bearer {self.generation.admin_token}"},
                timeout=aiohttp.ClientTimeout(total=RELOAD_TIMEOUT_S),
            ) as response:
                answer = admin.read_reload(await response.json())
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
            message = f"reload request failed ({cause}): {exc}"
            self.ctx.store.publish(EventKind.INSTANCE, self.subject, message)
            return ReloadOutcome(self.state.id, message, failed=True)
        if isinstance(answer, admin.Reloaded):
            init = (
                f"init() kept: {', '.join(answer.kept_globals)}"
                if answer.init == "kept"
                else f"init {answer.init_ms:.0f} ms"
            )
            message = f"reloaded in {answer.total_ms:.0f} ms ({init}) ({cause})"
        elif isinstance(answer, admin.ReloadSignalled):
            message = f"reload signalled to {answer.workers} workers ({cause})"
        else:
            failure = failures.from_reload(answer.failure, self.generation.user_paths)
            message = f"reload failed ({cause}); the previous code keeps serving: {failure.summary()}"
            self.ctx.store.publish(EventKind.INSTANCE, self.subject, message, failure=failure)
            return ReloadOutcome(self.state.id, message, failed=True, failure=failure)
        self.ctx.store.publish(EventKind.INSTANCE, self.subject, message)  # the deployment sums them up
        return ReloadOutcome(self.state.id, message)

    async def kill(self) -> None:
        """SIGKILL its server at once, as a host failure would: the crash is handled as any
        other (restarted with backoff, its requests answered 502 meanwhile)."""
        if self.running is None:
            raise EngineError(f"{self.subject} is not running: nothing to kill")
        self.ctx.store.publish(
            EventKind.INSTANCE,
            self.subject,
            "killed on purpose (workbench fault --kill)",
            EventSeverity.WARNING,
        )
        self.running.killed_on_purpose = True
        await self.generation.runtime.kill(self.running)

    async def pressure(self, cpu_cores: int, memory_mb: int, seconds: float) -> None:
        """Busy CPU cores and held memory inside the instance for `seconds`, made by its server."""
        if self.running is None or self.state.state is not InstancePhase.READY:
            raise EngineError(f"{self.subject} is not ready: no pressure to apply")
        if self.generation.settings.server == "azmlinfsrv":
            raise EngineError(
                f"{self.subject} runs azmlinfsrv: CPU and memory pressure need the workbench server"
            )
        try:
            async with self.ctx.http.post(
                self.running.url + "/-/pressure",
                headers={"Authorization": f"Bearer {self.generation.admin_token}"},
                json={"cpu_cores": cpu_cores, "memory_mb": memory_mb, "seconds": seconds},
                timeout=aiohttp.ClientTimeout(total=ADMIN_TIMEOUT_S),
            ) as response:
                answer = await response.json()
                if response.status != 200:
                    raise EngineError(f"{self.subject}: {answer.get('message')}")
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
            raise EngineError(f"{self.subject} did not take the pressure: {exc}") from exc

    async def stop(self, *, drain: bool = True) -> None:
        """Leave the route table, let the requests in flight finish (at most the request
        timeout), then stop every process of the instance."""
        urls = self.routes() if drain else []
        self._leaving = True
        if self.state.state is InstancePhase.READY:
            self._become(InstancePhase.DRAINING)
        else:
            self.ready.clear()
            self.on_change()
        if urls:
            await self.ctx.drain(self.generation.endpoint, urls, self.generation.drain_s)
        await self._cancel_life()
        await self._retire(drain=False)
        self.state.pid = None
        self._become(InstancePhase.STOPPED)

    async def _cancel_life(self) -> None:
        if self._task is not None:
            await eventloop.cancelled(self._task)
            self._task = None

    async def _retire(self, *, drain: bool = True) -> None:
        """The previous process of a restart: out of the route table, drained, stopped."""
        old, self.retiring = self.retiring, None
        self.state.handing_over = False
        if old is None:
            return
        self.on_change()
        try:
            if drain:
                await self.ctx.drain(self.generation.endpoint, [old.url], self.generation.drain_s)
        finally:  # cancelled while it drains (a stop, a scale-down): it is still stopped, never left running
            await eventloop.uncancelled(self._stop_retired(old))

    async def _stop_retired(self, old: RunningInstance) -> None:
        await self.generation.runtime.stop(old)
        self.ctx.registry.remove(old.spec.name)

    async def _live(self) -> None:
        boot_failures = 0
        crashes = 0
        while True:
            try:
                was_ready, cause, healthy_s = await self._run_once()
            except Exception as exc:  # a workbench failure: said, and handled as a failed start
                cause = f"workbench error: {bug_summary(exc)}"
                was_ready, healthy_s = False, 0.0
            self.ready.clear()
            if self._leaving:
                return
            if was_ready:
                boot_failures = 0
                crashes = 1 if healthy_s >= HEALTHY_RESET_S else crashes + 1
                delay = crash_backoff(crashes)
            else:
                boot_failures += 1
                delay = BOOT_RETRY_S * 2 ** (boot_failures - 1)
            if boot_failures >= MAX_BOOT_FAILURES:
                self.failure, self.code_failure = self._reason(cause)
                self.settled.set()
                said = f"Failed: start-up failed {boot_failures} times ({cause})"
                self._become(InstancePhase.FAILED, said, EventSeverity.ERROR)
                await self._retire()
                return
            self.state.restarts += 1
            when = f"in {delay:.1f} s" if delay else "at once"
            said = f"{cause}; restarting {when} (restart {self.state.restarts})"
            self._become(InstancePhase.CRASHED, said, EventSeverity.WARNING)
            await asyncio.sleep(delay)

    def _launch_name(self) -> str:
        """The runtime's name for the next process: a restart's new process must not take the
        name (a container's) of the old one that still serves."""
        if self.retiring is not None and self.retiring.spec.name == self.name:
            return f"{self.name}-next"
        return self.name

    def _mark_start(self) -> None:
        """A line between the previous run's output and this one's (the dashboard draws a rule)."""
        try:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            with self.log_file.open("a") as log:
                log.write(say_started(self.state.id, self.state.restarts + 1, time.time()))
        except OSError:
            pass  # a full disk: the run's own lines say when it started

    async def _run_once(self) -> tuple[bool, str, float]:
        """Start the server and serve until it stops: whether it had become ready, why it
        ended, and for how long it was ready."""
        runtime = self.generation.runtime
        spec = instance_spec(self.generation, self._launch_name(), _free_port(), self.log_file, self.serial)
        if self.debugging is not None:
            spec = self._under_debugger(spec, self.debugging)
        self._mark_start()
        self.state.debug_port = self.debugging.port if self.debugging else None
        try:
            running = await runtime.start(spec)
        except StartupError as exc:  # the runtime could not start it: a failed start-up, said why
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            with self.log_file.open("a") as log:
                log.write(f"workbench: {exc}\n")
            self.state.exit_code = None
            return False, f"could not start: {exc}", 0.0
        self.running = running
        self.state.url, self.state.pid, self.state.exit_code = running.url, running.measured_pid, None
        if running.pid is not None:
            self.ctx.registry.add(spec.name, running.pid, spec.environment.get(INSTANCE_MARK, ""))
        self._become(InstancePhase.STARTING)
        exited = asyncio.ensure_future(runtime.wait(running))
        try:
            started = time.monotonic()
            if not await self._until_ready(exited):
                if exited.done():
                    self.state.exit_code = exited.result()
                    return False, exit_cause(self.state.exit_code, self.running), 0.0
                waited = time.monotonic() - started
                return False, f"readiness probe never succeeded in {waited:.0f} s", 0.0
            if self._leaving:
                return True, "stopped", 0.0
            self.settled.set()
            again = f"ready again after restart {self.state.restarts}" if self.state.restarts else None
            self._become(InstancePhase.READY, again)
            await self._retire()
            ready_at = time.monotonic()
            cause = await self._probe_until_exit(exited)
            return True, cause, time.monotonic() - ready_at
        finally:
            if not (self._handing_over and self.running is running):
                # Its whole process tree, even when the parent has gone (its workers may not have).
                await eventloop.uncancelled(runtime.stop(running))
                self.ctx.registry.remove(spec.name)
                if self.state.pid == running.measured_pid:  # a process that has ended has no pid
                    self.state.pid = None
            if not exited.done():
                exited.cancel()
            if self.running is running:
                self.running = None

    def _under_debugger(self, spec: InstanceSpec, debugging: Debugging) -> InstanceSpec:
        """The server's debugger flags, and debugpy on its path in case the environment lacks it
        (the environment's own comes later on the path and is not used)."""
        debugger = provide_debugpy(self.ctx.files.debugger)
        in_container = self.generation.runtime.kind == "docker"
        inside = DEBUGGER_IN_CONTAINER if in_container else str(debugger)
        path = os.pathsep.join(filter(None, [spec.environment.get("PYTHONPATH"), inside]))
        return dataclasses.replace(
            spec,
            server_arguments=debugging.server_arguments(),
            environment={**spec.environment, "PYTHONPATH": path},
            mounts={**spec.mounts, str(debugger): DEBUGGER_IN_CONTAINER} if in_container else spec.mounts,
        )

    async def _until_ready(self, exited: asyncio.Future[int]) -> bool:
        probe = self.generation.readiness
        deadline = time.monotonic() + probe.initial_delay + probe.period * probe.failure_threshold
        if self.debugging is not None:
            deadline = float("inf")  # init() may wait for a debugger, or stop at a breakpoint
        while time.monotonic() < deadline:
            if exited.done():
                return False
            if await self._healthy(probe.timeout, self.generation.probe_paths[1]):
                return True
            await asyncio.wait([exited], timeout=READY_POLL_S)
        return False

    async def _probe_until_exit(self, exited: asyncio.Future[int]) -> str:
        """Probe until the process exits or fails liveness; why it ended."""
        if self.debugging is not None:
            await asyncio.wait([exited])  # no probes under the debugger (and never cancel `exited`)
            self.state.exit_code = exited.result()
            return exit_cause(self.state.exit_code, self.running)
        liveness = self.generation.liveness
        readiness = self.generation.readiness
        failures = 0
        while not exited.done():
            await asyncio.wait([exited], timeout=liveness.period)
            if exited.done():
                break
            if await self._healthy(liveness.timeout, self.generation.probe_paths[0]):
                failures = 0
                if self.state.state is InstancePhase.UNREADY and not self._leaving:
                    self._become(InstancePhase.READY)
                continue
            failures += 1
            if failures >= readiness.failure_threshold and self.state.state is InstancePhase.READY:
                self._become(InstancePhase.UNREADY)
            if failures >= liveness.failure_threshold:
                cause = f"liveness probe failed {failures} times"
                self.ctx.store.publish(
                    EventKind.INSTANCE, self.subject, f"{cause}; restarting", EventSeverity.WARNING
                )
                return cause
        self.state.exit_code = exited.result()
        return exit_cause(self.state.exit_code, self.running)

    def _become(
        self, phase: InstancePhase, said: str | None = None, severity: EventSeverity = EventSeverity.INFO
    ) -> None:
        """The one transition of the instance's phase: its state, whether it takes requests, the
        event that says why (when there is one), and the change published, in that order."""
        self.state.state = phase
        if phase is InstancePhase.READY:
            self.ready.set()
        else:
            self.ready.clear()
        if said is not None:
            self.ctx.store.publish(EventKind.INSTANCE, self.subject, said, severity)
        self.on_change()

    async def _healthy(self, timeout_s: float, path: str) -> bool:
        running = self.running
        if running is None:
            return False
        return await self.ctx.prober.healthy(running.url, path, timeout_s)

    def _reason(self, cause: str) -> tuple[str, Failure | None]:
        """Azure's words for a container that gave up, with the log's last lines; and the
        traceback's place in the user's code, where the log has one."""
        tail = [self.generation.user_paths(line) for line in log_tail(self.log_file, LOG_TAIL_LINES)]
        reason = f"ResourceNotReady: User container has crashed or terminated: {cause}\n" + "\n".join(tail)
        code = self.generation.spec.code_configuration
        return reason, failures.from_traceback(tail, str(code.code) if code else None)


@dataclass(frozen=True)
class ReloadOutcome:
    """How one instance's in-place reload went, in words, and where the user's code failed."""

    instance: str
    message: str
    failed: bool = False
    failure: Failure | None = None
    """Set when the new code failed to load (not when the request itself failed)."""


@dataclass(frozen=True)
class Debugging:
    port: int
    wait: bool

    def server_arguments(self) -> tuple[str, ...]:
        return ("--debug-port", str(self.port), *(("--debug-wait",) if self.wait else ()))


def log_tail(path: Path, lines: int) -> list[str]:
    """The last `lines` lines of a log, read backwards in blocks as far as they need."""
    try:
        with path.open("rb") as file:
            end = file.seek(0, 2)
            start, data = end, b""
            while start > 0 and data.count(b"\n") <= lines:
                start = max(0, start - LOG_TAIL_BYTES)
                file.seek(start)
                data = file.read(end - start)
            # from a block's start, the first line may be cut: there are more than `lines` anyway
            return data.decode(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
