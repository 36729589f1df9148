"""The dashboard: a tree of endpoints on the left; on the right the selected endpoint's summary
and traffic bar above tabs for logs, metrics, invoke, mirror comparison and events.

It talks to the engine only through a `Source`, so it never blocks on the network, and it never
holds the data plane: closing or crashing it leaves every request that was in flight unharmed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import time
from collections import deque
from collections.abc import Awaitable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from rich.highlighter import Highlighter
from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Footer, Header, TabbedContent, TabPane, Tree

from workbench.contract import Telemetry
from workbench.errors import WorkbenchError
from workbench.instance_shell import command_line, edit, open_shell
from workbench.spec.deployment import MAX_INSTANCES
from workbench.state import DeploymentState, EndpointState, Event
from workbench.tui.palette import PALETTE
from workbench.tui.screens.confirm import ConfirmScreen
from workbench.tui.screens.describe import DescribeScreen
from workbench.tui.screens.error import ErrorScreen
from workbench.tui.screens.faults import PRESSURE_MB, PRESSURE_SECONDS, FaultEditor, FaultRequest
from workbench.tui.screens.help import HelpScreen
from workbench.tui.screens.mirrored import MirroredScreen
from workbench.tui.screens.quit import QuitScreen
from workbench.tui.screens.traffic import TrafficEditor
from workbench.tui.source import Source
from workbench.tui.widgets.command_line import COMMANDS, CommandLine
from workbench.tui.widgets.endpoint_tree import EndpointTree, Selection
from workbench.tui.widgets.invoke import InvokePanel
from workbench.tui.widgets.logs import LogPanel
from workbench.tui.widgets.metrics import MetricsPanel
from workbench.tui.widgets.mirror import MirrorPanel
from workbench.tui.widgets.tail_log import TailLog
from workbench.tui.widgets.traffic_bar import EndpointSummary

STATUS_S = 0.5
NARROW = 100
"""Columns under which the layout tightens."""
METRICS_S = 1.0
EVENT_LINES = 2000
TABS = ("logs", "metrics", "invoke", "mirror", "events")
SEVERITIES: dict[str, SeverityLevel] = {"info": "information", "warning": "warning", "error": "error"}
RANKS: dict[SeverityLevel, int] = {"information": 0, "warning": 1, "error": 2}
TOAST_QUIET_S = 3.0
"""After a toast for a subject, later ones for it within this time pop up only if more severe."""
TOAST_LINES = 4
MARKS = {"warning": "⚠", "error": "✗"}
"""An event line's mark after its time, which the events tab colours."""


