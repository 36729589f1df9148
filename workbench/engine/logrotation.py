"""The logs that are not written through a bounded writer stay bounded too: past MAX_LOG_BYTES a
log is rotated, a few generations kept (`build.log.1` is the newest of them).

Instances' output, a background engine's and the routers' access logs are bounded as they are
written (workbench/logfile.py). What is left (the storage initializer's and the environment
builds' logs, written by other programs with O_APPEND) is checked every CHECK_S and rotated by
copy and truncate, as logrotate's copytruncate does: the writers carry on at the start of the
same file. A bounded writer never lets its file pass the limit, so the two never meet.
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
