"""A test double of the runtime: instances that exist only in memory and exit when told to.

For engine tests of what cannot run here (a GPU, a Docker engine); the process runtime needs no
double, it is tested for real.
"""

from __future__ import annotations

import asyncio
import itertools

from workbench.runtimes.base import InstanceSpec, OnTheHost, RunningInstance


class FakeRuntime(OnTheHost):
    kind = "fake"

    def __init__(self) -> None:
        self.started: list[InstanceSpec] = []
        self._exits: dict[str, asyncio.Future[int]] = {}
        self._pids = itertools.count(10_000)

    async def start(self, spec: InstanceSpec) -> RunningInstance:
        self.started.append(spec)
        self._exits[spec.name] = asyncio.get_running_loop().create_future()
        return RunningInstance(spec, next(self._pids), f"http://127.0.0.1:{spec.port}")

    async def stop(self, instance: RunningInstance, grace_s: float = 5.0) -> None:
        self.exit(instance.spec.name, -15)

    async def wait(self, instance: RunningInstance) -> int:
        return await self._exits[instance.spec.name]

    async def kill(self, instance: RunningInstance) -> None:
        self.exit(instance.spec.name, -9)

    async def healthy(self, url: str, path: str, timeout_s: float) -> bool:
        """The double's probe (engine/probes.py's Prober): an instance is healthy until it exits."""
        port = int(url.rsplit(":", 1)[1])
        started = [s for s in self.started if s.port == port]
        return bool(started) and not self._exits[started[-1].name].done()

    def exit(self, name: str, code: int) -> None:
        """Make the named instance exit with `code`, as a crash would."""
        future = self._exits.get(name)
        if future is not None and not future.done():
            future.set_result(code)
