"""What the dashboard's keys change in what it shows: the tab, the log (search, pause, filter,
raw, container), zoom, and the layout that fits the terminal's width. Nothing here asks the
engine for anything."""

from __future__ import annotations

import contextlib

from textual import events, on
from textual.css.query import NoMatches
from textual.widgets import TabbedContent

from workbench.tui.selecting import SelectingApp
from workbench.tui.widgets.endpoint_tree import EndpointTree
from workbench.tui.widgets.invoke import InvokePanel
from workbench.tui.widgets.logs import LogPanel

NARROW = 100
"""Columns under which the layout tightens."""


class ViewActions(SelectingApp):
    def on_resize(self, event: events.Resize) -> None:
        self._fit(event.size.width)

    def _fit(self, width: int) -> None:
        """Under NARROW columns the tree shows states as glyphs and the log drops dates."""
        narrow = width < NARROW
        with contextlib.suppress(NoMatches):
            self.main.set_class(narrow, "narrow")
            self.main.query_one(EndpointTree).set_compact(narrow)
            self.main.query_one(LogPanel).narrow = narrow

    def _keep_focus(self) -> None:
        """A tab switch hides what had focus: the focus goes back to the tree, never nowhere."""
        if self.screen is self.main and self.focused is None:
            self.main.query_one(EndpointTree).focus()

    @on(events.DescendantFocus)
    @on(events.DescendantBlur)
    def _mark_focused_pane(self) -> None:
        """The pane that has the focus shows it on its edge (the style sheet's `has-focus`); a
        class on the pane, because Textual restyles only the focused widget's own ancestors."""
        with contextlib.suppress(NoMatches):
            right = self.main.query_one("#right")
            focused = self.focused
            right.set_class(focused is not None and right in focused.ancestors_with_self, "has-focus")

    def action_show_tab(self, tab: str) -> None:
        self.main.query_one(TabbedContent).active = tab

    def action_search_logs(self) -> None:
        """`/` from anywhere: the logs tab, its search field focused."""
        self.action_show_tab("logs")
        self.main.query_one(LogPanel).action_search()

    def action_next_match(self, direction: int) -> None:
        self.action_show_tab("logs")
        if not self.main.query_one(LogPanel).step(direction):
            self.notify("no search yet: / to search the log", severity="warning")

    def action_filter_logs(self) -> None:
        self.action_show_tab("logs")
        self.main.query_one(LogPanel).toggle_filter()

    def action_raw_logs(self) -> None:
        self.action_show_tab("logs")
        self.main.query_one(LogPanel).toggle_raw()

    def action_zoom(self) -> None:
        """The tabs alone (no tree, no summary), or back."""
        self.main.toggle_class("zoomed")

    def action_pause_logs(self) -> None:
        self.action_show_tab("logs")
        self.main.query_one(LogPanel).action_pause()

    def action_log_container(self, step: int) -> None:
        self.action_show_tab("logs")
        self.main.query_one(LogPanel).next_container(step)

    def action_request_log(self) -> None:
        """L: the invoke answer on show, its lines in the router's access log."""
        answer = self.main.query_one(InvokePanel).shown
        request_id = answer.headers.get("x-request-id") if answer else None
        if request_id is None:
            self.notify("no request sent yet: i, then ctrl+s", severity="warning")
            return
        self.action_show_tab("logs")
        self.main.query_one(LogPanel).show_matching(request_id, "router")

    def action_send(self) -> None:
        self.action_show_tab("invoke")
        self.main.query_one(InvokePanel).action_send()
