"""Which event loop runs a coroutine: uvloop where it is installed (Linux and macOS), asyncio's
own elsewhere or when WORKBENCH_EVENT_LOOP=asyncio. The inference server and the engine both run
on it. Stdlib only (uvloop imported when there), as the rest of the server."""

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
            uvloop = importlib.import_module("uvloop")  # not on Windows, not in every environment
        except ImportError:
            pass
        else:
            result: T = uvloop.run(main)
            return result
    return asyncio.run(main)


def name() -> str:
    """The running loop's kind."""
    return "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"
