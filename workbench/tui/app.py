"""The dashboard: a tree of endpoints on the left; on the right the selected endpoint's summary
and traffic bar above tabs for logs, metrics, invoke, mirror comparison and events.

It talks to the engine only through a `Source`, so it never blocks on the network, and it never
holds the data plane: closing or crashing it leaves every request that was in flight unharmed.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import time
from collections.abc import Iterable
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Header, TabbedContent, TabPane, Tabs, Tree

from workbench.contract import Telemetry
from workbench.errors import WorkbenchError
from workbench.state import Event
from workbench.tui.engine_actions import EngineActions
from workbench.tui.event_feed import EventLook, Toaster, marked
from workbench.tui.keys import APP_KEYS, TABS
from workbench.tui.palette import PALETTE
from workbench.tui.screens.faults import FaultEditor
from workbench.tui.screens.help import HelpScreen
from workbench.tui.screens.quit import QuitScreen
from workbench.tui.screens.traffic import TrafficEditor
from workbench.tui.selecting import EVENT_LINES
from workbench.tui.settings import DashboardSettings, load, settings_path
from workbench.tui.source import Source
from workbench.tui.widgets.command_line import COMMANDS, CommandLine
from workbench.tui.widgets.endpoint_tree import EndpointTree
from workbench.tui.widgets.invoke import InvokePanel
from workbench.tui.widgets.logs import LogPanel
from workbench.tui.widgets.metrics import MetricsPanel
from workbench.tui.widgets.mirror import MirrorPanel
from workbench.tui.widgets.sortable_table import SortableTable
from workbench.tui.widgets.tail_log import TailLog
from workbench.tui.widgets.traffic_bar import EndpointSummary

STATUS_S = 0.5
METRICS_S = 1.0


class WorkbenchApp(EngineActions):
    """Exits with "quit" (the caller stops an engine it started) or "detach" (it keeps running)."""

    CSS_PATH = "workbench.tcss"
    TITLE = "endpoint workbench"
    BINDINGS: ClassVar[list[BindingType]] = list(APP_KEYS)

    def __init__(self, source: Source, *, quit_stops_engine: bool = True) -> None:
        super().__init__(source)
        self.quit_stops_engine = quit_stops_engine
        self.quit_binding = Binding("q", "quit_engine", "stop" if quit_stops_engine else "quit", id="quit")
        """What q does to the engine, said in the footer: "stop" (the engine and every instance
        with the dashboard) or "quit" (an engine this dashboard did not start keeps running)."""
        self._bindings.key_to_bindings.setdefault(self.quit_binding.key, []).append(self.quit_binding)
        self.settings_file = settings_path()
        self.started_at = time.time()
        self.sub_title = f"{source.root} · times in UTC"  # logs, events and invokes: one clock
        self.toaster = Toaster()

    def exit(self, result: str | None = None, return_code: int = 0, message: Any | None = None) -> None:
        """Stop following events first: a line written to the events log as the app shuts down
        starts a width-measuring thread that finds no app any more and fails the exit."""
        self.workers.cancel_group(self, "events")
        super().exit(result, return_code, message)

    async def on_unmount(self) -> None:
        """The source's connections are closed in the app's own loop, as it ends: closed after
        it, a connection still open fails the exit ("Event loop is closed")."""
        await self.source.close()

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            yield EndpointTree(self.source.now, id="tree")
            with Vertical(id="right"):
                yield EndpointSummary(self.source.root, id="summary")
                with TabbedContent(initial="logs", id="tabs"):
                    with TabPane("Logs", id="logs"):
                        yield LogPanel(self.source, id="log-panel")
                    with TabPane("Metrics", id="metrics"):
                        yield MetricsPanel(id="metrics-panel")
                    with TabPane("Invoke", id="invoke"):
                        yield InvokePanel(self.source, id="invoke-panel")
                    with TabPane("Mirror", id="mirror"):
                        yield MirrorPanel(id="mirror-panel")
                    with TabPane("Events", id="events"):
                        yield TailLog(max_lines=EVENT_LINES, id="event-log", highlighter=EventLook())
        yield CommandLine(id="command-line")
        yield Footer()

    def on_mount(self) -> None:
        settings = self._apply_settings()
        sections: list[tuple[str, list[BindingType]]] = [
            ("Dashboard", [self.quit_binding, *self.BINDINGS]),
            ("Endpoints tree", list(EndpointTree.BINDINGS)),
            ("Commands (:)", [Binding(f":{name}", "", what) for name, what in COMMANDS.items()]),
            ("Logs tab", [*LogPanel.BINDINGS, *TailLog.BINDINGS]),
            ("Invoke tab", list(InvokePanel.BINDINGS)),
            ("Tables", list(SortableTable.BINDINGS)),
            ("Traffic editor", list(TrafficEditor.BINDINGS)),
            ("Fault editor", list(FaultEditor.BINDINGS)),
        ]
        self.install_screen(HelpScreen(sections, settings.keys), "help")  # built once: '?' shows it at once
        for strip in self.main.query(Tabs):  # 1-5 and [ ] choose tabs: Tab goes to what they show
            strip.can_focus = False
        self.main.query_one(EndpointTree).focus()
        self._fit(self.size.width)
        gc.freeze()  # what start-up built is never garbage: full collections stay short
        self.set_interval(STATUS_S, self.refresh_status)
        self.set_interval(METRICS_S, self.refresh_metrics)
        self.refresh_status()
        self.follow_events()

    # -- what the engine says ------------------------------------------------------------------

    def _apply_settings(self) -> DashboardSettings:
        """The user's theme and keys (settings.py), what could not be applied said once."""
        sections = (self.BINDINGS, LogPanel.BINDINGS, TailLog.BINDINGS, EndpointTree.BINDINGS)
        groups = (*sections, SortableTable.BINDINGS, [self.quit_binding])
        ids = {b.id for group in groups for b in group if isinstance(b, Binding)}
        settings = load(self.settings_file, self.available_themes, [i for i in ids if i])
        if settings.theme:
            self.theme = settings.theme
        if settings.keys:
            self.set_keymap(settings.keys)
        for problem in settings.problems:
            self.notify(problem, title="dashboard settings", severity="warning", timeout=10)
        return settings

    @work(exclusive=True, group="metrics")
    async def refresh_metrics(self) -> None:
        try:
            tab = self.main.query_one(TabbedContent).active
        except NoMatches:  # the app is closing
            return
        endpoint = self.selected_endpoint
        if tab not in ("metrics", "mirror") or endpoint is None:
            return
        try:
            metrics = await self.source.metrics(endpoint.name)
            telemetry = await self.source.telemetry() if tab == "metrics" else Telemetry()
        except WorkbenchError:
            return  # the status poll reports a lost engine
        with contextlib.suppress(NoMatches):  # the answer came as the app was closing
            if tab == "metrics":
                await self.main.query_one(MetricsPanel).show(endpoint, metrics, telemetry)
            else:
                self.main.query_one(MirrorPanel).show(metrics.mirror, endpoint.mirror_traffic)

    @work(group="events")
    async def follow_events(self) -> None:
        log = self.main.query_one("#event-log", TailLog)
        with contextlib.suppress(NoMatches):  # events that came as the app was closing
            await self._show_events(log)

    async def _show_events(self, log: TailLog) -> None:
        try:
            async for event in self.source.events():
                self.events.append(event)
                log.write_line(marked(event))
                if event.time >= self.started_at:
                    self._notify_event(event)
        except WorkbenchError as exc:
            self.engine_lost(str(exc))

    def _notify_event(self, event: Event) -> None:
        toast = self.toaster.toast(event)
        if toast is not None:
            self.notify(toast.message, title=toast.title, severity=toast.severity, timeout=toast.timeout)

    @on(Tree.NodeHighlighted)
    def _highlighted(self) -> None:
        self.selection_changed()
        self.refresh_metrics()

    # -- the command line: `:` commands, `/` filter on the tree ----------------------------------

    def action_command(self) -> None:
        self.main.query_one(CommandLine).open("command")

    @on(CommandLine.Filter)
    def _filter(self, event: CommandLine.Filter) -> None:
        self.main.query_one(EndpointTree).filter_by(event.text)

    @on(CommandLine.Closed)
    def _command_line_closed(self) -> None:
        if isinstance(self.focused, CommandLine) or self.focused is None:
            self.main.query_one(EndpointTree).focus()

    @on(CommandLine.Run)
    async def _run(self, event: CommandLine.Run) -> None:
        await self.run_command(event.command)

    async def run_command(self, line: str) -> None:
        """A `:` command: `logs blue`, `traffic`, `shell blue-0`, `q` (command_line.COMMANDS)."""
        verb, _, rest = line.partition(" ")
        verb, name = verb.lower().lstrip(":"), rest.strip()
        if verb in ("q", "quit"):
            await self.action_quit_engine()
            return
        if verb == "help":
            self.action_help()
            return
        if verb == "filter":
            tree = self.main.query_one(EndpointTree)
            if name:
                tree.filter_by(name)
            else:  # typed next, applied as it is typed
                self.call_after_refresh(self.main.query_one(CommandLine).open, "filter", tree.filter_text)
            return
        simple = {"traffic": self.action_traffic, "describe": self.action_describe, "edit": self.action_edit}
        if verb not in (*TABS, *simple, "deploy", "shell"):
            known = ", ".join(COMMANDS)
            self.notify(f"no command :{verb}; the commands: {known}", severity="warning")
            return
        if name and not self.main.query_one(EndpointTree).select_named(name):
            self.notify(f"no endpoint, deployment or instance named {name}", severity="warning")
            return
        if verb in TABS:
            self.action_show_tab(verb)
        elif verb == "shell":
            await self.action_shell()
        elif verb in simple:
            simple[verb]()

    @on(EndpointTree.DrillIn)
    def _drill_in(self) -> None:
        self.action_show_tab("logs")
        self.main.query_one("#log-view", TailLog).focus()

    # -- actions -------------------------------------------------------------------------------

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.refresh_metrics()
        self.call_after_refresh(self._keep_focus)

    def action_help(self) -> None:
        self.push_screen("help")

    async def action_quit_engine(self) -> None:
        """q: quit at once when nothing would be lost; with instances serving and the engine to
        stop with the dashboard, ask first (stop, detach, or stay), saying what serves."""
        instances = [i for e in self.endpoints for d in e.deployments for i in d.instances]
        serving = sum(1 for i in instances if i.serves)
        if not self.quit_stops_engine or serving == 0:
            self.exit("quit")
            return
        recent = await self._recent_requests()
        said = f"{serving} instance(s) serving; " + (
            f"{recent} request(s) in the last 10 s" if recent else "no request in the last 10 s"
        )

        def answered(choice: str | None) -> None:
            if choice is not None:
                self.exit(choice)

        self.push_screen(QuitScreen(said), answered)

    async def _recent_requests(self, seconds: int = 10) -> int:
        total = 0
        for endpoint in self.endpoints:
            try:
                metrics = await self.source.metrics(endpoint.name)
            except WorkbenchError:
                continue
            total += sum(sum(d.timeline.requests[-seconds:]) for d in metrics.deployments.values())
        return total

    def action_detach(self) -> None:
        self.exit("detach")

    def action_help_quit(self) -> None:
        """ctrl+c: as q (it asks while instances serve); ctrl+c again in the question stops."""
        self.call_later(self.action_quit_engine)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The workbench's own actions in the command palette (ctrl+p), before Textual's, each
        acting on the selection as its key does."""
        for title, help_text, action in PALETTE:
            yield SystemCommand(title, help_text, functools.partial(self.run_action, action))
        yield from super().get_system_commands(screen)
