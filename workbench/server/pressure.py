"""CPU and memory pressure on purpose (`workbench fault --cpu-pressure / --memory-pressure`), made
from inside the instance: child processes of its server, so that whatever bounds the instance (a
container's limits, the instance type's memory for processes) and whatever measures it (the
dashboard's CPU and memory, autoscale rules) treats it as the instance's own use. Each child ends
by itself after its seconds, and with the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from typing import Any

MAX_SECONDS = 3600
MAX_MEMORY_MB = 1024 * 1024

BURN = """
import sys, time
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    pass
"""

HOLD = """
import sys, time
block = bytearray(int(sys.argv[2]) * 2**20)
for page in range(0, len(block), 4096):
    block[page] = 1  # touched, so that it is resident, not just reserved
time.sleep(float(sys.argv[1]))
"""


class PressureError(ValueError):
    """A request for pressure that cannot be met as asked."""


class Pressure:
    def __init__(self) -> None:
        self._children: set[asyncio.subprocess.Process] = set()
        self._reapers: set[asyncio.Task[None]] = set()

    async def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        """`cpu_cores` busy processes and one holding `memory_mb` for `seconds`; their pids."""
        cores, memory_mb, seconds = _read(body)
        pids = [await self._spawn(BURN, seconds) for _ in range(cores)]
        if memory_mb:
            pids.append(await self._spawn(HOLD, seconds, memory_mb))
        return {"pids": pids, "cpu_cores": cores, "memory_mb": memory_mb, "seconds": seconds}

    async def _spawn(self, code: str, seconds: float, *args: int) -> int:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, str(seconds), *map(str, args), stdin=asyncio.subprocess.DEVNULL
        )
        self._children.add(child)
        reaper = asyncio.get_running_loop().create_task(self._reap(child))
        self._reapers.add(reaper)
        reaper.add_done_callback(self._reapers.discard)
        return child.pid

    async def _reap(self, child: asyncio.subprocess.Process) -> None:
        await child.wait()
        self._children.discard(child)

    def stop(self) -> None:
        for child in list(self._children):
            with contextlib.suppress(ProcessLookupError):
                child.kill()


def _read(body: dict[str, Any]) -> tuple[int, int, float]:
    try:
        cores = int(body.get("cpu_cores", 0))
        memory_mb = int(body.get("memory_mb", 0))
        seconds = float(body.get("seconds", 30))
    except (TypeError, ValueError) as exc:
        raise PressureError(f"cpu_cores and memory_mb are whole numbers, seconds a number: {exc}") from exc
    limit = 4 * (os.cpu_count() or 1)
    if not 0 <= cores <= limit:
        raise PressureError(f"cpu_cores is from 0 to {limit} (four per core of this machine)")
    if not 0 <= memory_mb <= MAX_MEMORY_MB:
        raise PressureError(f"memory_mb is from 0 to {MAX_MEMORY_MB}")
    if not 0 < seconds <= MAX_SECONDS:
        raise PressureError(f"seconds is more than 0 and at most {MAX_SECONDS}")
    if not cores and not memory_mb:
        raise PressureError("ask for cpu_cores, memory_mb or both")
    return cores, memory_mb, seconds
