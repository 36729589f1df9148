"""Logging in azmlinfsrv's shape: UTC times, one-letter level, pid, logger name.

    2026-11-24 17:58:12,892 I [17291] azmlinfsrv - POST /score 200 0.364ms 38

`print()` to stdout from the user's code becomes an `azmlinfsrv.print` INFO line; the user's own
`logging` calls go through the root logger at WARNING, as on Azure.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import json
import logging
import logging.config
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FORMAT = "%(asctime)s %(levelname).1s [%(process)d] %(name)s - %(message)s"
TREE_LINE_LIMIT = 200

logger = logging.getLogger("azmlinfsrv")
_default_print = builtins.print


class UtcFormatter(logging.Formatter):
    converter = staticmethod(time.gmtime)


def configure(app_root: Path, entry_script: Path) -> str | None:
    """Install the server's logging; a user `logging.json` (app root, then script folder) wins."""
    for folder in (app_root, entry_script.parent):
        path = folder / "logging.json"
        if path.is_file():
            logging.config.dictConfig(json.loads(path.read_text()))
            return str(path)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(UtcFormatter(FORMAT))
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return None


@functools.wraps(print)
def _print_to_logger(
    *objects: Any, sep: str | None = " ", end: str | None = "\n", file: Any = None, flush: bool = False
) -> None:
    target = file or sys.stdout
    if target is sys.stdout:
        logging.getLogger("azmlinfsrv.print").info((sep if sep is not None else " ").join(map(str, objects)))
    else:
        _default_print(*objects, sep=sep, end=end, file=target, flush=flush)


def redirect_print() -> None:
    builtins.print = _print_to_logger


def model_dir_tree(path: str) -> list[str]:
    lines = list(_walk(os.path.normpath(path), 0))
    if len(lines) > TREE_LINE_LIMIT:
        return [*lines[:TREE_LINE_LIMIT], f"Output Truncated. First {TREE_LINE_LIMIT} lines shown."]
    return lines


def _walk(path: str, depth: int) -> Iterator[str]:
    indent = " " * depth * 4
    name = os.path.basename(path.rstrip(os.sep))
    if os.path.isdir(path):
        yield f"{indent}{name}{os.sep}"
        for child in sorted(os.listdir(path)):
            yield from _walk(os.path.join(path, child), depth + 1)
    else:
        yield f"{indent}{name}"


class RequestLog:
    """The one summary line per request, the hottest log call: with the default configuration it
    is formatted directly and flushed within `FLUSH_S` rather than after every line. With a
    user's logging.json it goes through the `azmlinfsrv` logger like every other line."""

    FLUSH_S = 0.05

    def __init__(self, loop: asyncio.AbstractEventLoop, custom_config: bool) -> None:
        self.loop = loop
        self.direct = not custom_config and logger.isEnabledFor(logging.INFO)
        self.pid = os.getpid()
        self._second = -1
        self._prefix = ""
        self._flush_pending = False

    def write(self, message: str) -> None:
        if not self.direct:
            logger.info(message)
            return
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
        sys.stdout.write(
            f"{self._prefix},{int((now - second) * 1000):03d} I [{self.pid}] azmlinfsrv - {message}\n"
        )
        if not self._flush_pending:
            self._flush_pending = True
            self.loop.call_later(self.FLUSH_S, self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        sys.stdout.flush()
