"""The engines this user runs, wherever their projects are: a file per engine under
`$XDG_STATE_HOME/endpoint-workbench/engines/` (mode 0700) naming its project folder and pid, so
that a command run outside a project finds the one engine that runs (and lists them when several
do). The project's own `.workbench/connection.json` stays the engine's address; this only points
to it. An entry whose engine is gone is ignored and removed.

An engine is known by its pid and its start time together (`alive`): a pid that another program
holds by now (pids wrap within hours on a busy machine) is not the engine, and blocks nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

import psutil


def folder() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "endpoint-workbench" / "engines"


def _entry(root: Path) -> Path:
    return folder() / (hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16] + ".json")


def started_at(pid: int) -> float:
    """The process's start time (psutil's), to tell it from a later holder of its pid; 0 if gone."""
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return 0.0


def alive(pid: int, started: float | None) -> bool:
    """The process `pid` exists, has not ended (a zombie has), and is the one that started at
    `started` (None: not recorded, as files of older versions have it)."""
    if pid <= 0:
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(process.create_time() - started) < 0.5
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def register(root: Path, pid: int) -> None:
    """Says that the engine `pid` runs the project at `root`."""
    path = _entry(root)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fresh = path.with_suffix(".tmp")
    fresh.write_text(json.dumps({"root": str(root.resolve()), "pid": pid, "started": started_at(pid)}))
    fresh.replace(path)


def unregister(root: Path) -> None:
    _entry(root).unlink(missing_ok=True)


def running() -> list[Path]:
    """The project folders whose engines run now, sorted."""
    roots = []
    for path in sorted(folder().glob("*.json")) if folder().is_dir() else []:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            entry = json.loads(path.read_text())
            root, pid = Path(entry["root"]), int(entry["pid"])
            if alive(pid, entry.get("started")) and (root / ".workbench" / "connection.json").is_file():
                roots.append(root)
                continue
            path.unlink(missing_ok=True)
    return sorted(roots)
