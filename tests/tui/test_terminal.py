"""End to end in a real terminal: `workbench up examples/quickstart` in tmux, read off the screen
and driven with key presses, as a user would; quitting stops the engine and its instances."""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import require_program
from tests.engine.harness import alive, copy_project, until
from tests.engine.test_actions import save_like_an_editor
from tests.terminal import Cell, Terminal
from workbench.client import EngineClient

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    require_program("tmux")
    term = Terminal(f"workbench-test-{uuid.uuid4().hex[:8]}", 100, 30)
    try:
        yield term
    finally:
        term.stop()


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A copy of the quickstart; an engine a failed test leaves running is stopped."""
    folder = copy_project(QUICKSTART, tmp_path / "quickstart")
    yield folder
    connection = folder / ".workbench" / "connection.json"
    if connection.exists():
        with contextlib.suppress(psutil.Error):
            engine = psutil.Process(int(_connection(folder)["pid"]))
            engine.terminate()
            engine.wait(30)


def up_in(terminal: Terminal, folder: Path) -> None:
    command = (
        f"cd {shlex.quote(str(folder))} && {shlex.quote(sys.executable)} -m workbench up . ; "
        "echo workbench exited with $?; sleep 600"
    )
    # COLUMNS and LINES (pytest sets them) would override the terminal's own size
    terminal.start(f"env -u COLUMNS -u LINES TERM=xterm-256color sh -c {shlex.quote(command)}")
    terminal.wait_for("blue-0  Ready", timeout=120)
    terminal.wait_for("green-0  Ready")


def gone(processes: list[psutil.Process], timeout: float = 30) -> bool:
    try:
        until(lambda: not any(alive(p) for p in processes), timeout)
    except TimeoutError:
        return False
    return True


def test_up_in_a_terminal_shows_the_endpoint_and_quits_cleanly(terminal: Terminal, project: Path) -> None:
    folder = project
    up_in(terminal, folder)
    screen = terminal.screen()
    assert "quickstart  Succeeded" in screen
    assert "http://127.0.0.1:" in screen
    assert "/score" in screen

    engine = psutil.Process(int(_connection(folder)["pid"]))
    instances = engine.children(recursive=True)
    assert instances, "the engine runs instances"

    terminal.press("down")  # blue: its inference-server log
    terminal.wait_for("azmlinfsrv.user_script")
    terminal.press("?")
    terminal.wait_for("restart the selected instance")
    terminal.press("Escape")  # alone: an escape followed at once by a key reads as alt+key
    terminal.wait_for_gone("restart the selected instance")
    terminal.press("3", "C-s")  # the invoke tab, send the sample request
    terminal.wait_for("HTTP 200")

    terminal.quit_stopping()
    terminal.wait_for("workbench exited with 0", timeout=60)
    assert "engine stopped" in terminal.screen()
    assert not (folder / ".workbench" / "connection.json").exists()
    assert gone([engine, *instances])


def test_closing_the_terminal_stops_the_engine_it_started(terminal: Terminal, project: Path) -> None:
    up_in(terminal, project)
    engine = psutil.Process(int(_connection(project)["pid"]))
    instances = engine.children(recursive=True)
    [dashboard] = [
        p
        for p in psutil.process_iter(["cmdline", "cwd"])
        if p.info["cwd"] == str(project)
        and "up" in (p.info["cmdline"] or [])
        and "--headless" not in p.info["cmdline"]
    ]
    terminal.stop()  # the window closes: the dashboard gets SIGHUP
    assert gone([engine, *instances]), "the engine outlived its terminal"
    assert gone([dashboard]), "the dashboard outlived its terminal"


def test_detach_leaves_the_engine_serving_and_up_attaches_again(terminal: Terminal, project: Path) -> None:
    up_in(terminal, project)
    pid = int(_connection(project)["pid"])
    terminal.press("D")
    terminal.wait_for("workbench exited with 0")
    assert "the engine keeps running" in terminal.screen()
    assert psutil.pid_exists(pid)
    terminal.stop()
    second = Terminal(f"{terminal.socket}-again", 100, 30)
    try:
        up_in(second, project)  # attaches: the same engine, nothing started again
        assert int(_connection(project)["pid"]) == pid
        second.press("q")
        second.wait_for("workbench exited with 0")
        assert psutil.pid_exists(pid), "quitting a dashboard that attached leaves the engine running"
    finally:
        second.stop()


def test_a_broken_save_points_at_the_users_line_until_the_fix(terminal: Terminal, project: Path) -> None:
    up_in(terminal, project)
    score = project / "onlinescoring" / "score.py"
    original = score.read_text()
    save_like_an_editor(score, original.replace("def run(raw_data):", "def run(raw_data)"))
    screen = terminal.wait_for("reload failed", timeout=60)
    assert screen.count("reload failed") <= 2, (
        "one notification per deployment (blue, green), not per instance"
    )
    beside = "blue: onlinescoring/score.py:18: SyntaxError"
    terminal.wait_for(beside)
    terminal.wait_for_gone("reload failed", timeout=60)  # the notification fades ...
    assert beside in terminal.screen()  # ... the failure stays, under the endpoint's summary
    save_like_an_editor(score, original)  # the fix
    terminal.wait_for_gone(beside, timeout=60)
    terminal.quit_stopping()
    terminal.wait_for("workbench exited with 0", timeout=60)


def test_the_focused_pane_shows_on_its_edge_and_a_tab_switch_never_loses_it(
    terminal: Terminal, project: Path
) -> None:
    up_in(terminal, project)
    tree_edge, summary_edge = _edges(terminal)  # the tree has the focus at start
    accent = tree_edge
    assert summary_edge != accent, "only the focused pane is marked"
    terminal.press("down", "Enter")  # Enter drills into blue's logs
    _until(lambda: _edges(terminal)[1] == accent, "the right-hand pane's edge marked", terminal)
    assert _edges(terminal)[0] != accent, "the tree's edge no longer marked"
    terminal.press("3")  # the invoke tab hides the log that had the focus
    _until(lambda: _edges(terminal)[0] == accent, "the focus back on the tree, visibly", terminal)
    unselected = _background_of(terminal, "blue-0  Ready")
    terminal.press("j")  # and the keys act on it at once: the cursor moves down to blue-0
    _until(lambda: _background_of(terminal, "blue-0  Ready") != unselected, "the cursor on blue-0", terminal)
    terminal.quit_stopping()
    terminal.wait_for("workbench exited with 0", timeout=60)


def test_search_from_the_tree_finds_highlights_and_steps(terminal: Terminal, project: Path) -> None:
    up_in(terminal, project)
    terminal.wait_for("azmlinfsrv.user_script")  # the first deployment's log, followed at start
    terminal.press("/")  # from the tree: the search field of the logs tab
    terminal.wait_for("search (enter")
    terminal.press("-l", "user_script")
    screen = terminal.wait_for(" matches")
    found_count = re.search(r"(\d+) matches", screen)
    assert found_count, screen
    count = int(found_count.group(1))
    assert count >= 3, screen
    terminal.press("Enter")  # back to the log, the search kept
    _until(lambda: not _search_focused(terminal), "the search field left", terminal)
    terminal.press("n")  # to the first match, wherever the log had followed to
    terminal.wait_for(f"1/{count} matches")

    def matched_rows() -> list[list[Cell]]:
        return [row for row in terminal.cells() if "azmlinfsrv.user_script" in "".join(c.char for c in row)]

    _until(lambda: bool(matched_rows()), "the first match in view", terminal)
    for row in matched_rows():
        text = "".join(cell.char for cell in row)
        start = text.index("user_script", text.index("azmlinfsrv"))
        match, before = row[start : start + len("user_script")], row[start - 2]
        assert {cell.fg for cell in match} != {before.fg}, f"the match is not highlighted in {text!r}"
    terminal.press("n")
    terminal.wait_for(f"2/{count} matches")
    terminal.press("N")
    terminal.wait_for(f"1/{count} matches")
    terminal.quit_stopping()
    terminal.wait_for("workbench exited with 0", timeout=60)


def test_the_router_log_reads_as_coloured_columns_at_100_columns(terminal: Terminal, project: Path) -> None:
    up_in(terminal, project)
    with EngineClient.for_folder(project) as client:
        uri, headers = client.scoring("quickstart")
    body = (project / "sample-request.json").read_bytes()
    ids = []
    for _ in range(3):
        request = urllib.request.Request(uri, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=60) as answer:
            ids.append(answer.headers["x-request-id"])
    refused = urllib.request.Request(
        uri, data=body, headers={**headers, "Authorization": "Bearer wrong"}, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(refused, timeout=60)
    assert error.value.code == 401
    for _ in range(3):  # the router's log: the fourth container
        terminal.press("]")
    terminal.wait_for(ids[-1][:8])
    screen = terminal.wait_for(" 401 ")
    logged = (line[line.rindex("│") + 1 :] for line in screen.splitlines() if "│" in line)
    rows = [row for row in logged if re.match(r"\d\d:\d\d:\d\d ", row)]
    assert len(rows) == 4, screen
    for row in rows:  # every column visible at 100 columns, each at the same place on every line
        clock, status, latency, deployment, how, request_id = row.split()[:6]
        assert (len(clock), clock[2], clock[5]) == (8, ":", ":"), row
        assert status in ("200", "401"), row
        assert row.index(status) == rows[0].index(rows[0].split()[1]), row
        assert latency.endswith("ms"), row
        assert deployment in ("blue", "green", "-"), row
        assert how == "live", row
        assert len(request_id) >= 8, row
    assert any(rid[:8] in screen for rid in ids)
    colours = {}
    for cells in terminal.cells():
        text = "".join(cell.char for cell in cells)
        for status in ("200", "401"):
            if f" {status} " in text:
                colours[status] = cells[text.index(f" {status} ") + 1].fg
    assert colours["200"] != colours["401"], "a refusal does not look like a success"
    terminal.quit_stopping()
    terminal.wait_for("workbench exited with 0", timeout=60)


def _edges(terminal: Terminal) -> tuple[object, object]:
    """The colours of the tree's right edge and of the line under the endpoint's summary."""
    rows = terminal.cells()
    texts = ["".join(cell.char for cell in row) for row in rows]
    width = max(len(text) for text in texts)
    column = max(range(5, width), key=lambda x: sum(len(t) > x and t[x] == "│" for t in texts))
    line = next(n for n, t in enumerate(texts) if t[column + 1 : column + 21] == "─" * 20)
    return rows[3][column].fg, rows[line][column + 10].fg


def _background_of(terminal: Terminal, label: str) -> object:
    for row in terminal.cells():
        text = "".join(cell.char for cell in row)
        if label in text:
            return row[text.index(label)].bg
    raise AssertionError(f"{label!r} not on screen:\n{terminal.screen()}")


def _search_focused(terminal: Terminal) -> bool:
    """Whether the search field has the focus: its edge is drawn (blurred, it is the background's
    colour)."""
    for row in terminal.cells():
        text = "".join(cell.char for cell in row)
        if "user_script" in text and "▊" in text:
            edge = row[text.index("▊")]
            return edge.fg != edge.bg
    return False


def _until(check: Callable[[], bool], what: str, terminal: Terminal, timeout: float = 30) -> None:
    until(check, timeout, lambda: f"{what}: not after {timeout} s:\n{terminal.screen()}")


def _connection(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / ".workbench" / "connection.json").read_text()))


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
