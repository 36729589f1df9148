"""Keys of the dashboard against fixed data, driven by Textual's pilot: what each asks of the
engine (recorded by the source) and what it shows."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import astuple
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Label, Log, Sparkline, Static, TabbedContent

from tests.tui.fixed import T0, FixedSource, quickstart
from tests.tui.test_dashboard import text_of, until
from tests.tui.test_snapshots import settle
from workbench.contract import EndpointMetrics, Failure, MirrorSummary, Timeline
from workbench.logfile import say_started
from workbench.state import EndpointState, Event, EventKind, EventSeverity
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.confirm import ConfirmScreen
from workbench.tui.screens.describe import DescribeScreen
from workbench.tui.screens.help import HelpScreen
from workbench.tui.screens.mirrored import MirroredScreen
from workbench.tui.screens.quit import QuitScreen
from workbench.tui.screens.traffic import TrafficEditor
from workbench.tui.settings import DashboardSettings, load
from workbench.tui.widgets.command_line import CommandLine
from workbench.tui.widgets.endpoint_tree import EndpointTree
from workbench.tui.widgets.log_look import LogLook, router_columns
from workbench.tui.widgets.logs import LogPanel
from workbench.tui.widgets.metrics import DeploymentFigures, MetricsPanel, time_ticks
from workbench.tui.widgets.mirror import MirrorPanel
from workbench.tui.widgets.sortable_table import SortableTable, order


def run(
    scenario: Callable[[Pilot[Any], WorkbenchApp, FixedSource], Awaitable[None]],
    endpoints: list[EndpointState] | None = None,
) -> None:
    source = FixedSource(endpoints if endpoints is not None else quickstart())

    async def drive() -> None:
        app = WorkbenchApp(source)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await scenario(pilot, app, source)

    asyncio.run(drive())


def test_the_app_closes_its_source_in_its_own_loop_as_it_ends() -> None:
    source = FixedSource(quickstart())

    async def drive() -> None:
        app = WorkbenchApp(source)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert not source.closed
            await pilot.press("q")
            await until(pilot, lambda: isinstance(app.screen, QuitScreen), "the question")
            await pilot.press("s")
        assert source.closed, "closed by the app: after its loop, open connections fail the exit"

    asyncio.run(drive())


def test_a_metrics_draw_cancelled_while_it_mounts_leaves_nothing_half_drawn() -> None:
    """A newer poll cancels the draw that mounts the deployments' blocks (seen under a CPU hog:
    the next draw found blocks whose parts were not there yet, and gave up half way)."""

    async def scenario(pilot: Pilot[Any], app: WorkbenchApp, source: FixedSource) -> None:
        panel = app.query_one(MetricsPanel)
        [endpoint] = source.endpoints
        metrics, telemetry = await source.metrics(endpoint.name), await source.telemetry()
        first = asyncio.create_task(panel.show(endpoint, metrics, telemetry))
        for _ in range(1000):  # each turn one step of the loop, no time: until the blocks are mounting
            if app.query(DeploymentFigures):
                break
            await asyncio.sleep(0)
        assert app.query(DeploymentFigures), "the first draw never began to mount its blocks"
        assert not first.done(), "the first draw ended before it could be cancelled mid-mount"
        first.cancel()
        await panel.show(endpoint, metrics, telemetry)
        heads = [
            str(block.query_one(".figures-head", Static).render()) for block in app.query(DeploymentFigures)
        ]
        assert len(heads) == 2
        assert all("req/s" in head for head in heads), heads

    run(scenario)


def test_describe_shows_the_selections_state_and_its_last_events() -> None:
    async def scenario(pilot: Pilot[Any], app: WorkbenchApp, source: FixedSource) -> None:
        await pilot.press("down", "v")  # blue
        screen = app.screen
        assert isinstance(screen, DescribeScreen)
        assert screen.subject == "quickstart/blue"
        assert "blue  Succeeded  1/1 ready  traffic 90%" in screen.text
        assert "green" not in screen.text
        assert [e.subject for e in screen.events] == ["quickstart/blue"]
        await pilot.press("escape")
        assert not isinstance(app.screen, DescribeScreen)

    run(scenario)


def test_r_on_a_deployment_restarts_each_instance_and_d_again_stops_the_debugger() -> None:
    endpoints = quickstart()
    endpoints[0].deployments[1].instances[0].debug_port = 5678  # green-0 runs under debugpy

    async def scenario(pilot: Pilot[Any], app: WorkbenchApp, source: FixedSource) -> None:
        await pilot.press("down", "r")  # blue: a rolling restart
        await pilot.press("down", "down", "down", "d")  # green-0: the debugger off again
        await app.workers.wait_for_complete()
        assert ("restart_all", "quickstart", "blue") in source.actions
        assert ("stop_debugging", "quickstart", "green", "green-0") in source.actions

    run(scenario, endpoints)


def test_the_palette_lists_the_workbenchs_actions() -> None:
    async def scenario(pilot: Pilot[Any], app: WorkbenchApp, source: FixedSource) -> None:
        await pilot.press("down", "ctrl+p", *"Describe")
        await pilot.pause(0.5)  # the palette searches as it is typed into
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, DescribeScreen)

    run(scenario)


def test_search_highlights_counts_and_steps_through_matches() -> None:
    async def scenario(pilot: Pilot[Any], app: WorkbenchApp, source: FixedSource) -> None:
        await pilot.press("down")  # blue's log: "... inference-server line N of blue", N = 0..29
        panel = app.query_one(LogPanel)
        view = panel.query_one(Log)
        await pilot.press("slash", *"line 1", "enter")  # line 1, 10..19
        assert app.focused is view  # enter: back to the log, the search kept
        matches = panel.query_one("#log-matches", Label)
        assert str(matches.render()) == "11 matches"
        await pilot.press("n", "n")
        assert str(matches.render()) == "2/11 matches"
        assert panel.paused  # stepping holds the log still
        await pilot.press("N", "N")
        assert str(matches.render()) == "11/11 matches"  # round past the first
        assert len(view.lines) == 30
        await pilot.press("ampersand")  # only the matching lines
        assert len(view.lines) == 11
        assert all("line 1" in line for line in view.lines)
        await pilot.press("z")  # zoom: the tree and the summary out of the way
        assert not app.query_one(EndpointTree).display
        await pilot.press("z")
        assert app.query_one(EndpointTree).display

    run(scenario)


def test_a_followed_log_keeps_its_last_line_in_view_through_a_search() -> None:
    async def scenario(pilot: Pilot[Any], app: WorkbenchApp, source: FixedSource) -> None:
        source.log_length = 300  # lines 0..299: many more than the pane shows
        await pilot.press("down", "right_square_bracket")  # blue's storage-initializer log
        panel = app.query_one(LogPanel)
        view = panel.query_one(Log)
        matches = panel.query_one("#log-matches", Label)
        await until(pilot, lambda: view.line_count == 300, "the log drawn")
        full = view.size.height

        def last_line_shown() -> bool:  # and so the next line written scrolls into view
            return view.max_scroll_y > 0 and view.scroll_offset.y == view.max_scroll_y

        steps: list[tuple[tuple[str, ...], Callable[[], bool]]] = [
            (("slash",), lambda: view.size.height < full),  # the search field takes rows
            (tuple("line 1"), lambda: str(matches.render()) == "111 matches"),  # each key redraws
            (("enter", "ampersand"), lambda: view.line_count == 111),  # 1, 10..19, 100..199 only
            (("slash", "backspace"), lambda: view.line_count == 300),  # "line ": more lines again
            (("escape",), lambda: view.size.height == full),  # the field's rows the log's again
            (("z",), lambda: view.size.height > full),  # zoomed: taller
            (("z",), lambda: view.size.height == full),
            (("right_square_bracket",), lambda: panel.container == "build" and view.line_count == 300),
        ]
        await until(pilot, last_line_shown, "the last line shown")
        for keys, done in steps:
            await pilot.press(*keys)
            await until(pilot, done, f"what {keys} does")
            await until(pilot, last_line_shown, f"the last line shown after {keys}")

    run(scenario)


def test_matches_are_highlighted_whatever_their_case() -> None:
    text = Text("Line 1 of blue, line 10 of blue")
    LogLook("LINE 1").highlight(text)
    assert [(span.start, span.end) for span in text.spans] == [(0, 6), (16, 22)]


def test_the_router_columns_colour_the_status_by_its_class() -> None:
    look = LogLook(router=True)
    colours = {}
    for status in (200, 404, 503):
        record = {"time": "2026-11-30T08:30:01Z", "status": status, "deployment": "blue", "latency_ms": 1}
        text = Text(router_columns(json.dumps(record)))
        look.highlight(text)
        [span] = text.spans
        assert text.plain[span.start : span.end].strip() == str(status)
        colours[status] = span.style
    assert len(set(colours.values())) == 3, colours
    text = Text("Traceback (most recent call last):")
    look.highlight(text)
    assert not text.spans, "a line that is not a record is left as it is"


def test_enter_on_a_mirrored_row_shows_its_two_answers() -> None:
    async def scenario(pilot: Pilot[Any], app: WorkbenchApp, source: FixedSource) -> None:
        await pilot.press("4")  # the mirror tab: the newest row first (req-2)
        await app.workers.wait_for_complete()
        app.query_one("#mirror-table", DataTable).focus()
        await pilot.press("down", "enter")  # req-1
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MirroredScreen)
        assert screen.bodies.request_id == "req-1"
        assert screen.record is not None
        assert screen.record.verdict == "same"

    run(scenario)


class ShortGreen(FixedSource):
    """Green answered only in the last 10 of blue's 120 seconds."""

    async def metrics(self, endpoint: str) -> EndpointMetrics:
        full = await super().metrics(endpoint)
        green = full.deployments["green"]
        recent = Timeline(*(values[-10:] for values in astuple(green.timeline)))
        shortened = dataclasses.replace(green, timeline=recent)
        return dataclasses.replace(full, deployments={**full.deployments, "green": shortened})


