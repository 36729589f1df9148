"""The dashboard driven by Textual's pilot against a real engine running the quickstart: what a
user does in it reaches the engine, and what the engine does shows on screen."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import DataTable, Log, Static, TabbedContent
from textual.widgets._toast import Toast

from tests.engine.harness import RunningEngine, copy_project, deployment_yaml, engine, folder_with
from workbench.client import EngineClient
from workbench.state import DeploymentState, InstancePhase
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.confirm import ConfirmScreen
from workbench.tui.screens.quit import QuitScreen
from workbench.tui.source import LiveSource
from workbench.tui.widgets.endpoint_tree import EndpointTree
from workbench.tui.widgets.log_look import router_columns
from workbench.tui.widgets.logs import LogPanel

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
INIT_RAISES = (
    "def init():\n    raise RuntimeError('model file is corrupt')\n\n\ndef run(data):\n    return data\n"
)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    folder = copy_project(QUICKSTART, tmp_path_factory.mktemp("dashboard") / "quickstart")
    with engine(folder, folder.parent) as started:
        started.wait_settled()
        yield started


async def until(pilot: Pilot[Any], check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen in {timeout} s: {what}")
        await pilot.pause(0.1)


def text_of(app: WorkbenchApp, selector: str) -> str:
    widget = app.screen.query_one(selector) if app.screen.query(selector) else app.query_one(selector)
    if isinstance(widget, Log):
        return "\n".join(widget.lines)
    assert isinstance(widget, Static)
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(widget.render())  # a Text, or a Group of them
    return console.export_text()


def tree_labels(app: WorkbenchApp) -> list[str]:
    tree = app.query_one(EndpointTree)
    labels = []
    for line in range(tree.last_line + 1):
        node = tree.get_node_at_line(line)
        if node is not None:
            labels.append(str(node.label))
    return labels


def drive(
    running: RunningEngine, scenario: Callable[[Pilot[Any], WorkbenchApp], Any], wait_for: str = "blue-0"
) -> None:
    asyncio.run(_drive(running, scenario, wait_for))


async def _drive(
    running: RunningEngine, scenario: Callable[[Pilot[Any], WorkbenchApp], Any], wait_for: str
) -> None:
    client = EngineClient.for_folder(running.folder)
    source = LiveSource(client, log_lines=500)
    app = WorkbenchApp(source)
    try:
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await until(pilot, lambda: any(wait_for in label for label in tree_labels(app)), "the instances")
            await scenario(pilot, app)
            app.exit()  # as q does: the event stream stops, the source closes as the app ends
    finally:
        client.close()


def test_selecting_a_deployment_follows_its_logs_live(running: RunningEngine) -> None:
    async def scenario(pilot: Pilot[Any], app: WorkbenchApp) -> None:
        await pilot.press("down")  # from the endpoint to blue
        assert app.selection is not None
        assert app.selection.deployment == "blue"
        await until(pilot, lambda: "init" in text_of(app, "#log-view"), "blue's inference-server log")
        # a request now shows in the router's access log, live
        await pilot.click("#log-containers Tab#router")
        with EngineClient.for_folder(running.folder) as client:
            answer = client.invoke("quickstart", (QUICKSTART / "sample-request.json").read_bytes(), "green")
        request_id = answer.headers["x-request-id"]
        await until(pilot, lambda: request_id in text_of(app, "#log-view"), "the request in the router log")
        await pilot.press("J")  # the raw line, on demand
        await until(
            pilot, lambda: f'"request_id": "{request_id}"' in text_of(app, "#log-view"), "the JSON line"
        )
        await pilot.press("J")
        await until(pilot, lambda: '"request_id"' not in text_of(app, "#log-view"), "columns again")
        # search, and & keeps only the lines that match
        await pilot.press("slash", *request_id[:8], "enter", "ampersand")
        await pilot.pause(0.2)
        shown = app.query_one(LogPanel).query_one(Log).lines
        assert shown
        assert all(request_id[:8] in line for line in shown)

    drive(running, scenario)


def test_invoke_shows_the_answer_and_keeps_a_history(running: RunningEngine) -> None:
    async def scenario(pilot: Pilot[Any], app: WorkbenchApp) -> None:
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "HTTP 200" in text_of(app, "#invoke-answer"), "the answer")
        answer = text_of(app, "#invoke-answer")
        assert "served by blue" in answer or "served by green" in answer
        assert "x-request-id" in answer
        await pilot.press("ctrl+s")
        history = app.query_one("#invoke-history", DataTable)
        await until(pilot, lambda: history.row_count == 2, "two rows of history")

    drive(running, scenario)


def test_traffic_editor_changes_the_split_in_the_engine_and_the_bar(running: RunningEngine) -> None:
    async def scenario(pilot: Pilot[Any], app: WorkbenchApp) -> None:
        await pilot.press("t", "left")  # blue 90 -> 85: the 5% goes to green, the total stays 100
        assert "ok: enter applies" in text_of(app, "#traffic-problems")
        assert running.status()[0].traffic == {"blue": 90, "green": 10}  # nothing applied yet
        await pilot.press("enter")
        await until(
            pilot, lambda: running.status()[0].traffic == {"blue": 85, "green": 15}, "the engine's split"
        )
        await until(pilot, lambda: any("85%" in label for label in tree_labels(app)), "the tree's share")
        await pilot.press("t", "down", "left", "enter")  # green 15 -> 10, back to blue
        await until(pilot, lambda: running.status()[0].traffic == {"blue": 90, "green": 10}, "the split back")
        await pilot.press("t", "m", "right")  # a mirror share is not balanced, and the rules still speak
        assert "has live traffic (90%) and cannot also receive mirror traffic" in text_of(
            app, "#traffic-problems"
        )
        await pilot.press("escape")

    drive(running, scenario)


def test_restarting_an_instance_goes_round_to_ready(running: RunningEngine) -> None:
    async def scenario(pilot: Pilot[Any], app: WorkbenchApp) -> None:
        before = running.status()[0].deployment("green")
        assert before is not None
        restarts = before.instances[0].restarts
        await pilot.press("down", "down", "down", "down")  # blue, blue-0, green, green-0
        assert app.selection is not None
        assert app.selection.instance == "green-0"
        await pilot.press("r")
        await until(pilot, lambda: "green-0: restarting" in text_of(app, "#event-log"), "the restart event")
        await until(
            pilot,
            lambda: f"ready again after restart {restarts + 1}" in text_of(app, "#event-log"),
            "ready again",
        )
        after = running.status()[0].deployment("green")
        assert after is not None
        assert after.instances[0].restarts == restarts + 1
        assert after.instances[0].state is InstancePhase.READY
        await until(
            pilot, lambda: any(f"↻{restarts + 1}" in label for label in tree_labels(app)), "the count"
        )

    drive(running, scenario)


def test_the_fault_editor_injects_and_clears_faults_and_kills_an_instance(running: RunningEngine) -> None:
    def green() -> DeploymentState:
        found = running.status()[0].deployment("green")
        assert found is not None
        return found

    async def scenario(pilot: Pilot[Any], app: WorkbenchApp) -> None:
        restarts = green().instances[0].restarts
        await pilot.press("down", "down", "down")  # blue, blue-0, green
        await pilot.press("f", "down", *["right"] * 20, "enter")  # errors: 100%, answered 503
        await until(pilot, lambda: green().faults == "100% answered 503 (workbench fault)", "the faults")
        with EngineClient.for_folder(running.folder) as client:
            assert client.invoke("quickstart", b"{}", "green").status == 503
        await until(pilot, lambda: "green: 100% answered 503" in text_of(app, "#summary"), "the summary")
        await pilot.press("f", "c")
        await until(pilot, lambda: green().faults is None, "the faults cleared")
        await pilot.press("f", "x")  # kill green-0, its only ready instance: asked first
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")  # it restarts as after a crash
        await until(pilot, lambda: green().instances[0].restarts == restarts + 1, "the restart", 60)
        await until(pilot, lambda: green().instances[0].state is InstancePhase.READY, "ready again", 120)
        await pilot.press("f", "escape")
        assert green().faults is None

    drive(running, scenario)


def toasts(app: WorkbenchApp) -> str:
    return "\n".join(str(toast.render()) for toast in app.screen.query(Toast))


def test_failures_pop_up_with_the_file_and_line(tmp_path: Path) -> None:
    """A deployment whose init() raises, and a broken edit of another one's code."""
    folder = folder_with(
        tmp_path,
        {"score.py": "def init():\n    pass\n\n\ndef run(data):\n    return data\n", "bad.py": INIT_RAISES},
        {"blue": deployment_yaml("blue", "score.py"), "red": deployment_yaml("red", "bad.py")},
    )
    with engine(folder, tmp_path) as started:

        async def scenario(pilot: Pilot[Any], app: WorkbenchApp) -> None:
            where = f"at {folder}/code/bad.py:2"  # the user's file, not the staged copy
            await until(
                pilot, lambda: where in toasts(app), "the failed deployment's file and line", timeout=60
            )
            await until(pilot, lambda: any("blue-0  Ready" in label for label in tree_labels(app)), "blue")
            (folder / "code" / "score.py").write_text("def init():\n    pass\n\ndef run(data)\n")
            await until(pilot, lambda: "reload failed" in toasts(app), "the failed reload")
            assert f"{folder}/code/score.py:4: SyntaxError" in toasts(app)

        drive(started, scenario, wait_for="blue-0")


