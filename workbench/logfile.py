"""A log file bounded as it is written: past `limit` bytes it is renamed to `NAME.1` (the older
generations shift to `.2`, `.3`) and a new file begins, so the disk holds at most the live file
and `generations` kept ones, however fast the writer. A write that fails (a full disk) drops its
bytes, counts them, and never raises: the next write that succeeds starts with a line saying how
much was lost. The writer is the file's only writer (instances' output comes through a pipe), so
rotation by rename loses nothing.

Stdlib only: the runtimes, the router and the engine use it alike.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

MAX_LOG_BYTES = 10 * 1024 * 1024
GENERATIONS = 3
PIPE_CHUNK = 65536


RUN_MARK = "──── "
"""How the line that starts each run of an instance begins: the dashboard draws it as a rule."""


def say_started(name: str, start: int, at: float) -> str:
    """The line written before each start of an instance, between one run's output and the next."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
    return f"{RUN_MARK}{name}: start {start} at {stamp} ────\n"


def say_dropped(count: int) -> bytes:
    return f"[workbench] {count} byte(s) of output dropped: the log could not be written\n".encode()


class BoundedLog:
    def __init__(
        self,
        path: Path,
        limit: int = MAX_LOG_BYTES,
        generations: int = GENERATIONS,
        note: Callable[[int], bytes] = say_dropped,
    ) -> None:
        self.path = path
        self.note = note
        """The line that says how many bytes were dropped, in the log's own format."""
        self.limit = limit
        self.generations = generations
        self.dropped = 0
        """Bytes lost to failed writes since the last write that succeeded."""
        self._lock = threading.Lock()
        self._fd = -1
        self._size = 0
        self._line_open = False
        """The file ends inside a line (a write that failed half way): the note starts a new one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._open()

    def write(self, data: bytes) -> None:
        """Append `data` (rotating first when it would pass the limit); never raises OSError."""
        if not data:
            return
        with self._lock:
            if self._fd < 0 and not self._open():
                self._drop(len(data))
                return
            if self._size and self._size + len(data) > self.limit:
                self._rotate()
            if self.dropped:
                note = (b"\n" if self._line_open else b"") + self.note(self.dropped)
                if not self._put(note):
                    self._drop(len(data))
                    return
                self.dropped = 0
            if not self._put(data):
                self._drop(len(data))

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def _open(self) -> bool:
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._size = os.fstat(self._fd).st_size
        except OSError:
            self._fd = -1
            return False
        return True

    def _put(self, data: bytes) -> bool:
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                self._size += written
                self._line_open = view[written - 1] != ord("\n")
                view = view[written:]
        except OSError:
            return False
        return True

    def _drop(self, count: int) -> None:
        self.dropped += count

    def _rotate(self) -> None:
        """NAME → NAME.1 → NAME.2 ..., the oldest past `generations` removed; a new NAME begins."""
        os.close(self._fd)
        self._fd = -1
        try:
            oldest = self.path.with_name(f"{self.path.name}.{self.generations}")
            oldest.unlink(missing_ok=True)
            for number in range(self.generations - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{number}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{self.path.name}.{number + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        except OSError:
            pass  # renames need no space; a failure here leaves the live file to grow no further
        self._open()


def pump(source_fd: int, log: BoundedLog) -> None:
    """Copy a pipe into `log` until every writer has closed it (a thread's work); the pipe's end
    is closed here."""
    try:
        while True:
            try:
                chunk = os.read(source_fd, PIPE_CHUNK)
            except InterruptedError:
                continue
            if not chunk:
                return
            log.write(chunk)
    finally:
        os.close(source_fd)


def start_pump(source_fd: int, log: BoundedLog, name: str) -> threading.Thread:
    thread = threading.Thread(target=pump, args=(source_fd, log), name=f"log {name}", daemon=True)
    thread.start()
    return thread


def capture_output(log: BoundedLog) -> None:
    """This process's stdout and stderr (its own prints, a traceback, a child's output) through a
    pipe into `log`, for a process whose output has no terminal to go to (a background engine)."""
    sys.stdout.flush()
    sys.stderr.flush()
    reader, writer = os.pipe()
    os.dup2(writer, sys.stdout.fileno())
    os.dup2(writer, sys.stderr.fileno())
    os.close(writer)
    thread = start_pump(reader, log, "output")

    def drain() -> None:  # at exit: what is still in the pipe reaches the log
        sys.stdout.flush()
        sys.stderr.flush()
        os.close(sys.stdout.fileno())
        os.close(sys.stderr.fileno())
        thread.join(2.0)

    atexit.register(drain)
