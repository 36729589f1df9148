"""One instance's life: start, wait until ready, probe, restart with capped backoff, give up.

Readiness is polled every 0.1 s from the start, so an instance is routed to as soon as its
server answers (Azure waits `initial_delay` before its first probe; being ready sooner changes
nothing a client sees). A start-up that fails MAX_BOOT_FAILURES times in a row (init() raising,
the script not loading, readiness never reached) marks the instance Failed instead of looping.

Under the debugger (`debug`), an instance runs with debugpy listening on a loopback port, and
its probes are off for as long as it runs so: a breakpoint (which stops every thread, the
server's included) must never look like a hung instance and get it restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

from workbench.dev.debugger import provide_debugpy
from workbench.errors import StartupError
from workbench.runtimes.base import InstanceSpec, RunningInstance
from workbench.state import InstancePhase, InstanceState

if TYPE_CHECKING:
    from workbench.engine.deployments import DeploymentRunner

MAX_BOOT_FAILURES = 3
READY_POLL_S = 0.1
MAX_BACKOFF_S = 30.0
LOG_TAIL_LINES = 20
DEBUGGER_IN_CONTAINER = "/opt/workbench-debugger"
RELOAD_TIMEOUT_S = 600.0
"""A reload runs the user's init(), which may load a large model."""