def test_keys_act_on_what_is_visible_wherever_the_focus_is(running: RunningEngine) -> None:
    with EngineClient.for_folder(running.folder) as client:
        key = client.credentials("quickstart").secret

    async def scenario(pilot: Pilot[Any], app: WorkbenchApp) -> None:
        await pilot.press("3")  # the invoke tab: nothing there is focused yet
        await pilot.press("slash")  # search, from anywhere: the logs tab, its search field focused
        assert app.query_one(TabbedContent).active == "logs"
        assert app.focused is app.query_one("#log-search")
        await pilot.press("escape")
        await pilot.press("3")
        app.query_one("#invoke-body").focus()
        await pilot.press("escape")  # leaves the body: q would quit again, not type
        assert isinstance(app.focused, EndpointTree)
        await pilot.press("j")
        assert app.selection is not None
        assert app.selection.deployment == "blue"
        await pilot.press("k")  # up, as in vim; it copies nothing
        assert app.selection.deployment is None
        assert app.clipboard != key
        await pilot.press("y")  # yank the key, as k9s does
        await until(pilot, lambda: app.clipboard == key, "the key copied")
        await pilot.press("G")
        assert app.selection.instance == "green-0"
        await pilot.press("g", "j", "enter")  # Enter drills into the deployment's logs
        assert app.query_one(TabbedContent).active == "logs"
        assert app.focused is app.query_one("#log-view")
        await pilot.press("ctrl+c")  # instances serve: it asks, as q does
        await until(pilot, lambda: isinstance(app.screen, QuitScreen), "the question")
        assert "2 instance(s) serving" in app.screen.serving
        await pilot.press("escape")  # stay
        await until(pilot, lambda: not isinstance(app.screen, QuitScreen), "the question gone")
        assert app.is_running

    drive(running, scenario)


