"""How the engine's events reach the user: each as a line of the events tab, a warning or an error
marked and coloured; and what needs the user as a toast, one per save rather than four."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.highlighter import Highlighter
from rich.text import Text
from textual.notifications import SeverityLevel

from workbench.state import Event, EventKind, EventSeverity

SEVERITIES: dict[EventSeverity, SeverityLevel] = {
    EventSeverity.INFO: "information",
    EventSeverity.WARNING: "warning",
    EventSeverity.ERROR: "error",
}
RANKS: dict[SeverityLevel, int] = {"information": 0, "warning": 1, "error": 2}
TOAST_QUIET_S = 3.0
"""After a toast for a subject, later ones for it within this time pop up only if more severe."""
TOAST_LINES = 4
MARKS = {EventSeverity.WARNING: "⚠", EventSeverity.ERROR: "✗"}
"""An event line's mark after its time, which the events tab colours."""


def marked(event: Event) -> str:
    """The event's line, a warning or an error marked after its time (EventLook colours it)."""
    line = event.line()
    mark = MARKS.get(event.severity)
    return f"{line[:8]} {mark}{line[8:]}" if mark else line


class EventLook(Highlighter):
    """The events tab: a warning's line yellow, an error's red."""

    def highlight(self, text: Text) -> None:
        mark = text.plain[9:10]
        if mark == MARKS[EventSeverity.ERROR]:
            text.stylize("red")
        elif mark == MARKS[EventSeverity.WARNING]:
            text.stylize("yellow")


@dataclass(frozen=True)
class Toast:
    message: str
    title: str
    severity: SeverityLevel

    @property
    def timeout(self) -> float:
        return 8 if self.severity == "error" else 4


WATCHED = (EventKind.RELOAD, EventKind.ROLLOUT)
"""Routine progress that pops up all the same: someone is waiting on it (a save for its reload, a
rollout for its next step)."""


class Toaster:
    """Which events pop up: by severity (routine progress stays in the tree and the events tab,
    except what someone is WATCHED for), at most one per subject in
    TOAST_QUIET_S unless a later one is more severe, cut to TOAST_LINES lines."""

    def __init__(self) -> None:
        self._shown: dict[str, tuple[float, int]] = {}
        """Per subject: when its last toast popped up, and how severe it was."""

    def toast(self, event: Event) -> Toast | None:
        if event.severity is EventSeverity.INFO and event.kind not in WATCHED:
            return None
        severity = SEVERITIES[event.severity]
        rank = RANKS[severity]
        shown_at, shown_rank = self._shown.get(event.subject, (0.0, -1))
        if time.monotonic() - shown_at < TOAST_QUIET_S and rank <= shown_rank:
            return None  # one save, one toast: what follows it is in the events tab
        self._shown[event.subject] = (time.monotonic(), rank)
        message = event.message
        if event.failure is not None and event.failure.where not in message:
            message += f"\nat {event.failure.summary()}"  # the user's file and line
        lines = message.splitlines()
        if len(lines) > TOAST_LINES:  # the rest is in the events tab, not over the log
            message = "\n".join([*lines[: TOAST_LINES - 1], "… (5: the events tab has the rest)"])
        return Toast(message, event.subject, severity)