def test_sparklines_of_every_deployment_share_one_time_axis() -> None:
    source = ShortGreen(quickstart())

    async def drive() -> None:
        app = WorkbenchApp(source)
        async with app.run_test(size=(160, 50)) as pilot:
            await settle(pilot)
            await pilot.press("2")
            for _ in range(200):  # until both blocks are drawn: the metrics poll may cancel a draw half way
                drawn = [b.query_one(".rps", Sparkline).data for b in app.query(DeploymentFigures)]
                if len(drawn) == 2 and all(drawn):
                    break
                await pilot.pause(0.05)
            blue, green = drawn
            assert blue is not None
            assert green is not None
            assert len(blue) == len(green) == 120
            assert green[:110] == [0.0] * 110  # nothing yet in those seconds: the same columns as blue's
            assert green[110:] == [
                float(v) for v in (await source.metrics("quickstart")).deployments["green"].timeline.requests
            ]
            label = app.query(DeploymentFigures).first().query_one(".rps-label", Label)
            assert str(label.render()) == f"req/s ≤{max(blue):,.0f}"  # its scale

    asyncio.run(drive())


def test_two_quick_presses_of_the_next_log_key_move_two_tabs() -> None:
    async def scenario(pilot: Pilot[Any], app: WorkbenchApp, source: FixedSource) -> None:
        await pilot.press("down", "right_square_bracket", "right_square_bracket")  # no frame between
        assert app.query_one(LogPanel).container == "build"
        await pilot.press("left_square_bracket")
        assert app.query_one(LogPanel).container == "storage-initializer"

    run(scenario)


