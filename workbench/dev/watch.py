"""Watching folders for changes that matter: debounced, with editor and tool noise ignored.

A save in an editor is often several events (a swap file, a rename, a write); they are gathered
on an event loop for `debounce_s` after the last one (one timer, moved by each event) and
delivered once, as the set of paths that changed. A file
made and renamed onto another within one gathering (`sed -i`, editors' and tools' atomic writes)
is reported by the name it ends with only.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from workbench.layout import FOLDER

IGNORED_PARTS = {
    "__pycache__",
    ".git",
    ".hg",
    ".svn",
    ".mypy_cache",
    ".pytest_cache",
    ".ipynb_checkpoints",
    FOLDER,
    ".venv",
    "node_modules",
}
IGNORED_NAMES = ("*.swp", "*.swx", "*.swo", "*~", ".#*", "#*#", "*.pyc", "*.tmp", ".DS_Store", "4913")


def ignored(path: Path) -> bool:
    if IGNORED_PARTS.intersection(path.parts):
        return True
    return any(fnmatch.fnmatch(path.name, pattern) for pattern in IGNORED_NAMES)


class Watcher:
    """Delivers each gathering to `on_change` on `loop` (the engine's: no thread of its own per
    event, and the engine's work stays on its loop); without one, on a loop of the watcher's own,
    in one thread for as long as it watches."""

    def __init__(
        self,
        folders: Iterable[Path],
        on_change: Callable[[set[Path]], None],
        *,
        debounce_s: float = 0.15,
        recursive: bool = True,
        flat: Iterable[Path] = (),
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.folders = sorted({f.resolve() for f in folders})
        self.flat = sorted(
            f for f in {f.resolve() for f in flat} if not any(f == d or d in f.parents for d in self.folders)
        )
        """Folders watched without their subfolders (the folder of a single watched file), unless a
        recursive one covers them already."""
        self.recursive = recursive
        self.on_change = on_change
        self.debounce_s = debounce_s
        self._loop = loop
        self._own_loop: threading.Thread | None = None
        self._pending: set[Path] = set()
        self._created: set[Path] = set()
        """Files made within this gathering: renamed away, they were a tool's temporary file."""
        self._flush_at: asyncio.TimerHandle | None = None
        self._observer = Observer()

    def start(self) -> Watcher:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._own_loop = threading.Thread(target=self._loop.run_forever, name="watcher", daemon=True)
            self._own_loop.start()
        handler = _Handler(self._event)
        for folder in self.folders:
            self._observer.schedule(handler, str(folder), recursive=self.recursive)
        for folder in self.flat:
            self._observer.schedule(handler, str(folder), recursive=False)
        self._observer.start()
        return self

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if self._own_loop is not None:
            loop.call_soon_threadsafe(loop.stop)
            self._own_loop.join(timeout=5)
            loop.close()
        elif self._flush_at is not None:
            self._flush_at.cancel()  # on the loop's own thread: the engine stops it there

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _event(self, path: Path, moved_to: Path | None = None, created: bool = False) -> None:
        """Watchdog's thread: the event goes to the loop, where everything else happens."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between: stopping
                loop.call_soon_threadsafe(self._gather, path, moved_to, created)

    def _gather(self, path: Path, moved_to: Path | None, created: bool) -> None:
        if moved_to is not None and path in self._created:  # a temporary file's final name
            self._created.discard(path)
            self._pending.discard(path)
        elif not ignored(path):
            self._pending.add(path)
            if created:
                self._created.add(path)
        if moved_to is not None and not ignored(moved_to):
            self._pending.add(moved_to)
        if not self._pending:
            return
        if self._flush_at is not None:
            self._flush_at.cancel()
        assert self._loop is not None
        self._flush_at = self._loop.call_later(self.debounce_s, self._flush)

    def _flush(self) -> None:
        changed, self._pending, self._created, self._flush_at = self._pending, set(), set(), None
        if changed:
            self.on_change(changed)


class _Handler(FileSystemEventHandler):
    def __init__(self, report: Callable[[Path, Path | None, bool], None]) -> None:
        self.report = report

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in ("opened", "closed_no_write"):
            return  # a folder's own events repeat what its files' events say
        source = _path(event.src_path)
        moved_to = _path(event.dest_path) if event.event_type == "moved" and event.dest_path else None
        self.report(source, moved_to, event.event_type == "created")


def _path(value: str | bytes) -> Path:
    return Path(value if isinstance(value, str) else value.decode())
