"""The thread that runs the user's code: one at a time, like a gunicorn sync worker.

A run() past the scoring timeout is interrupted as azmlinfsrv's alarm interrupts it: an exception
(ScoringTimeout) raised in its thread at the next Python instruction, and that thread abandoned,
so the next request runs at once on a new one. Like the alarm, this cannot stop code that runs in
C without returning to Python (a model's forward pass); unlike the alarm, it does not cut short
a blocking system call (time.sleep), which finishes first.

A ThreadPoolExecutor wakes the event loop once per finished call. Here finished calls are
handed back in batches: the thread wakes the loop only when no delivery is pending, so under
load many results cost one wake-up. The event loop never runs user code, so it keeps answering
probes while run() works.
"""

from __future__ import annotations

import asyncio
import ctypes
import queue
import threading
from collections.abc import Callable
from typing import Any

_STOP = object()


class ScoringTimeout(Exception):
    """Raised in a run() that went past SCORING_TIMEOUT_MS."""


class RunThread:
    def __init__(self, loop: asyncio.AbstractEventLoop, name: str = "run") -> None:
        self.loop = loop
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._done: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        self._lock = threading.Lock()
        self._wake_pending = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, function: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = self.loop.create_future()
        self._queue.put((future, function, args))
        return future

    def stop(self) -> None:
        self._queue.put(_STOP)

    def abandon(self) -> None:
        """Interrupt the run() in progress and take no more work: its result, if it comes, is
        still delivered; the thread then ends."""
        self.stop()
        ident = self._thread.ident
        if ident is not None and self._thread.is_alive():
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(ident), ctypes.py_object(ScoringTimeout)
            )

    def _work(self) -> None:
        try:
            self._serve()
        except ScoringTimeout:
            return  # an interrupt that arrived after its run() had ended: this thread was abandoned

    def _serve(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            future, function, args = item
            outcome: tuple[asyncio.Future[Any], Any, BaseException | None]
            try:
                outcome = (future, function(*args), None)
            except BaseException as exc:
                outcome = (future, None, exc)
            with self._lock:
                self._done.append(outcome)
                wake = not self._wake_pending
                self._wake_pending = True
            if wake:
                try:
                    self.loop.call_soon_threadsafe(self._deliver)
                except RuntimeError:  # the loop has closed: shutting down
                    return

    def _deliver(self) -> None:
        with self._lock:
            done, self._done = self._done, []
            self._wake_pending = False
        for future, result, error in done:
            if future.cancelled():
                continue
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