def test_the_router_log_reads_as_columns() -> None:
    record = {
        "time": "2026-11-30T08:30:01Z",
        "request_id": "7c1d",
        "method": "POST",
        "path": "/score",
        "deployment": "green",
        "pinned": False,
        "mirrored_to": "blue",
        "status": 424,
        "model_status": 500,
        "latency_ms": 3.456,
    }
    line = router_columns(json.dumps(record))
    assert line.split() == [
        "08:30:01",
        "424/500",
        "3.5ms",
        "green",
        "live+mirror",
        "7c1d",
        "POST",
        "/score",
        "mirror:blue",
    ]
    assert router_columns("not a record") == "not a record"


def test_a_deployments_log_merges_its_instances_with_a_prefix(tmp_path: Path) -> None:
    script = (
        "import os\n\ndef init():\n    print('init in', os.getpid())\n\n\ndef run(data):\n    return data\n"
    )
    folder = folder_with(
        tmp_path,
        {"score.py": script},
        {"blue": deployment_yaml("blue", "score.py", extra="instance_count: 2\n")},
    )
    with engine(folder, tmp_path) as started:
        started.wait_settled(120)

        async def scenario(pilot: Pilot[Any], app: WorkbenchApp) -> None:
            await pilot.press("down")  # the deployment, not one instance
            assert app.selection is not None
            assert app.selection.instance is None

            def both() -> bool:
                lines = text_of(app, "#log-view").splitlines()
                return any(line.startswith("[blue-0] ") for line in lines) and any(
                    line.startswith("[blue-1] ") for line in lines
                )

            await until(pilot, both, "both instances' lines, each with its prefix")
            await pilot.press("down")  # one instance: its own log, no prefix
            await until(
                pilot,
                lambda: (
                    (lines := text_of(app, "#log-view").splitlines()) != [] and not lines[0].startswith("[")
                ),
                "blue-0's own log",
            )

        drive(started, scenario, wait_for="blue-1")
