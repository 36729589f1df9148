"""The event loop the engine runs on: uvloop where it is installed (Linux and macOS), asyncio's
own elsewhere or when WORKBENCH_EVENT_LOOP=asyncio.

The engine's hottest work is the router moving bytes between sockets; uvloop's transports do
that with less CPU per request: 17-20% more throughput through the router on the 2-core machine
(tests/benchmarks/bench_router.py measures both loops).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from workbench.server import loops

T = TypeVar("T")
CHOICE = loops.CHOICE
run = loops.run
name = loops.name
"""The event loop: the same choice as the inference server's (workbench/server/loops.py)."""


async def cancelled(task: asyncio.Task[Any], nudge_s: float = 1.0) -> None:
    """Cancel `task` and return once it has ended. Python before 3.12 can lose a cancellation
    inside `asyncio.wait_for` when the awaited thing completes at that very moment (gh-86296):
    the task then goes on as if never cancelled, and awaiting it would wait forever. So the
    cancellation is repeated until the task is done."""
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=nudge_s)
    if not task.cancelled():
        task.exception()  # retrieved: an error it ended with is its own to report, not this wait's


async def uncancelled(work: Awaitable[T]) -> T:
    """Await `work` to its end even when the caller is cancelled meanwhile, then raise that
    cancellation. For a stop that must not be cut short: `cancelled` above repeats its cancel
    every second, and a process stopped between its SIGTERM and its SIGKILL would live on."""
    task = asyncio.ensure_future(work)
    interrupted = False
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                raise  # the work itself was cancelled, or ended as the caller was
            interrupted = True
        else:
            break
    if interrupted:
        raise asyncio.CancelledError
    return result
