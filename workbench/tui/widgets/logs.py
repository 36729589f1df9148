"""Logs of the selected item, following live: one tab per container, search, pause and follow.
A deployment's inference-server log is its instances' logs merged, each line prefixed with the
instance it came from; an instance shows its own.

Search (`/`) finds as `less` does: matches highlighted and counted, `n` / `N` to the next and
previous (which pauses following, so the log holds still), Enter back to the log with the search
kept, Esc clears it; `&` shows only the matching lines.

The buffer is bounded (MAX_LINES), so hours of logs do not grow memory. While paused, new lines
still arrive and are kept; following again shows them.

The view's title says whose log it is and whether it follows; a rule starts each run of an
instance (the engine writes it before each start). `w` wraps long lines, `T` hides their leading
time, `S` saves the lines shown to a file, `Y` copies the lines on screen (k9s' keys where it has
them).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Tab, Tabs

from workbench.errors import WorkbenchError
from workbench.tui.source import Source
from workbench.tui.widgets.endpoint_tree import Selection
from workbench.tui.widgets.log_look import DATE, TIMESTAMP, LogLook, drawn, log_title, router_columns
from workbench.tui.widgets.tail_log import TailLog

CONTAINERS = ("inference-server", "storage-initializer", "build", "router")
MAX_LINES = 5000
SAVED = Path(".workbench") / "saved-logs"  # where `S` writes, in the project's folder
FLUSH_S = 0.1
BUSY_FLUSH_S = 0.5
BUSY_LINES = 20
"""New lines are drawn in batches: every FLUSH_S while a log is quiet, at most every BUSY_FLUSH_S
while more than BUSY_LINES arrive between two draws (a router log at hundreds of requests a
second), so that drawing never crowds out the keys."""


class LogPanel(Vertical):
    BINDINGS = [
        Binding("escape", "clear_search", "clear search", show=False, id="clear_search"),
        Binding("w", "wrap", "wrap long lines (again: cut them)", show=False, id="wrap"),
        Binding("T", "timestamps", "hide / show each line's date and time", show=False, id="timestamps"),
        Binding("S", "save", "save the lines shown to a file", show=False, id="save_log"),
        Binding("Y", "copy_screen", "copy the lines on screen", show=False, id="copy_log"),
    ]
    """`/` and `p` are the app's: they work wherever the focus is."""

    def __init__(self, source: Source, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source = source
        self.container = CONTAINERS[0]
        self.selection: Selection | None = None
        self.paused = False
        self.query_text = ""
        self.raw = False
        """The router's access log as it is written (JSON lines), not as columns (`J`)."""
        self.filtering = False
        """Only the lines that match the search are shown (`&`)."""
        self.narrow = False
        """A terminal under 100 columns: lines drop their leading date."""
        self.wrap = False
        """Long lines wrapped to the view's width (`w`), else cut at its edge."""
        self.timestamps = True
        """Lines keep their leading date and time (`T` hides them)."""
        self.match = -1
        """The line (of those shown) that `n` / `N` last went to."""
        self.lines: deque[str] = deque(maxlen=MAX_LINES)
        self._pending: list[str] = []
        self._flushed_at = 0.0
        self._target: tuple[str, str, str, tuple[str, ...]] | str | None = "nothing yet"
        self.instances: tuple[str, ...] = ()
        """The selected deployment's instance ids, for its merged log."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="log-bar"):
            yield Tabs(*(Tab(name, id=name) for name in CONTAINERS), id="log-containers")
            yield Label("", id="log-matches", classes="hidden")
            yield Label("paused", id="log-mode", classes="hidden")
        yield Input(
            placeholder="search (enter: back to the log, n/N: next/previous, &: only matches)",
            id="log-search",
            classes="hidden",
        )
        yield TailLog(max_lines=MAX_LINES, id="log-view")

    def on_mount(self) -> None:
        self.set_interval(FLUSH_S, self._flush)

    def next_container(self, step: int) -> None:
        """Show the next (or previous) container's log. The choice is made here, not when the tab
        says it changed: `]]` pressed faster than a frame moves two tabs."""
        self.container = CONTAINERS[(CONTAINERS.index(self.container) + step) % len(CONTAINERS)]
        self.query_one(Tabs).active = self.container
        self.follow(self.selection, self.instances)

    def _flush(self) -> None:
        if not self._pending or self.paused:
            return
        now = time.monotonic()
        if len(self._pending) > BUSY_LINES and now - self._flushed_at < BUSY_FLUSH_S:
            return
        batch, self._pending, self._flushed_at = self._pending, [], now
        self.query_one(TailLog).write_lines(self._drawn(batch[-MAX_LINES:]))
        if self.query_text:
            self._count()

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        event.stop()
        if event.tab.id and event.tab.id != self.container:
            self.container = event.tab.id
            self.follow(self.selection, self.instances)

    def follow(self, selection: Selection | None, instances: tuple[str, ...] = ()) -> None:
        """Show the log that `selection` and the chosen container point at; `instances` are the
        selected deployment's, whose logs a deployment's inference-server log merges."""
        self.selection = selection
        self.instances = instances
        target = _target(selection, self.container, self.instances)
        if target == self._target:
            return
        self._target = target
        self._restyle()
        self._retitle()
        self.lines.clear()
        self._pending = []
        view = self.query_one(TailLog)
        view.restart()
        if target is None or not target[3]:
            view.write_line(
                "(select a deployment or an instance)"
                if target is None
                else "(no instance yet: its log follows)"
            )
            self.workers.cancel_group(self, "logs")
            return
        self._stream(target)

    @work(exclusive=True, group="logs")
    async def _stream(self, target: tuple[str, str, str, tuple[str, ...]]) -> None:
        endpoint, deployment, container, instances = target
        if len(instances) == 1:
            await self._follow_one(endpoint, deployment, container, instances[0], "")
            return
        await asyncio.gather(
            *(self._follow_one(endpoint, deployment, container, i, f"[{i}] ") for i in instances)
        )

    async def _follow_one(
        self, endpoint: str, deployment: str, container: str, instance: str, prefix: str
    ) -> None:
        try:
            router = container == "router" and not self.raw
            async for raw in self.source.logs(endpoint, deployment, container, instance):
                line = prefix + (router_columns(raw) if router else raw)
                self.lines.append(line)
                if not self.paused and self._shows(line):
                    self._pending.append(line)
        except WorkbenchError as exc:
            self._pending.append(f"{prefix}(log not available: {exc})")

    def _drawn(self, lines: list[str]) -> list[str]:
        """The lines as the view draws them (log_look.drawn)."""
        cut = None if self.timestamps and not self.narrow else (TIMESTAMP if not self.timestamps else DATE)
        width = max(20, self.query_one(TailLog).scrollable_content_region.width - 1) if self.wrap else None
        return drawn(lines, cut, width)

    def _shows(self, line: str) -> bool:
        return not (self.filtering and self.query_text) or self.query_text.lower() in line.lower()

    def _redraw(self) -> None:
        self._pending = []
        # also drops the lines drawn with the previous search's highlights
        self.query_one(TailLog).rewrite(self._drawn([line for line in self.lines if self._shows(line)]))
        self.match = -1
        self._count()

    def _count(self) -> None:
        """The search's matches, counted over the lines shown, and where `n` / `N` is."""
        label = self.query_one("#log-matches", Label)
        label.set_class(not self.query_text, "hidden")
        if self.query_text:
            found = len(self._matching())
            at = f"{self._matching().index(self.match) + 1}/" if self.match in self._matching() else ""
            label.update(
                f"{at}{found} match{'es' if found != 1 else ''}" + (" (only)" if self.filtering else "")
            )

    def _matching(self) -> list[int]:
        wanted = self.query_text.lower()
        return [n for n, line in enumerate(self.query_one(TailLog).lines) if wanted in line.lower()]

    def _set_paused(self, paused: bool) -> None:
        self.paused = paused
        self.query_one("#log-mode", Label).set_class(not paused, "hidden")
        self.query_one(TailLog).auto_scroll = not paused
        self._retitle()

    def _retitle(self) -> None:
        """The view's title: whose log, which container, following or paused, and how drawn."""
        target = self._target if isinstance(self._target, tuple) else None
        instance = self.selection.instance if self.selection else None
        how = ["paused" if self.paused else "following"]
        how += ["wrapped"] if self.wrap else []
        how += ["no times"] if not self.timestamps else []
        self.query_one(TailLog).border_title = f"{log_title(target, instance)} · {', '.join(how)}"

    def action_wrap(self) -> None:
        self.wrap = not self.wrap
        self._retitle()
        self._redraw()

    def action_timestamps(self) -> None:
        self.timestamps = not self.timestamps
        self._retitle()
        self._redraw()

    def on_resize(self) -> None:
        if self.wrap:  # wrapped to the old width
            self._redraw()

    def action_save(self) -> None:
        """The lines shown (all of them, not only the screen's) to a file in the project."""
        lines = [line for line in self.lines if self._shows(line)]
        name = re.sub(r"[^\w.-]+", "-", str(self.query_one(TailLog).border_title or "log").split(" · ")[0])
        folder = self.source.root / SAVED
        path = folder / f"{name}-{self.container}-{time.strftime('%Y%m%dT%H%M%S')}.log"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(f"{line}\n" for line in lines))
        except OSError as exc:
            self.notify(f"log not saved: {exc}", severity="error")
            return
        self.notify(f"{len(lines)} line(s) in {path}", title="log saved")

    def action_copy_screen(self) -> None:
        view = self.query_one(TailLog)
        top = round(view.scroll_offset.y)
        lines = list(view.lines[top : top + view.scrollable_content_region.height])
        self.app.copy_to_clipboard("\n".join(lines))
        self.notify(f"{len(lines)} line(s) copied", title="log copied")

    def action_pause(self) -> None:
        self._set_paused(not self.paused)
        if not self.paused:
            self._redraw()

    def show_matching(self, text: str, container: str) -> None:
        """`container`'s log, only the lines with `text` (a request id), the search kept."""
        self.container = container
        self.query_one(Tabs).active = container
        self.follow(self.selection, self.instances)
        search = self.query_one("#log-search", Input)
        search.remove_class("hidden")
        with search.prevent(Input.Changed):
            search.value = text
        self.query_text, self.filtering = text, True
        self._restyle()
        self._redraw()

    def action_search(self) -> None:
        search = self.query_one("#log-search", Input)
        search.remove_class("hidden")
        search.focus()

    def action_clear_search(self) -> None:
        """Esc: back to the log as it was before the search: every line, following again at its
        end (a search's `n` had paused it; left paused, it stood at the buffer's first line)."""
        search = self.query_one("#log-search", Input)
        search.value = ""
        search.add_class("hidden")
        self.query_text = ""
        self.filtering = False
        self._restyle()
        self._set_paused(False)
        self._redraw()
        view = self.query_one(TailLog)
        view.scroll_end(animate=False)
        view.focus()

    def step(self, direction: int) -> bool:
        """To the next (1) or previous (-1) match, following paused; False with no search."""
        matching = self._matching()
        if not self.query_text:
            return False
        if matching:
            ahead = [n for n in matching if (n - self.match) * direction > 0]
            self.match = (
                (ahead[0] if direction > 0 else ahead[-1]) if ahead else matching[0 if direction > 0 else -1]
            )
            self._set_paused(True)
            view = self.query_one(TailLog)
            view.scroll_to(y=max(0, self.match - view.size.height // 2), animate=False)
        self._count()
        return True

    def toggle_raw(self) -> None:
        """The router's log as columns, or as the JSON lines it is written in; read again."""
        self.raw = not self.raw
        self._target = None
        self.follow(self.selection, self.instances)

    def toggle_filter(self) -> None:
        self.filtering = not self.filtering
        self._redraw()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "log-search":
            event.stop()
            self.query_text = event.value
            self._restyle()
            self._redraw()

    def _restyle(self) -> None:
        view = self.query_one(TailLog)
        router = self.container == "router" and not self.raw
        view.highlighter = LogLook(self.query_text, router=router)
        view.highlight = bool(self.query_text) or router  # a highlighter copies every line it draws

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter: back to the log, the search kept (n / N go through its matches)."""
        if event.input.id == "log-search":
            event.stop()
            self.query_one(TailLog).focus()


def _target(
    selection: Selection | None, container: str, instances: tuple[str, ...]
) -> tuple[str, str, str, tuple[str, ...]] | None:
    if selection is None:
        return None
    if container == "router":
        return (selection.endpoint, "", "router", ("0",))
    if selection.deployment is None:
        return None
    if selection.instance is not None:
        return (selection.endpoint, selection.deployment, container, (selection.instance,))
    if container == "inference-server":  # every instance's, merged; none before the first starts
        return (selection.endpoint, selection.deployment, container, instances)
    return (selection.endpoint, selection.deployment, container, ("0",))