class InstanceRunner:
    def __init__(self, deployment: DeploymentRunner, serial: int) -> None:
        self.deployment = deployment
        self.serial = serial
        self.ctx = deployment.ctx
        self.state = InstanceState(id=f"{deployment.name}-{serial}")
        self.name = f"{deployment.endpoint}.{deployment.name}.{serial}"
        self.log_file = self.ctx.files.instance_log(deployment.endpoint, deployment.name, self.state.id)
        self.running: RunningInstance | None = None
        self.ready = asyncio.Event()
        self.failure: str | None = None
        self.debugging: Debugging | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def subject(self) -> str:
        return f"{self.deployment.endpoint}/{self.state.id}"

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._live(), name=self.name)

    async def restart(self, cause: str) -> None:
        """A fresh process now, counted as a restart; a Failed instance gets a new chance."""
        await self._cancel_life()
        await self._stop_process()
        self.ready.clear()
        self.failure = None
        self.state.restarts += 1
        self.state.state = InstancePhase.STARTING
        self.ctx.store.publish("instance", self.subject, f"restarting ({cause})")
        self.deployment.instance_changed()
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

    async def reload(self, cause: str, token: str) -> None:
        """Ask the server to load its code again in place; the outcome becomes an event."""
        if self.running is None or self.state.state is not InstancePhase.READY:
            return
        try:
            async with self.ctx.http.post(
                self.running.url + "/-/reload",
                headers={"Authorization": f"Bearer {token}"},
                timeout=aiohttp.ClientTimeout(total=RELOAD_TIMEOUT_S),
            ) as response:
                outcome = await response.json()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
            message = f"reload request failed ({cause}): {exc}"
            self.ctx.store.publish("reload-failed", self.subject, message)
            self.deployment.state.last_reload = f"{self.state.id}: {message}"
            return
        if outcome.get("status") == "reloaded":
            kind = "reload"
            init = (
                f"init() kept: {', '.join(outcome['kept_globals'])}"
                if outcome.get("init") == "kept"
                else f"init {outcome['init_ms']:.0f} ms"
            )
            message = f"reloaded in {outcome['total_ms']:.0f} ms ({init}) ({cause})"
        elif outcome.get("status") == "reloading":
            kind, message = "reload", f"reload signalled to {outcome['workers']} workers ({cause})"
        else:
            kind = "reload-failed"
            message = (
                f"reload failed ({cause}); the previous code keeps serving: "
                f"{outcome.get('file')}:{outcome.get('line')}: "
                f"{outcome.get('error')}: {outcome.get('message')}"
            )
        self.ctx.store.publish(kind, self.subject, message)
        self.deployment.state.last_reload = f"{self.state.id}: {message}"

    async def stop(self) -> None:
        await self._cancel_life()
        await self._stop_process()
        self.state.state = InstancePhase.STOPPED
        self.deployment.instance_changed()

    async def _cancel_life(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _stop_process(self) -> None:
        if self.running is not None:
            await self.deployment.runtime.stop(self.running)
            self.ctx.registry.remove(self.name)
            self.running = None

    async def _live(self) -> None:
        boot_failures = 0
        while True:
            started = time.monotonic()
            exit_code = await self._run_once()
            self.ready.clear()
            if exit_code is None:  # became ready, then exited or failed its liveness probe
                boot_failures = 0
            else:
                boot_failures += 1
            if boot_failures >= MAX_BOOT_FAILURES:
                self.failure = self._reason(self.state.exit_code)
                self.state.state = InstancePhase.FAILED
                self.ctx.store.publish(
                    "instance", self.subject, f"Failed: start-up failed {boot_failures} times"
                )
                self.deployment.instance_changed()
                return
            self.state.restarts += 1
            self.state.state = InstancePhase.CRASHED
            backoff = min(MAX_BACKOFF_S, 0.5 * 2 ** max(0, boot_failures - 1))
            if time.monotonic() - started > 60:
                backoff = 0.5
            self.ctx.store.publish(
                "instance",
                self.subject,
                f"exited with code {self.state.exit_code}; restarting in {backoff:.1f} s "
                f"(restart {self.state.restarts})",
            )
            self.deployment.instance_changed()
            await asyncio.sleep(backoff)

    async def _run_once(self) -> int | None:
        """Start the server and serve until it stops: None if it had become ready, else the
        exit code of a failed start-up."""
        spec = self.deployment.instance_spec(self.name, _free_port(), self.log_file, self.serial)
        if self.debugging is not None:
            spec = self._under_debugger(spec, self.debugging)
        self.state.debug_port = self.debugging.port if self.debugging else None
        try:
            self.running = await self.deployment.runtime.start(spec)
        except StartupError as exc:  # the runtime could not start it: a failed start-up, said why
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            with self.log_file.open("a") as log:
                log.write(f"workbench: {exc}\n")
            self.ctx.store.publish("instance", self.subject, f"could not start: {exc}")
            self.state.exit_code = None
            return -1
        self.state.state, self.state.url, self.state.pid = (
            InstancePhase.STARTING,
            self.running.url,
            self.running.pid,
        )
        self.state.exit_code = None
        if self.running.pid is not None:
            self.ctx.registry.add(self.name, self.running.pid)
        self.deployment.instance_changed()
        exited = asyncio.ensure_future(self.deployment.runtime.wait(self.running))
        try:
            if not await self._until_ready(exited):
                if not exited.done():
                    self.ctx.store.publish(
                        "instance", self.subject, "readiness probe never succeeded; stopping"
                    )
                    await self._stop_process()
                self.state.exit_code = exited.result() if exited.done() else None
                return self.state.exit_code if self.state.exit_code is not None else -1
            self.state.state = InstancePhase.READY
            self.ready.set()
            if self.state.restarts:
                self.ctx.store.publish(
                    "instance", self.subject, f"ready again after restart {self.state.restarts}"
                )
            self.deployment.instance_changed()
            await self._probe_until_exit(exited)
            self.state.exit_code = exited.result() if exited.done() else None
            return None
        finally:
            if not exited.done():
                await self._stop_process()
                exited.cancel()
            self.ctx.registry.remove(self.name)
            self.running = None

    def _under_debugger(self, spec: InstanceSpec, debugging: Debugging) -> InstanceSpec:
        """The server's debugger flags, and debugpy on its path in case the environment lacks it
        (the environment's own comes later on the path and is not used)."""
        debugger = provide_debugpy(self.ctx.files.debugger)
        in_container = self.deployment.runtime.kind == "docker"
        inside = DEBUGGER_IN_CONTAINER if in_container else str(debugger)
        path = os.pathsep.join(filter(None, [spec.environment.get("PYTHONPATH"), inside]))
        return dataclasses.replace(
            spec,
            server_arguments=debugging.server_arguments(),
            environment={**spec.environment, "PYTHONPATH": path},
            mounts={**spec.mounts, str(debugger): DEBUGGER_IN_CONTAINER} if in_container else spec.mounts,
        )

    async def _until_ready(self, exited: asyncio.Future[int]) -> bool:
        probe = self.deployment.spec.readiness_probe
        deadline = time.monotonic() + probe.initial_delay + probe.period * probe.failure_threshold
        if self.debugging is not None:
            deadline = float("inf")  # init() may wait for a debugger, or stop at a breakpoint
        while time.monotonic() < deadline:
            if exited.done():
                return False
            if await self._healthy(probe.timeout, self.deployment.probe_paths[1]):
                return True
            await asyncio.wait([exited], timeout=READY_POLL_S)
        return False

    async def _probe_until_exit(self, exited: asyncio.Future[int]) -> None:
        if self.debugging is not None:
            await asyncio.wait([exited])  # no probes under the debugger (and never cancel `exited`)
            return
        liveness = self.deployment.spec.liveness_probe
        readiness = self.deployment.spec.readiness_probe
        failures = 0
        while not exited.done():
            await asyncio.wait([exited], timeout=liveness.period)
            if exited.done():
                return
            if await self._healthy(liveness.timeout, self.deployment.probe_paths[0]):
                failures = 0
                if self.state.state is InstancePhase.UNREADY:
                    self.state.state = InstancePhase.READY
                    self.ready.set()
                    self.deployment.instance_changed()
                continue
            failures += 1
            if failures >= readiness.failure_threshold and self.state.state is InstancePhase.READY:
                self.state.state = InstancePhase.UNREADY
                self.ready.clear()
                self.deployment.instance_changed()
            if failures >= liveness.failure_threshold:
                self.ctx.store.publish(
                    "instance", self.subject, f"liveness probe failed {failures} times; restarting"
                )
                await self._stop_process()
                return

    async def _healthy(self, timeout_s: float, path: str) -> bool:
        assert self.running is not None
        try:
            async with self.ctx.http.get(
                self.running.url + path, timeout=aiohttp.ClientTimeout(total=timeout_s)
            ) as response:
                return response.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            return False

    def _reason(self, exit_code: int | None) -> str:
        cause = f"exited with code {exit_code}" if exit_code is not None else "readiness probe failed"
        tail = log_tail(self.log_file, LOG_TAIL_LINES)
        return f"ResourceNotReady: User container has crashed or terminated: {cause}\n" + "\n".join(tail)


@dataclass(frozen=True)
class Debugging:
    port: int
    wait: bool

    def server_arguments(self) -> tuple[str, ...]:
        return ("--debug-port", str(self.port), *(("--debug-wait",) if self.wait else ()))


def log_tail(path: Path, lines: int) -> list[str]:
    try:
        with path.open("rb") as file:
            file.seek(0, 2)
            size = file.tell()
            file.seek(max(0, size - 64 * 1024))
            return file.read().decode(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
