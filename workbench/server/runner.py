"""The thread that runs the user's code: one at a time, like a gunicorn sync worker.

A ThreadPoolExecutor wakes the event loop once per finished call. Here finished calls are
handed back in batches: the thread wakes the loop only when no delivery is pending, so under
load many results cost one wake-up. The event loop never runs user code, so it keeps answering
probes while run() works.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any

_STOP = object()


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

    def _work(self) -> None:
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