def test_killing_the_only_ready_instance_asks_first() -> None:
    async def scenario(pilot: Pilot[Any], app: WorkbenchApp, source: FixedSource) -> None:
        await pilot.press("down", "f", "x")  # blue has one instance
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await app.workers.wait_for_complete()
        assert not any(action[0] == "kill" for action in source.actions)
        await pilot.press("f", "x", "y")
        await app.workers.wait_for_complete()
        assert ("kill", "quickstart", "blue", "blue-0") in source.actions

    run(scenario)


def test_q_with_instances_serving_asks_and_offers_to_detach() -> None:
    async def scenario(pilot: Pilot[Any], app: WorkbenchApp, source: FixedSource) -> None:
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen), "the question")
        assert isinstance(app.screen, QuitScreen)
        assert "instance(s) serving;" in app.screen.serving
        assert "request(s) in the last 10 s" in app.screen.serving
        await pilot.press("escape")  # stay: nothing stopped
        await until(pilot, lambda: not isinstance(app.screen, QuitScreen), "the question gone")
        assert app.is_running
        await pilot.press("i", *["tab"] * 5, "q")  # a stray q where the invoke form's Send is
        await until(pilot, lambda: isinstance(app.screen, QuitScreen), "asked again, not quit")
        await pilot.press("d")
        await until(pilot, lambda: app.return_value == "detach", "detached: the engine keeps serving")

    run(scenario)


