"""The dashboard in a real terminal (tmux) at 80x24, 120x35 and 200x50, on a real engine: the
`:` command line, the tree's filter, describe, `e` (the failing line in $EDITOR), `s` (a shell inside the
instance, then back), and q asking before it stops what serves."""

from __future__ import annotations

import shlex
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import REPO, require_program
from tests.engine.harness import alive, deployment_yaml, folder_with, until
from tests.terminal import Terminal
from workbench.client import EngineClient

RAISES = (REPO / "fixtures" / "score" / "run_raises.py").read_text()


@pytest.fixture(params=[(80, 24), (120, 35), (200, 50)], ids=lambda size: f"{size[0]}x{size[1]}")
def terminal(request: pytest.FixtureRequest) -> Iterator[Terminal]:
    require_program("tmux")
    width, height = request.param
    term = Terminal(f"workbench-sizes-{uuid.uuid4().hex[:8]}", width, height)
    try:
        yield term
    finally:
        term.stop()


def test_commands_filter_describe_editor_shell_and_quit_at_each_size(
    terminal: Terminal, tmp_path: Path
) -> None:
    folder = folder_with(tmp_path, {"score.py": RAISES}, {"blue": deployment_yaml("blue", "score.py")})
    opened = tmp_path / "editor-was-given"
    editor = tmp_path / "editor.sh"
    editor.write_text(f'#!/bin/sh\necho "$@" > {shlex.quote(str(opened))}\n')
    editor.chmod(0o755)
    command = (
        f"cd {shlex.quote(str(folder))} && EDITOR={shlex.quote(str(editor))} SHELL=/bin/sh "
        f"{shlex.quote(sys.executable)} -m workbench up --all-traffic blue . ; "
        "echo workbench exited with $?; sleep 600"
    )
    terminal.start(f"env -u COLUMNS -u LINES TERM=xterm-256color sh -c {shlex.quote(command)}")
    try:
        terminal.wait_for("blue-0", timeout=120)
        until((folder / ".workbench" / "connection.json").is_file, 60)
        with EngineClient.for_folder(folder) as client:
            until(lambda: client.status()[0].deployments[0].instances[0].serves, 120)
            key = client.credentials("tests").secret
            uri = client.status()[0].scoring_uri or ""
        narrow = terminal.size[0] < 100
        terminal.wait_for("blue-0 ●" if narrow else "blue-0  Ready", timeout=30)  # a glyph when narrow
        answer = httpx.post(uri, json={}, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert answer.status_code == 424  # run() raised: the tree marks it
        terminal.wait_for("⚠1", timeout=30)

        terminal.press(":")
        terminal.wait_for("a command: logs blue")  # the line has the focus: what is typed goes there
        terminal.press("-l", "describe blue")
        terminal.press("Enter")
        terminal.wait_for("Describe tests/blue")
        terminal.wait_for("spec:")  # what the YAML says
        terminal.wait_for("instances: 1 x Standard_DS3_v2")
        terminal.press("Escape")
        terminal.wait_for_gone("Describe tests/blue")

        terminal.press("e")  # blue is selected: its failing line
        until(opened.is_file, 30)
        said = opened.read_text().split()
        assert said[0].startswith("+"), said
        assert int(said[0][1:]) > 0, said
        assert said[1] == str(folder / "code" / "score.py"), "the user's file, never the staged copy"

        terminal.press("s")
        terminal.wait_for("(tests.blue.0) $")  # the instance's shell, in its folder
        terminal.press("-l", "echo inside=$PWD")
        terminal.press("Enter")
        terminal.wait_for("inside=")
        assert "/.workbench/staged/tests/blue/" in "".join(terminal.screen().split())
        terminal.press("-l", "exit")
        terminal.press("Enter")
        terminal.wait_for("blue-0", timeout=30)  # the dashboard is back

        terminal.press(":")
        terminal.wait_for("a command: logs blue")
        terminal.press("-l", "filter")
        terminal.press("Enter")
        terminal.wait_for("filter the tree by name")
        terminal.press("-l", "nothing-by-that-name")
        terminal.wait_for_gone("blue-0")
        terminal.press("Escape")
        terminal.wait_for("blue-0")

        terminal.quit_stopping()
        terminal.wait_for("workbench exited with 0", timeout=60)
    finally:
        if (folder / ".workbench" / "connection.json").exists():
            with EngineClient.for_folder(folder) as client:
                client.shutdown()


def test_a_terminal_closed_during_a_shell_ends_the_dashboard_and_its_engine(tmp_path: Path) -> None:
    """The hang-up goes to the shell alone (the terminal's foreground then): the dashboard, back
    after it, finds its terminal gone and ends as closing its terminal always does."""
    require_program("tmux")
    folder = folder_with(tmp_path, {"score.py": RAISES}, {"blue": deployment_yaml("blue", "score.py")})
    pid_file = tmp_path / "dashboard.pid"
    dashboard_command = (  # its own pid written, then the dashboard in its place
        f"cd {shlex.quote(str(folder))} && echo $$ > {shlex.quote(str(pid_file))} && SHELL=/bin/sh "
        f"exec {shlex.quote(sys.executable)} -m workbench up --all-traffic blue ."
    )
    # a child of the terminal's first process, not that process (which the hang-up always reaches)
    command = f"sh -c {shlex.quote(dashboard_command)}; sleep 600"
    terminal = Terminal(f"workbench-hangup-{uuid.uuid4().hex[:8]}", 120, 35)
    try:
        terminal.start(f"env -u COLUMNS -u LINES TERM=xterm-256color sh -c {shlex.quote(command)}")
        terminal.wait_for("blue-0  Ready", timeout=120)
        dashboard = psutil.Process(int(pid_file.read_text()))
        connection = folder / ".workbench" / "connection.json"
        assert connection.is_file()
        terminal.press("down", "s")  # blue's instance
        terminal.wait_for("(tests.blue.0) $")
    finally:
        terminal.stop()  # the window closes with the shell open
    until(lambda: not alive(dashboard), 60)
    until(lambda: not connection.exists(), 60)  # the engine it started stopped with it
