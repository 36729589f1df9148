"""Instances left behind by an engine that was killed: recorded as they start, stopped at the
next start-up.

Each instance runs in its own process group; the registry keeps its pid (the group's id), its
start time and the mark in its environment (generation.INSTANCE_MARK, which its workers inherit).
A process is signalled only when it carries that mark: a pid or group id reused by another
program since (they wrap within hours on a busy machine) is left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import psutil

from workbench.engine.files import read_json, write_json
from workbench.engine.generation import INSTANCE_MARK


class ProcessRegistry:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, dict[str, float | str]] = {}

    def add(self, name: str, pid: int, mark: str) -> None:
        with contextlib.suppress(psutil.Error):
            self._entries[name] = {"pid": pid, "created": psutil.Process(pid).create_time(), "mark": mark}
            self._save()

    def remove(self, name: str) -> None:
        if self._entries.pop(name, None) is not None:
            self._save()

    def _save(self) -> None:
        write_json(self.path, self._entries)

    def stop_orphans(self) -> list[str]:
        """Stop every process of every recorded instance that still runs: its process group,
        found by group even when the instance's own process is gone (its workers may not be).
        Only processes that carry the instance's mark are signalled, so a reused pid or group id
        never is. The names of the instances stopped."""
        entries = dict(read_json(self.path, {}))
        stopped: list[str] = []
        if entries:
            groups = _process_groups()
            for name, entry in entries.items():
                pgid, created, mark = int(entry["pid"]), float(entry["created"]), str(entry.get("mark", ""))
                candidates = [p for p, started in groups.get(pgid, []) if started >= created - 0.01]
                members = [p for p in candidates if mark and _carries(p, mark)]
                for pid in members:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
                if members:
                    stopped.append(name)
        write_json(self.path, {})
        return stopped


def _carries(pid: int, mark: str) -> bool:
    """Whether the process's environment has the instance's mark."""
    try:
        return bool(psutil.Process(pid).environ().get(INSTANCE_MARK) == mark)
    except (psutil.Error, OSError):
        return False


def _process_groups() -> dict[int, list[tuple[int, float]]]:
    """Process group id -> [(pid, start time)] of every process this user can see."""
    groups: dict[int, list[tuple[int, float]]] = {}
    for process in psutil.process_iter(["pid", "create_time"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
            groups.setdefault(os.getpgid(process.info["pid"]), []).append(
                (process.info["pid"], float(process.info["create_time"]))
            )
    return groups