def test_q_with_nothing_serving_quits_at_once() -> None:
    async def scenario(pilot: Pilot[Any], app: WorkbenchApp, source: FixedSource) -> None:
        await pilot.press("q")
        await until(pilot, lambda: app.return_value == "quit", "quit without a question")

    run(scenario, [dataclasses.replace(e, deployments=[]) for e in quickstart()])


def test_escape_after_a_search_goes_back_to_following_the_log() -> None:
    async def scenario(pilot: Pilot[Any], app: WorkbenchApp, source: FixedSource) -> None:
        source.log_length = 300
        await pilot.press("down", "right_square_bracket")  # blue's storage-initializer log, read anew
        panel = app.query_one(LogPanel)
        view = panel.query_one(Log)
        await until(pilot, lambda: view.line_count == 300, "the log drawn")
        await pilot.press("slash", *"line 1", "enter", "n")
        assert panel.paused  # n holds the log still at the match
        await pilot.press("escape")
        assert not panel.paused, "following again"
        assert panel.query_text == ""
        assert app.focused is view
        await until(pilot, lambda: view.scroll_offset.y == view.max_scroll_y > 0, "at the log's end")

    run(scenario)


def test_every_dialog_opens_in_the_middle_of_the_screen() -> None:
    async def scenario(pilot: Pilot[Any], app: WorkbenchApp, source: FixedSource) -> None:
        await pilot.press("down")
        for keys, box in ((("f",), "#faults-box"), (("v",), "#describe-box"), (("f", "x"), "#confirm-box")):
            await pilot.press(*keys)
            opened = functools.partial(lambda wanted: bool(app.screen.query(wanted)), box)
            await until(pilot, opened, f"{keys} opens {box}")
            region = app.screen.query_one(box).region
            middle = (region.x + region.width // 2, region.y + region.height // 2)
            assert abs(middle[0] - 60) <= 2, (keys, region)  # the 120x40 screen's middle
            assert abs(middle[1] - 20) <= 2, (keys, region)
            await pilot.press("escape")
            if keys == ("f", "x"):
                await pilot.press("escape")

    run(scenario)


def test_one_clock_events_and_invokes_in_utc_as_the_logs(monkeypatch: Any) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert (
            Event(EventKind.DEPLOYMENT, "quickstart/blue", "Succeeded", time=0.0)
            .line()
            .startswith("00:00:00 ")
        )
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()

    async def scenario(pilot: Pilot[Any], app: WorkbenchApp, source: FixedSource) -> None:
        assert app.sub_title.endswith("times in UTC")

    run(scenario)


def test_a_failing_run_shows_in_the_tree_and_the_summary_with_the_users_line() -> None:
    endpoints = quickstart()
    blue = endpoints[0].deployments[0]
    blue.scoring_errors = 3
    blue.last_scoring_error = Failure(
        "/projects/quickstart/onlinescoring/score.py", 21, "ValueError", "bad shape"
    )

    async def scenario(pilot: Pilot[Any], app: WorkbenchApp, source: FixedSource) -> None:
        tree = app.query_one(EndpointTree)
        labels = " ".join(str(node.label) for node in tree.root.children[0].children)
        assert "⚠3 score.py:21" in labels
        shown = text_of(app, "#summary")
        assert "⚠ blue: run() failed 3 time(s), last at onlinescoring/score.py:21: ValueError" in shown

    run(scenario, endpoints)


def test_a_colon_command_selects_and_shows_and_an_unknown_one_says_the_commands() -> None:
    async def scenario(pilot: Pilot[Any], app: WorkbenchApp, source: FixedSource) -> None:
        tree = app.query_one(EndpointTree)
        await pilot.press("colon", *"metrics green", "enter")
        await until(
            pilot, lambda: app.query_one("#tabs", TabbedContent).active == "metrics", "the metrics tab"
        )
        assert tree.selection is not None
        assert tree.selection.deployment == "green"
        assert app.focused is tree, "the focus goes back to the tree"
        await pilot.press("colon", *"logs green-0", "enter")
        await until(
            pilot, lambda: tree.selection is not None and tree.selection.instance == "green-0", "green-0"
        )
        assert app.query_one("#tabs", TabbedContent).active == "logs"
        await pilot.press("colon", *"nonsense", "enter")
        await until(
            pilot, lambda: any("no command :nonsense" in str(n.message) for n in app._notifications), ""
        )
        await pilot.press("colon", *"logs purple", "enter")
        said = [str(n.message) for n in app._notifications]
        await until(
            pilot, lambda: any("named purple" in str(n.message) for n in app._notifications), str(said)
        )

    run(scenario)


def test_filter_narrows_the_tree_as_typed_and_escape_clears_it() -> None:
    async def scenario(pilot: Pilot[Any], app: WorkbenchApp, source: FixedSource) -> None:
        tree = app.query_one(EndpointTree)

        def deployments() -> list[str]:
            return [str(node.label).split()[0] for node in tree.root.children[0].children]

        assert deployments() == ["blue", "green"]
        await pilot.press("colon", *"filter", "enter")
        await until(pilot, lambda: isinstance(app.focused, CommandLine), "the filter line")
        await pilot.press(*"gre")
        await until(pilot, lambda: deployments() == ["green"], "only green")
        await pilot.press("enter")  # kept, the line closed
        await until(pilot, lambda: app.focused is tree, "back on the tree")
        assert deployments() == ["green"]
        await pilot.press("colon", *"filter", "enter")
        await until(pilot, lambda: isinstance(app.focused, CommandLine), "the filter line again")
        await pilot.press("escape")
        await until(pilot, lambda: deployments() == ["blue", "green"], "the filter cleared")

    run(scenario)


def test_vims_keys_move_through_the_log() -> None:
    async def scenario(pilot: Pilot[Any], app: WorkbenchApp, source: FixedSource) -> None:
        source.log_length = 300
        await pilot.press("down", "right_square_bracket")  # blue's storage-initializer log, 300 lines
        view = app.query_one(LogPanel).query_one(Log)
        await until(pilot, lambda: view.line_count == 300, "the log drawn")
        view.focus()
        await pilot.press("g")
        await until(pilot, lambda: view.scroll_offset.y == 0, "the first line")
        await pilot.press("j", "j")
        await until(pilot, lambda: view.scroll_offset.y == 2, "two lines down")
        await pilot.press("k")
        await until(pilot, lambda: view.scroll_offset.y == 1, "one up")
        await pilot.press("G")
        await until(pilot, lambda: view.scroll_offset.y == view.max_scroll_y, "the last line")

    run(scenario)


def test_one_save_pops_one_toast_and_the_events_tab_marks_warnings_and_errors() -> None:
    source = FixedSource(quickstart())
    now = time.time() + 5  # after the app started: these pop up
    source.more_events = [
        Event(
            EventKind.RELOAD,
            "quickstart/blue",
            "model and code staged again in 12 ms (1 file(s) changed)",
            now,
        ),
        Event(EventKind.RELOAD, "quickstart/blue", "reloaded in 30 ms, init() kept", now),
        Event(EventKind.RELOAD, "quickstart/blue", "reloaded in 31 ms, init() kept (all 2 instances)", now),
        Event(
            EventKind.SCORING_ERROR,
            "quickstart/green",
            "run() failed at score.py:3",
            now,
            EventSeverity.WARNING,
        ),
        Event(
            EventKind.RELOAD_FAILED,
            "quickstart/blue",
            "\n".join(f"line {n}" for n in range(9)),
            now,
            EventSeverity.ERROR,
        ),
    ]

    async def drive() -> None:
        app = WorkbenchApp(source)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            toasts = [(n.title, n.severity, str(n.message)) for n in app._notifications]
            blue = [t for t in toasts if t[0] == "quickstart/blue"]
            assert [t[1] for t in blue] == ["information", "error"], "three reloads: one toast; the error too"
            assert blue[1][2].count("\n") < 4, "a long message is cut: the events tab has it"
            view = app.query_one("#event-log", Log)
            lines = [str(line) for line in view.lines]
            assert any(line[9:10] == "⚠" and "run() failed" in line for line in lines), lines
            assert any(line[9:10] == "✗" for line in lines), lines

    asyncio.run(drive())


def test_a_rollouts_steps_pop_up_as_they_pass() -> None:
    source = FixedSource(quickstart())
    now = time.time() + 5
    source.more_events = [
        Event(EventKind.ROLLOUT, "quickstart/green", "step 10% passed: 40 requests  0.0% failed", now),
        Event(EventKind.ENDPOINT, "quickstart", "traffic blue=90 green=10", now),
    ]

    async def drive() -> None:
        app = WorkbenchApp(source)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            toasts = [(n.title, str(n.message)) for n in app._notifications]
            assert ("quickstart/green", "step 10% passed: 40 requests  0.0% failed") in toasts
            assert not [t for t in toasts if t[0] == "quickstart"], "routine progress stays in the events tab"

    asyncio.run(drive())


class NothingMirroredYet(FixedSource):
    async def metrics(self, endpoint: str) -> EndpointMetrics:
        full = await super().metrics(endpoint)
        return dataclasses.replace(full, mirror=MirrorSummary())


def test_the_mirror_tab_waiting_for_copies_names_the_share_in_force() -> None:
    endpoints = quickstart()
    endpoints[0].traffic, endpoints[0].mirror_traffic = {"blue": 100}, {"green": 20}
    source = NothingMirroredYet(endpoints)

    async def drive() -> None:
        app = WorkbenchApp(source)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("4")
            said = "no mirrored requests yet: green 20% of the live requests will be copied"
            await until(pilot, lambda: said in text_of(app, "#mirror-summary"), said)

    asyncio.run(drive())


class GreenWentQuiet(FixedSource):
    """Green's last request came 30 of blue's 120 seconds ago."""

    async def metrics(self, endpoint: str) -> EndpointMetrics:
        full = await super().metrics(endpoint)
        green = full.deployments["green"]
        earlier = Timeline(*(values[:-30] for values in astuple(green.timeline)))
        quiet = dataclasses.replace(green, timeline=earlier)
        return dataclasses.replace(full, deployments={**full.deployments, "green": quiet})


def test_a_latency_beside_no_traffic_says_how_old_it_is() -> None:
    source = GreenWentQuiet(quickstart())

    async def drive() -> None:
        app = WorkbenchApp(source)
        async with app.run_test(size=(160, 40)) as pilot:
            await settle(pilot)
            await pilot.press("2")
            await until(pilot, lambda: len(app.query(DeploymentFigures)) == 2, "both deployments' figures")
            heads = {
                block.deployment: str(block.query_one(".figures-head", Static).render())
                for block in app.query(DeploymentFigures)
            }
            assert "(30 s ago)" in heads["green"], heads
            assert "0 req/s" in heads["green"], heads
            assert "s ago" not in heads["blue"], "blue answers now: its figures are current"

    asyncio.run(drive())


def test_the_log_says_whose_it_is_and_wraps_hides_times_saves_and_copies(tmp_path: Path) -> None:
    source = FixedSource(quickstart(), root=tmp_path)
    source.log_length = 3
    long = "2026-09-21 14:14:00,000 E [100] azmlinfsrv - " + " ".join(f"word{n}" for n in range(40))
    source.more_log = [say_started("blue-0", 2, T0).rstrip("\n"), long]

    async def drive() -> None:
        app = WorkbenchApp(source)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("down", "enter")  # blue, its log focused
            panel = app.query_one(LogPanel)
            view = panel.query_one(Log)
            await until(pilot, lambda: view.line_count == 5, "the log drawn")
            assert view.border_title == "quickstart/blue · inference-server · following"
            assert view.lines[3].startswith("──── blue-0: start 2 at "), "a rule before the new run"
            width = view.scrollable_content_region.width
            assert len(view.lines[4]) > width, "cut at the edge before w"

            await pilot.press("w")
            await until(pilot, lambda: view.line_count > 5, "the long line wrapped")
            assert all(len(line) < width for line in view.lines), list(view.lines)
            assert view.lines[5].startswith("  "), "a wrapped line's rest is indented"
            assert "wrapped" in str(view.border_title)

            await pilot.press("w", "T")
            await until(pilot, lambda: view.lines[0].startswith("I [100]"), "the times hidden")
            assert "no times" in str(view.border_title)

            await pilot.press("S")
            [saved] = (tmp_path / ".workbench" / "saved-logs").iterdir()
            assert saved.read_text().splitlines()[4] == long, "saved as written, with its time"

            await pilot.press("Y")
            assert app.clipboard.splitlines()[0].startswith("I [100] azmlinfsrv - inference-server line 0")

            await pilot.press("p")
            assert "paused" in str(view.border_title)

    asyncio.run(drive())


class GreenTakesCopies(FixedSource):
    """Green answers no live request and takes 7 mirrored copies a second."""

    async def metrics(self, endpoint: str) -> EndpointMetrics:
        full = await super().metrics(endpoint)
        green = full.deployments["green"]
        seconds = green.timeline.second
        copies = Timeline(seconds, [0] * len(seconds), [None] * len(seconds), [None] * len(seconds))
        copies.mirrored.extend([7] * len(seconds))
        taking = dataclasses.replace(green, timeline=copies, mirrored=7 * len(seconds))
        return dataclasses.replace(full, deployments={**full.deployments, "green": taking})


def test_a_mirror_target_shows_the_copies_it_takes_and_the_sparklines_have_a_time_axis() -> None:
    async def drive() -> None:
        app = WorkbenchApp(GreenTakesCopies(quickstart()))
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("2")
            await until(pilot, lambda: len(app.query(DeploymentFigures)) == 2, "both deployments' figures")
            green = next(b for b in app.query(DeploymentFigures) if b.deployment == "green")
            head = str(green.query_one(".figures-head", Static).render())
            assert "0 req/s  +7 mirrored/s" in head, head
            assert green.query_one(".rps", Sparkline).data == [7.0] * 120, "its load: the copies"
            axis = str(app.query_one("#time-axis", Static).render())
            spark = green.query_one(".rps", Sparkline)
            start = spark.region.x - app.query_one("#time-axis", Static).content_region.x
            assert axis.startswith("seconds ago"), axis
            assert axis[start : start + 5] == "-120s", "the oldest second above the sparkline's first column"
            assert axis.rstrip().endswith("now"), axis
            assert len(axis.rstrip()) == start + spark.size.width, "now above the sparkline's last column"

    asyncio.run(drive())


def test_time_ticks_spread_over_the_width_and_never_overlap() -> None:
    axis = time_ticks(61)[15:]
    assert time_ticks(61).startswith("seconds ago    ")
    assert axis.startswith("-120s"), "flush with the sparkline's first column"
    assert axis.endswith("now"), "flush with its last"
    for tick, share in (("-90s", 0.25), ("-60s", 0.5), ("-30s", 0.75)):
        centre = axis.index(tick) + len(tick) // 2
        assert centre == round(share * 60), (tick, axis)
    assert "-90s" not in time_ticks(16), "no room: fewer ticks rather than ticks run together"
    assert time_ticks(16).strip().endswith("now")


def test_tab_from_the_tree_goes_to_what_the_tab_shows_never_to_a_tab_strip() -> None:
    async def scenario(pilot: Pilot[Any], app: WorkbenchApp, source: FixedSource) -> None:
        await pilot.press("tab")
        assert app.focused is not None
        assert app.focused.id == "log-view", "the log: the first Tab skips the tab strips"
        await pilot.press("shift+tab")
        assert isinstance(app.focused, EndpointTree)
        await pilot.press("3", "tab")  # the invoke tab: its first field
        assert app.focused is not None
        assert app.focused.id == "invoke-file", app.focused

    run(scenario)


def test_a_table_sorts_by_a_column_both_ways_and_keeps_its_order_through_a_refill() -> None:
    async def scenario(pilot: Pilot[Any], app: WorkbenchApp, source: FixedSource) -> None:
        await pilot.press("4")  # the mirror tab: newest first, req-2 req-1 req-0
        await app.workers.wait_for_complete()
        table = app.query_one("#mirror-table", SortableTable)
        table.focus()

        def ids() -> list[str]:
            return [str(table.get_row_at(n)[0]) for n in range(table.row_count)]

        assert ids() == ["req-2", "req-1", "req-0"]
        await pilot.press(*["o"] * 6)  # request, live, status, ms, mirror, then the mirror's status
        assert ids()[-1] == "req-0", "its mirror answered 500: after the 200s"
        assert [c.label.plain for c in table.ordered_columns][5] == "status ▲"
        await pilot.press("O")
        assert ids()[0] == "req-0"
        assert [c.label.plain for c in table.ordered_columns][5] == "status ▼"
        app.query_one(MirrorPanel)._rows = []  # the next poll refills the table
        await until(pilot, lambda: app.query_one(MirrorPanel)._rows != [], "the table refilled")
        assert ids()[0] == "req-0", "the order kept"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MirroredScreen), "the two answers")
        assert isinstance(app.screen, MirroredScreen)
        assert app.screen.bodies.request_id == "req-0", "the row chosen, wherever sorting put it"

    run(scenario)


