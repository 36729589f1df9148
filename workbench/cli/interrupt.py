"""Waiting for Ctrl-C in a command that holds something open (a recording, an SSH tunnel, a
server it started)."""

from __future__ import annotations

import time

STEP_S = 0.25
"""The longest a Ctrl-C waits to be acted on: Python runs a signal's handler between bytecodes of
the main thread, so a signal that lands just as a blocking wait begins (a lock, as
`threading.Event().wait()` takes), or that another thread takes (a file watcher's), is not seen
until that wait returns, and an unbounded wait never returns."""


def until_interrupted(seconds: float | None = None) -> None:
    """Return after `seconds` (never, for None), or raise KeyboardInterrupt at Ctrl-C."""
    deadline = None if seconds is None else time.monotonic() + seconds
    while True:
        left = STEP_S if deadline is None else min(STEP_S, deadline - time.monotonic())
        if left <= 0:
            return
        time.sleep(left)
