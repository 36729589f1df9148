"""Shell completion as bash runs it: the script `workbench completion bash` prints is sourced in a
real bash, its function called as bash calls it, and its answers read; names come from a real
engine."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from tests.conftest import run_workbench
from tests.engine.harness import ECHO, deployment_yaml, engine, folder_with


def complete_in_bash(words: list[str], cwd: Path) -> list[str]:
    """What bash offers for the last of `words` (the line typed after `workbench`)."""
    shim = cwd / "bin"
    shim.mkdir(exist_ok=True)
    (shim / "workbench").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m workbench "$@"\n')
    (shim / "workbench").chmod(0o755)
    line = " ".join(shlex.quote(w) for w in ["workbench", *words])
    script = (
        "source <(workbench completion bash)\n"
        f"COMP_WORDS=({line}); COMP_CWORD={len(words)}; _workbench\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return [line for line in done.stdout.splitlines() if line]


def test_commands_and_options_complete_in_bash(tmp_path: Path) -> None:
    assert complete_in_bash(["st"], tmp_path) == ["status"]
    assert complete_in_bash(["do"], tmp_path) == ["doctor", "down"]
    assert complete_in_bash(["logs", "--con"], tmp_path) == ["--container"]
    offered = complete_in_bash(["logs", "quickstart", "blue", "--container", ""], tmp_path)
    assert "storage-initializer" in offered
    assert complete_in_bash(["up", "--runtime", "d"], tmp_path) == ["docker"]


def test_endpoint_and_deployment_names_come_from_the_running_engine(tmp_path: Path) -> None:
    scripts = {"echo.py": ECHO}
    folder = folder_with(
        tmp_path,
        scripts,
        {"blue": deployment_yaml("blue", "echo.py"), "green": deployment_yaml("green", "echo.py")},
    )
    assert complete_in_bash(["logs", ""], folder) == []  # no engine: no names, no error
    with engine(folder, tmp_path):
        assert complete_in_bash(["logs", ""], folder) == ["tests"]
        assert complete_in_bash(["scale", "tests", "g"], folder) == ["green"]
        assert complete_in_bash(["logs", "tests", ""], folder) == ["blue", "green"]


def test_each_shell_has_a_script() -> None:
    for shell, marker in (
        ("bash", "complete -o default -F _workbench workbench"),
        ("zsh", "#compdef workbench"),
        ("fish", "complete -c workbench"),
    ):
        printed = run_workbench("completion", shell)
        assert printed.returncode == 0
        assert marker in printed.stdout