class WorkbenchApp(App[str]):
    """Exits with "quit" (the caller stops an engine it started) or "detach" (it keeps running)."""

    CSS_PATH = "workbench.tcss"
    TITLE = "endpoint workbench"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "help"),
        Binding("slash", "search_logs", "search logs", show=False),
        Binding("p", "pause_logs", "pause / follow logs", show=False),
        Binding("n", "next_match(1)", "next search match", show=False),
        Binding("N", "next_match(-1)", "previous search match", show=False),
        Binding("ampersand", "filter_logs", "only the lines that match the search", show=False),
        Binding("z", "zoom", "zoom: the tab alone, full screen", show=False),
        Binding("J", "raw_logs", "router log: columns / raw JSON lines", show=False),
        Binding("D", "detach", "detach (engine keeps running)", show=False),
        Binding("t", "traffic", "traffic"),
        Binding("v", "describe", "describe the selection (state and last events)", show=False),
        Binding("f", "faults", "faults: latency, errors, kill, CPU or memory pressure", show=False),
        Binding(
            "r", "restart", "restart", tooltip="restart the selected instance (a deployment: each in turn)"
        ),
        Binding("R", "reload", "reload", tooltip="reload the selected deployment's code in place"),
        Binding(
            "d", "debug", "debug", tooltip="restart the selected instance under the debugger (again: off)"
        ),
        Binding("plus", "scale(1)", "add instance", show=False),
        Binding("minus", "scale(-1)", "remove instance", show=False),
        Binding("c", "copy_uri", "copy scoring URI", show=False),
        Binding("s", "shell", "shell", tooltip="a shell inside the selected instance"),
        Binding("colon", "command", "command", tooltip="a command: :logs blue, :traffic, :help"),
        Binding("e", "edit", "the failing line in $EDITOR", show=False),
        Binding("y", "copy_key", "copy key or token (yank)", show=False),
        Binding("i", "show_tab('invoke')", "invoke"),
        Binding("right_square_bracket", "log_container(1)", "next log (container)", show=False),
        Binding("left_square_bracket", "log_container(-1)", "previous log (container)", show=False),
        Binding("ctrl+s", "send", "send the invoke request", priority=True, show=False),
        *(Binding(str(n), f"show_tab('{tab}')", f"{tab} tab", show=False) for n, tab in enumerate(TABS, 1)),
    ]

    def __init__(self, source: Source, *, quit_stops_engine: bool = True) -> None:
        super().__init__()
        self.source = source
        self.quit_stops_engine = quit_stops_engine
        self.quit_binding = Binding("q", "quit_engine", "stop" if quit_stops_engine else "quit")
        """What q does to the engine, said in the footer: "stop" (the engine and every instance
        with the dashboard) or "quit" (an engine this dashboard did not start keeps running)."""
        self.bind(self.quit_binding.key, self.quit_binding.action, description=self.quit_binding.description)
        self.endpoints: list[EndpointState] = []
        self.started_at = time.time()
        self.sub_title = f"{source.root} · times in UTC"  # logs, events and invokes: one clock
        self._lost = False
        self._toasted: dict[str, tuple[float, int]] = {}
        """Per subject: when its last toast popped up, and how severe it was."""
        self.events: deque[Event] = deque(maxlen=EVENT_LINES)
        """What the events tab shows, kept for the describe view."""

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
        sections: list[tuple[str, list[BindingType]]] = [
            ("Dashboard", [self.quit_binding, *self.BINDINGS]),
            ("Endpoints tree", list(EndpointTree.BINDINGS)),
            ("Commands (:)", [Binding(f":{name}", "", what) for name, what in COMMANDS.items()]),
            ("Logs tab", list(LogPanel.BINDINGS)),
            ("Invoke tab", list(InvokePanel.BINDINGS)),
            ("Traffic editor", list(TrafficEditor.BINDINGS)),
            ("Fault editor", list(FaultEditor.BINDINGS)),
        ]
        self.install_screen(HelpScreen(sections), "help")  # built once: '?' shows it at once
        self.main.query_one(EndpointTree).focus()
        self._fit(self.size.width)
        gc.freeze()  # what start-up built is never garbage: full collections stay short
        self.set_interval(STATUS_S, self.refresh_status)
        self.set_interval(METRICS_S, self.refresh_metrics)
        self.refresh_status()
        self.follow_events()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Notifications carry the engine's and the user's text ("[Errno 2] ..."): plain by default."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    # -- what the engine says ------------------------------------------------------------------

    @work(exclusive=True, group="status")
    async def refresh_status(self) -> None:
        try:
            endpoints = await self.source.status()
        except WorkbenchError as exc:
            self._engine_lost(str(exc))
            return
        self.endpoints = endpoints
        with contextlib.suppress(NoMatches):  # the answer came as the app was closing
            self.main.query_one(EndpointTree).show(endpoints)
            self._selection_changed()

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
                log.write_line(_marked(event))
                if event.time >= self.started_at:
                    self._notify_event(event)
        except WorkbenchError as exc:
            self._engine_lost(str(exc))

    def _notify_event(self, event: Event) -> None:
        """What needs the user pops up, by the event's severity; routine progress stays in the
        tree and the events tab, except a deployment's reload, which a save is waiting for."""
        if event.severity == "info" and event.kind != "reload":
            return
        severity = SEVERITIES.get(event.severity, "information")
        rank = RANKS[severity]
        shown_at, shown_rank = self._toasted.get(event.subject, (0.0, -1))
        if time.monotonic() - shown_at < TOAST_QUIET_S and rank <= shown_rank:
            return  # one save, one toast: what follows it is in the events tab
        self._toasted[event.subject] = (time.monotonic(), rank)
        message = event.message
        if event.failure is not None and event.failure.where not in message:
            message += f"\nat {event.failure.summary()}"  # the user's file and line
        lines = message.splitlines()
        if len(lines) > TOAST_LINES:  # the rest is in the events tab, not over the log
            message = "\n".join([*lines[: TOAST_LINES - 1], "… (5: the events tab has the rest)"])
        self.notify(message, title=event.subject, severity=severity, timeout=8 if severity == "error" else 4)

    def _engine_lost(self, why: str) -> None:
        if not self._lost:
            self._lost = True
            self.sub_title = f"{self.source.root}  (engine lost)"
            self.push_screen(ErrorScreen("Lost the engine", why))

    # -- selection -----------------------------------------------------------------------------

    @property
    def main(self) -> Screen[Any]:
        """The dashboard's own screen, whatever is on top of it (help, the traffic editor).
        NoMatches once the app has closed its screens, as a query finding nothing: an answer
        that arrives as the app ends is dropped by the same guards."""
        if not self.screen_stack:
            raise NoMatches("no screen: the dashboard is closing")
        return self.screen_stack[0]

    @property
    def selection(self) -> Selection | None:
        try:
            return self.main.query_one(EndpointTree).selection
        except NoMatches:  # the app is closing
            return None

    @property
    def selected_endpoint(self) -> EndpointState | None:
        selection = self.selection
        name = selection.endpoint if selection else (self.endpoints[0].name if self.endpoints else None)
        return next((e for e in self.endpoints if e.name == name), None)

    @property
    def selected_deployment(self) -> DeploymentState | None:
        """The selected deployment, or the deployment of the selected instance."""
        selection, endpoint = self.selection, self.selected_endpoint
        if endpoint is None or selection is None or selection.deployment is None:
            return None
        return endpoint.deployment(selection.deployment)

    @on(Tree.NodeHighlighted)
    def _highlighted(self) -> None:
        self._selection_changed()
        self.refresh_metrics()

    def _selection_changed(self) -> None:
        endpoint = self.selected_endpoint
        self.main.query_one(EndpointSummary).show(endpoint)
        selection = self.selection
        deployment = self.selected_deployment
        if selection is not None and deployment is None and endpoint and endpoint.deployments:
            # the endpoint's row shows its first deployment's log: the first screen is never empty
            deployment = endpoint.deployments[0]
            selection = dataclasses.replace(selection, deployment=deployment.name)
        instances = tuple(i.id for i in deployment.instances) if deployment else ()
        self.main.query_one(LogPanel).follow(selection, instances)
        self.main.query_one(InvokePanel).target(
            endpoint.name if endpoint else None, [d.name for d in endpoint.deployments] if endpoint else []
        )

    def on_resize(self, event: events.Resize) -> None:
        self._fit(event.size.width)

    def _fit(self, width: int) -> None:
        """Under NARROW columns the tree shows states as glyphs and the log drops dates."""
        narrow = width < NARROW
        with contextlib.suppress(NoMatches):
            self.main.set_class(narrow, "narrow")
            self.main.query_one(EndpointTree).set_compact(narrow)
            self.main.query_one(LogPanel).narrow = narrow

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

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.refresh_metrics()
        self.call_after_refresh(self._keep_focus)

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

    # -- actions -------------------------------------------------------------------------------

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

    def action_help_quit(self) -> None:
        """ctrl+c: as q (it asks while instances serve); ctrl+c again in the question stops."""
        self.call_later(self.action_quit_engine)

    def action_log_container(self, step: int) -> None:
        self.action_show_tab("logs")
        self.main.query_one(LogPanel).next_container(step)

    def action_send(self) -> None:
        self.action_show_tab("invoke")
        self.main.query_one(InvokePanel).action_send()

    def action_traffic(self) -> None:
        endpoint = self.selected_endpoint
        if endpoint is None:
            self.notify("no endpoint selected", severity="warning")
            return

        def apply(result: tuple[dict[str, int], dict[str, int]] | None) -> None:
            if result is not None:
                self._set_traffic(endpoint.name, *result)

        self.push_screen(TrafficEditor(endpoint), apply)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The workbench's own actions in the command palette (ctrl+p), before Textual's, each
        acting on the selection as its key does."""
        for title, help_text, action in PALETTE:
            yield SystemCommand(title, help_text, functools.partial(self.run_action, action))
        yield from super().get_system_commands(screen)

    @on(MirrorPanel.Open)
    @work(group="actions")
    async def open_mirrored(self, event: MirrorPanel.Open) -> None:
        endpoint = self.selected_endpoint
        if endpoint is None:
            return
        try:
            bodies = await self.source.mirror_bodies(endpoint.name, event.request_id)
            metrics = await self.source.metrics(endpoint.name)
        except WorkbenchError as exc:
            self.push_screen(ErrorScreen("No answers to show", str(exc)))
            return
        record = next((r for r in metrics.mirror.recent if r.request_id == event.request_id), None)
        self.push_screen(MirroredScreen(record, bodies))

    def action_describe(self) -> None:
        endpoint = self.selected_endpoint
        selection = self.selection
        if endpoint is None or selection is None:
            self.notify("nothing selected to describe", severity="warning")
            return
        self.push_screen(DescribeScreen(endpoint, selection.deployment, selection.instance, self.events))

    def action_faults(self) -> None:
        selection = self.selection
        endpoint = self.selected_endpoint
        deployment = self.selected_deployment
        if endpoint is None or selection is None or deployment is None:
            self.notify("select a deployment (or an instance) for its faults", severity="warning")
            return
        instance = selection.instance or (deployment.instances[0].id if deployment.instances else None)

        def apply(request: FaultRequest | None) -> None:
            if request is None:
                return
            ready = [i for i in deployment.instances if i.serves]
            if request.action == "kill" and [i.id for i in ready] == [request.instance]:

                def answered(yes: bool | None) -> None:
                    if yes:
                        self._apply_faults(endpoint.name, deployment.name, request)

                question = f"Kill {request.instance}?"
                why = (
                    f"It is the only ready instance of {deployment.name}: its requests fail "
                    "(502) until it has restarted."
                )
                self.push_screen(ConfirmScreen(question, why), answered)
                return
            self._apply_faults(endpoint.name, deployment.name, request)

        self.push_screen(
            FaultEditor(f"{endpoint.name}/{deployment.name}", deployment.faults, instance), apply
        )

    @work(group="actions")
    async def _apply_faults(self, endpoint: str, deployment: str, request: FaultRequest) -> None:
        subject = f"{endpoint}/{deployment}"
        if request.action == "kill" and request.instance is not None:
            self._act(self.source.kill(endpoint, deployment, request.instance), f"killed {request.instance}")
            return
        try:
            if request.action == "faults":
                said = "faults: " + await self.source.set_faults(endpoint, deployment, request.faults)
            else:
                cpu, memory = (1, 0) if request.action == "cpu" else (0, PRESSURE_MB)
                said = "pressure: " + await self.source.pressure(
                    endpoint, deployment, cpu, memory, PRESSURE_SECONDS
                )
        except WorkbenchError as exc:
            self.push_screen(ErrorScreen(f"Failed: faults of {subject}", str(exc)))
            return
        self.notify(said, title=subject, severity="warning")
        self.refresh_status()

    @work(group="actions")
    async def _set_traffic(self, endpoint: str, traffic: dict[str, int], mirror: dict[str, int]) -> None:
        try:
            await self.source.set_traffic(endpoint, traffic, mirror)
        except WorkbenchError as exc:
            self.push_screen(ErrorScreen("Traffic not changed", str(exc)))
            return
        self.notify(" ".join(f"{k}={v}%" for k, v in traffic.items()), title=f"{endpoint}: traffic applied")
        self.refresh_status()

    def action_restart(self) -> None:
        selection = self.selection
        if selection is None or selection.deployment is None:
            self.notify("select an instance (or a deployment) to restart", severity="warning")
            return
        if selection.instance is None:
            self._act(
                self.source.restart_all(selection.endpoint, selection.deployment),
                f"rolling restart of {selection.deployment}: one instance at a time",
            )
            return
        self._act(
            self.source.restart(selection.endpoint, selection.deployment, selection.instance),
            f"restarting {selection.instance}",
        )

    def action_reload(self) -> None:
        selection = self.selection
        if selection is None or selection.deployment is None:
            self.notify("select a deployment to reload", severity="warning")
            return
        self._act(
            self.source.reload(selection.endpoint, selection.deployment), f"reloading {selection.deployment}"
        )

    @work(group="actions")
    async def action_debug(self) -> None:
        selection = self.selection
        endpoint = self.selected_endpoint
        if selection is None or selection.deployment is None or endpoint is None:
            self.notify("select an instance (or a deployment) to debug", severity="warning")
            return
        instance = selection.instance
        if instance is None:
            deployment = endpoint.deployment(selection.deployment)
            if deployment is None or not deployment.instances:
                self.notify("that deployment has no instance yet", severity="warning")
                return
            instance = deployment.instances[0].id
        state = next((i for d in endpoint.deployments for i in d.instances if i.id == instance), None)
        if state is not None and state.debug_port is not None:  # d again: the debugger off
            self._act(
                self.source.stop_debugging(selection.endpoint, selection.deployment, instance),
                f"{instance}: debugger off (restarting without it)",
            )
            return
        try:
            session = await self.source.debug(selection.endpoint, selection.deployment, instance)
        except WorkbenchError as exc:
            self.push_screen(ErrorScreen("No debugger", str(exc)))
            return
        where = f"debugpy on {session.host}:{session.port}"
        how = f"VS Code: Run and Debug -> '{session.name}'"
        self.notify(f"{where}\n{how}", title=f"{instance} under the debugger", timeout=10)
        self.refresh_status()

    def action_scale(self, delta: int) -> None:
        endpoint = self.selected_endpoint
        deployment = self.selected_deployment
        if endpoint is None or deployment is None:
            self.notify("select a deployment to scale", severity="warning")
            return
        count = deployment.instance_count + delta
        if not 1 <= count <= MAX_INSTANCES:
            self.notify(f"instance count stays between 1 and {MAX_INSTANCES}", severity="warning")
            return
        self._act(
            self.source.scale(endpoint.name, deployment.name, count), f"scaling {deployment.name} to {count}"
        )

    @work(group="actions")
    async def _act(self, action: Awaitable[None], doing: str) -> None:
        try:
            await action
        except WorkbenchError as exc:
            self.push_screen(ErrorScreen(f"Failed: {doing}", str(exc)))
            return
        self.notify(doing)
        self.refresh_status()

    async def action_shell(self) -> None:
        """A shell inside the selected instance (its deployment's first): the dashboard steps
        aside until the user leaves it (k9s' s)."""
        selection, deployment = self.selection, self.selected_deployment
        if selection is None or deployment is None or not deployment.instances:
            self.notify("select an instance (or a deployment with one) for a shell", severity="warning")
            return
        instance = selection.instance or deployment.instances[0].id
        try:
            shell = await self.source.shell(selection.endpoint, deployment.name, instance)
        except WorkbenchError as exc:
            self.push_screen(ErrorScreen("No shell", str(exc)))
            return
        with self.suspend():
            print(f"{selection.endpoint}/{instance}: {command_line(shell)}; exit returns to the dashboard")
            try:
                open_shell(shell)
            except WorkbenchError as exc:
                print(f"no shell: {exc}")

    def action_edit(self) -> None:
        """The selected deployment's failing line in $VISUAL / $EDITOR (else vi): where its code
        last failed to load, or where run() last raised."""
        deployment = self.selected_deployment
        failure = deployment and (deployment.failure or deployment.last_scoring_error)
        if deployment is None or not failure:
            self.notify("no failure to open: select a deployment whose code failed", severity="warning")
            return
        path = Path(failure.file)
        path = path if path.is_absolute() else self.source.root / path
        if not path.is_file():
            self.notify(f"{path} is not on this machine", severity="warning")
            return
        with self.suspend():
            edit(path, failure.line)

    def action_copy_uri(self) -> None:
        endpoint = self.selected_endpoint
        if endpoint is None or endpoint.scoring_uri is None:
            self.notify("no scoring URI yet", severity="warning")
            return
        self.copy_to_clipboard(endpoint.scoring_uri)
        self.notify(endpoint.scoring_uri, title="scoring URI copied")

    @work(group="actions")
    async def action_copy_key(self) -> None:
        endpoint = self.selected_endpoint
        if endpoint is None:
            return
        try:
            credentials = await self.source.credentials(endpoint.name)
        except WorkbenchError as exc:
            self.push_screen(ErrorScreen("No credentials", str(exc)))
            return
        self.copy_to_clipboard(credentials.secret)
        self.notify(f"{credentials.kind} of {endpoint.name} copied (not shown)", title="credentials copied")


def _marked(event: Event) -> str:
    """The event's line, a warning or an error marked after its time (the highlighter colours it)."""
    line = event.line()
    mark = MARKS.get(event.severity)
    return f"{line[:8]} {mark}{line[8:]}" if mark else line


class EventLook(Highlighter):
    """The events tab: a warning's line yellow, an error's red."""

    def highlight(self, text: Text) -> None:
        mark = text.plain[9:10]
        if mark == MARKS["error"]:
            text.stylize("red")
        elif mark == MARKS["warning"]:
            text.stylize("yellow")
