"""In-place reload: load the new code and run its init() while the old code keeps serving.

The switch happens only when the new code imported and its init() returned. When either fails,
the old code goes on serving and the failure is reported with the exception, file and line.
When neither init() nor the model changed (the exact rule is in initstate.py), init() is not run
again: the new code takes over the globals the old init() built, so a model is not reloaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from workbench.server.admin import ReloadAnswer, Reloaded, ReloadFailed, ReloadFailure
from workbench.server.scoring import Scoring, ScriptError, UserCodeFailed, load_scoring
from workbench.server.script import UserScript
from workbench.server.settings import Settings

logger = logging.getLogger("azmlinfsrv.reload")


class Reloader:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lock = asyncio.Lock()
        self.count = 0
        self.last: ReloadAnswer | None = None

    async def reload(self, cause: str, current: UserScript | None) -> tuple[ReloadAnswer, Scoring | None]:
        async with self.lock:
            loop = asyncio.get_running_loop()
            outcome, scoring = await loop.run_in_executor(None, self._load, cause, current)
            self.last = outcome
            if scoring is not None:
                self.count += 1
            return outcome, scoring

    def _load(self, cause: str, current: UserScript | None) -> tuple[ReloadAnswer, Scoring | None]:
        settings = self.settings
        start = time.perf_counter()
        forget_user_modules(settings.app_root, settings.entry_script.parent)
        try:
            loaded = load_scoring(settings, current)
        except (ScriptError, UserCodeFailed) as exc:
            failure = describe_failure(exc, settings.entry_script)
            logger.error(
                f"Reload failed ({cause}); the previous code keeps serving: "
                f"{failure.file}:{failure.line}: {failure.error}: {failure.message}"
            )
            return ReloadFailed(cause, failure), None
        outcome = Reloaded(
            cause,
            loaded.load_ms,
            loaded.init_ms,
            "kept" if loaded.kept_globals is not None else "ran",
            tuple(loaded.kept_globals or ()),
            round((time.perf_counter() - start) * 1000, 3),
        )
        logger.info(f"Reloaded {settings.entry_script.name} in {outcome.total_ms} ms ({cause})")
        return outcome, loaded.scoring


def forget_user_modules(*folders: Path) -> None:
    """Drop modules imported from the user's code folders, so the new code imports them afresh.
    The old code keeps its own references to them, so it is unaffected."""
    roots = [str(f.resolve()) for f in folders]
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and any(file.startswith(root + "/") for root in roots):
            del sys.modules[name]


def describe_failure(exc: BaseException, script: Path) -> ReloadFailure:
    """Exception type, message, and the file and line in the user's code where it happened."""
    cause = exc.__cause__ or exc
    file, line = str(script), 0
    if isinstance(cause, SyntaxError) and cause.filename:
        file, line = cause.filename, cause.lineno or 0
    else:
        frames = traceback.extract_tb(cause.__traceback__)
        user = [f for f in frames if f.filename.startswith(str(script.parent))] or frames
        if user:
            file, line = user[-1].filename, user[-1].lineno or 0
    return ReloadFailure(
        type(cause).__name__, str(cause), file, line, "".join(traceback.format_exception(cause))
    )


POLL_S = 0.5


async def poll_for_changes(folder: Path, on_change: Callable[[str], None], every_s: float = POLL_S) -> None:
    """`--reload` without any watcher package (the server runs in environments that have none):
    every `every_s`, the size and modification time of every file under `folder`; a difference
    calls `on_change` with the files that changed."""
    loop = asyncio.get_running_loop()
    seen = await loop.run_in_executor(None, _snapshot, folder)
    while True:
        await asyncio.sleep(every_s)
        now = await loop.run_in_executor(None, _snapshot, folder)
        if now != seen:
            changed = sorted({*now.items()} ^ {*seen.items()})
            names = ", ".join(sorted({Path(name).name for name, _ in changed}))
            seen = now
            on_change(f"{names} changed")


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    files: dict[str, tuple[int, int]] = {}
    for root, subfolders, names in os.walk(folder):
        subfolders[:] = [d for d in subfolders if d not in ("__pycache__", ".git") and not d.startswith(".")]
        for name in names:
            if name.endswith((".pyc", ".swp", "~")) or name.startswith(".#"):
                continue
            path = os.path.join(root, name)
            with contextlib.suppress(OSError):
                stat = os.stat(path)
                files[path] = (stat.st_size, stat.st_mtime_ns)
    return files