def test_cells_sort_as_numbers_where_they_are_numbers() -> None:
    cells = ["12.0 ms", "9.5 ms", Text("424"), "200", "blue", "-", "1,200"]
    assert sorted(cells, key=order) == ["9.5 ms", "12.0 ms", "200", Text("424"), "1,200", "-", "blue"]


def test_the_users_settings_choose_the_theme_and_keys_and_a_typo_is_said_not_fatal(
    tmp_path: Path, monkeypatch: Any
) -> None:
    settings = tmp_path / "endpoint-workbench" / "dashboard.yaml"
    settings.parent.mkdir()
    settings.write_text("theme: nord\nkeys:\n  traffic: T\n  quit: ctrl+q\n  trafic: x\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))

    async def scenario(pilot: Pilot[Any], app: WorkbenchApp, source: FixedSource) -> None:
        assert app.theme == "nord"
        [warning] = [n for n in app._notifications if n.title == "dashboard settings"]
        assert "no key has the id 'trafic'" in warning.message
        assert "traffic" in warning.message, "the ids that exist"
        await pilot.press("t")
        await pilot.pause()
        assert not isinstance(app.screen, TrafficEditor), "t is not traffic any more"
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrafficEditor), "T opens the traffic editor")
        await pilot.press("escape", "question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        assert isinstance(app.screen, HelpScreen)
        keys = {name: key for key, _, name in app.screen.rows()}
        assert keys["traffic"] == "T", "the help shows the user's key"
        assert keys["quit"] == "ctrl+q"
        await pilot.press("escape", "q")
        await pilot.pause()
        assert not isinstance(app.screen, QuitScreen), "q is not quit any more"
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen), "ctrl+q asks, as q did")

    run(scenario)


