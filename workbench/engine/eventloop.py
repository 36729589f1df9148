"""The event loop the engine runs on: uvloop where it is installed (Linux and macOS), asyncio's
own elsewhere or when WORKBENCH_EVENT_LOOP=asyncio.

The engine's hottest work is the router moving bytes between sockets; uvloop's transports do
that with less CPU per request: 17-20% more throughput through the router on the 2-core machine
(tests/benchmarks/bench_router.py measures both loops).
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
CHOICE = "WORKBENCH_EVENT_LOOP"


def run(main: Coroutine[Any, Any, T]) -> T:
    if os.environ.get(CHOICE, "uvloop") != "asyncio":
        try:
            uvloop = importlib.import_module("uvloop")  # not on Windows
        except ImportError:
            pass
        else:
            result: T = uvloop.run(main)
            return result
    return asyncio.run(main)


def name() -> str:
    """The running loop's kind, for the engine's first event."""
    return "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"
