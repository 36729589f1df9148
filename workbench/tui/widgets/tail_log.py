"""A log view that keeps following its end where Textual's Log loses it.

Log scrolls to its end as lines are written only while its view shows the end. Two things move
the end out of a view that showed it without the user scrolling: the pane getting shorter (Log
keeps the top line where it was: a search field opening above it hid the newest lines, and every
line after them) and all the lines written anew (cleared, Log keeps its offset until a frame is
drawn, and measures "at the end" with it). A TailLog shows its end after both when it showed it
before, unless following is off (`auto_scroll`: the dashboard's pause, or stepping through
matches), and a log started anew follows its end.
"""

from __future__ import annotations

from typing import ClassVar

from rich.highlighter import Highlighter
from textual import events
from textual.binding import Binding, BindingType
from textual.widgets import Log


class TailLog(Log):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "scroll_down", "down", show=False, id="down"),
        Binding("k", "scroll_up", "up", show=False, id="up"),
        Binding("g", "scroll_home", "first line", show=False, id="first"),
        Binding("G", "scroll_end", "last line", show=False, id="last"),
    ]
    """vim's keys, as in the tree (less's too)."""

    def __init__(
        self, *, max_lines: int | None = None, id: str | None = None, highlighter: Highlighter | None = None
    ) -> None:
        super().__init__(max_lines=max_lines, id=id, highlight=highlighter is not None)
        if highlighter is not None:
            self.highlighter = highlighter
        self._rows = 0
        """How many rows the view had before its latest resize."""

    def on_resize(self, event: events.Resize) -> None:
        # the offset may already be held within the new size: at the end is the end shown too
        showed_end = (
            self.is_vertical_scroll_end or self.scroll_offset.y >= self.virtual_size.height - self._rows
        )
        self._rows = self.scrollable_content_region.height
        if showed_end:
            self._follow()

    def rewrite(self, lines: list[str]) -> None:
        """Every line replaced by `lines` (a search's highlights drawn again, a filter), the end
        still in view if it was."""
        showed_end = self.is_vertical_scroll_end
        self.clear()
        self.write_lines(lines, scroll_end=False)
        if showed_end:
            self._follow()

    def restart(self) -> None:
        """Emptied for another log, which shows from its first line and follows its end (after a
        plain `clear()`, the old offset stays until a frame is drawn: lines written before that
        would be measured against it and not followed)."""
        self.clear()
        self.scroll_to(y=0, animate=False, immediate=True)

    def _follow(self) -> None:
        if self.auto_scroll:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
