"""Instances left behind by an engine that was killed: recorded as they start, stopped at the
next start-up.

Each instance runs in its own process group; the registry keeps its pid and start time, so a
pid reused by an unrelated process is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import psutil

from workbench.engine.files import read_json, write_json


class ProcessRegistry:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, dict[str, float]] = {}

    def add(self, name: str, pid: int) -> None:
        with contextlib.suppress(psutil.Error):
            self._entries[name] = {"pid": pid, "created": psutil.Process(pid).create_time()}
            self._save()

    def remove(self, name: str) -> None:
        if self._entries.pop(name, None) is not None:
            self._save()

    def _save(self) -> None:
        write_json(self.path, self._entries)

    def stop_orphans(self) -> list[str]:
        """Stop every recorded instance that still runs; the names of those stopped."""
        stopped: list[str] = []
        for name, entry in dict(read_json(self.path, {})).items():
            pid = int(entry["pid"])
            try:
                process = psutil.Process(pid)
                if abs(process.create_time() - float(entry["created"])) > 0.01:
                    continue
            except psutil.Error:
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            stopped.append(name)
        write_json(self.path, {})
        return stopped
