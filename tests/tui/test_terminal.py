"""End to end in a real terminal: `workbench up examples/quickstart` in tmux, read off the screen
and driven with key presses, as a user would; quitting stops the engine and its instances."""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import require_program
from tests.engine.harness import copy_project
from tests.engine.test_actions import save_like_an_editor
from tests.terminal import Terminal

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


def gone(pids: list[int], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [
            p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
        ]
        if not alive:
            return True
        time.sleep(0.1)
    return False


def test_up_in_a_terminal_shows_the_endpoint_and_quits_cleanly(terminal: Terminal, project: Path) -> None:
    folder = project
    up_in(terminal, folder)
    screen = terminal.screen()
    assert "quickstart  Succeeded" in screen
    assert "http://127.0.0.1:" in screen
    assert "/score" in screen

    engine = psutil.Process(int(_connection(folder)["pid"]))
    instances = [p.pid for p in engine.children(recursive=True)]
    assert instances, "the engine runs instances"

    terminal.press("down")  # blue: its inference-server log
    terminal.wait_for("azmlinfsrv.user_script")
    terminal.press("?")
    terminal.wait_for("restart the selected instance")
    terminal.press("Escape")  # alone: an escape followed at once by a key reads as alt+key
    terminal.wait_for_gone("restart the selected instance")
    terminal.press("3", "C-s")  # the invoke tab, send the sample request
    terminal.wait_for("HTTP 200")

    terminal.press("q")
    terminal.wait_for("workbench exited with 0", timeout=60)
    assert "engine stopped" in terminal.screen()
    assert not (folder / ".workbench" / "connection.json").exists()
    assert gone([engine.pid, *instances])


def test_closing_the_terminal_stops_the_engine_it_started(terminal: Terminal, project: Path) -> None:
    up_in(terminal, project)
    engine = psutil.Process(int(_connection(project)["pid"]))
    instances = [p.pid for p in engine.children(recursive=True)]
    terminal.stop()  # the window closes: the dashboard gets SIGHUP
    assert gone([engine.pid, *instances]), "the engine outlived its terminal"


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
    terminal.press("q")
    terminal.wait_for("workbench exited with 0", timeout=60)


def _connection(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / ".workbench" / "connection.json").read_text()))


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