def test_settings_that_cannot_be_read_leave_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "dashboard.yaml"
    assert load(path, ["nord"], ["traffic"]) == DashboardSettings(), "no file: nothing to say"
    path.write_text("theme: [unclosed\n")
    [problem] = load(path, ["nord"], ["traffic"]).problems
    assert "not read" in problem
    path.write_text("theme: solarized-purple\nkeys:\n  traffic: 3\ncolours: {}\n")
    said = load(path, ["nord", "textual-dark"], ["traffic"])
    assert said.theme is None
    assert said.keys == {}
    assert [p.split(": ", 1)[1] for p in said.problems] == [
        "theme 'solarized-purple' is not one of nord, textual-dark",
        "keys: traffic: is 3, not a key such as ctrl+t",
        "colours not known (theme: and keys: are)",
    ]


def test_l_shows_the_invoke_answers_request_in_the_router_log() -> None:
    request_id = "00000000-0000-0000-0000-000000000001"  # what FixedSource's invoke answers with

    async def scenario(pilot: Pilot[Any], app: WorkbenchApp, source: FixedSource) -> None:
        source.more_log = [f'{{"status": 200, "request_id": "{request_id}", "deployment": "blue"}}']
        await pilot.press("L")
        assert any("no request sent yet" in n.message for n in app._notifications)
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.press("L")
        panel = app.query_one(LogPanel)
        view = panel.query_one(Log)
        await until(pilot, lambda: view.line_count == 1, "the request's one line")
        assert app.query_one(TabbedContent).active == "logs"
        assert panel.container == "router"
        assert request_id in view.lines[0], "its access-log line, as columns"
        assert panel.query_one("#log-search", Input).value == request_id, "the search kept, Esc clears it"

    run(scenario)
