"""Every log the workbench writes stays bounded: past MAX_LOG_BYTES a log is rotated, a few
generations kept (`inference-server.log.1` is the newest of them).

The writers are many (instances' own output, the engine's, the router's access log, the storage
initializer's) and all append (O_APPEND), some from other processes; so a log is rotated by copy
and truncate, as logrotate's copytruncate does: the writers carry on at the start of the same
file, nobody needs to reopen anything. Lines written during the copy itself may be lost; that
is the price of not touching the writers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

MAX_LOG_BYTES = 10 * 1024 * 1024
GENERATIONS = 3
CHECK_S = 1.0


def rotate_if_large(path: Path, limit: int = MAX_LOG_BYTES, generations: int = GENERATIONS) -> bool:
    """Rotate `path` if it has grown past `limit`; whether it did."""
    try:
        if path.stat().st_size <= limit:
            return False
    except FileNotFoundError:
        return False
    for number in range(generations - 1, 0, -1):
        older = path.with_name(f"{path.name}.{number}")
        if older.exists():
            os.replace(older, path.with_name(f"{path.name}.{number + 1}"))
    shutil.copyfile(path, path.with_name(f"{path.name}.1"))
    os.truncate(path, 0)
    return True


def logs_under(root: Path) -> Iterable[Path]:
    """The workbench's logs in a project's `.workbench/`: the engine's and everything under logs/."""
    yield root / "engine.log"
    yield from (root / "logs").rglob("*.log")


async def keep_bounded(root: Path, limit: int = MAX_LOG_BYTES) -> None:
    """Check the project's logs every CHECK_S and rotate those past `limit`, until cancelled."""
    while True:
        await asyncio.to_thread(_check, root, limit)
        await asyncio.sleep(CHECK_S)


def _check(root: Path, limit: int) -> None:
    for path in list(logs_under(root)):
        with contextlib.suppress(OSError):  # a log removed meanwhile, a full disk: next time
            rotate_if_large(path, limit)
