"""End to end in a real terminal: `workbench up examples/quickstart` in tmux, read off the screen
and driven with key presses, as a user would; quitting stops the engine and its instances."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import require_program
from tests.engine.harness import copy_project

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


class Terminal:
    def __init__(self, socket: str, width: int, height: int) -> None:
        self.socket = socket
        self.size = (width, height)

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True, timeout=10
        )
        return result.stdout

    def start(self, command: str) -> None:
        width, height = self.size
        self.tmux("new-session", "-d", "-s", "main", "-x", str(width), "-y", str(height), command)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "main")

    def press(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "main", *keys)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on screen after {timeout} s:\n{screen}")
            time.sleep(0.1)

    def wait_for_gone(self, text: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while text in self.screen():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} still on screen after {timeout} s:\n{self.screen()}")
            time.sleep(0.1)


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    require_program("tmux")
    term = Terminal(f"workbench-test-{uuid.uuid4().hex[:8]}", 100, 30)
    try:
        yield term
    finally:
        subprocess.run(["tmux", "-L", term.socket, "kill-server"], capture_output=True, check=False)


def test_up_in_a_terminal_shows_the_endpoint_and_quits_cleanly(terminal: Terminal, tmp_path: Path) -> None:
    folder = copy_project(QUICKSTART, tmp_path / "quickstart")
    command = (
        f"cd {shlex.quote(str(folder))} && {shlex.quote(sys.executable)} -m workbench up . ; "
        "echo workbench exited with $?; sleep 600"
    )
    # COLUMNS and LINES (pytest sets them) would override the terminal's own size
    terminal.start(f"env -u COLUMNS -u LINES TERM=xterm-256color sh -c {shlex.quote(command)}")
    terminal.wait_for("blue-0  Ready", timeout=120)
    screen = terminal.wait_for("green-0  Ready")
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
    time.sleep(0.5)
    left = [pid for pid in [engine.pid, *instances] if psutil.pid_exists(pid)]
    assert not [pid for pid in left if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]


def _connection(folder: Path) -> dict[str, object]:
    return dict(json.loads((folder / ".workbench" / "connection.json").read_text()))
