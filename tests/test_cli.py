from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import ENDPOINT, REPO, run_workbench
from workbench import __version__


def test_version() -> None:
    result = run_workbench("--version")

    assert result.returncode == 0
    assert result.stdout.strip() == f"workbench {__version__}"


def test_unknown_command_is_a_usage_error() -> None:
    result = run_workbench("deploy-everything")

    assert result.returncode == 2
    assert "invalid choice: 'deploy-everything'" in result.stderr


def test_validate_defaults_to_the_current_folder(tmp_path: Path) -> None:
    (tmp_path / "endpoint.yml").write_text(ENDPOINT)

    result = run_workbench("validate", cwd=tmp_path)

    assert result.returncode == 0
    assert "endpoint.yml:2:1: name: warning: endpoint has no deployments" in result.stdout
    assert result.stdout.splitlines()[-1] == "0 errors, 1 warning in 1 file: 1 endpoint, 0 deployments"


def test_empty_folder_says_what_it_expected(tmp_path: Path) -> None:
    result = run_workbench("validate", str(tmp_path), cwd=tmp_path)

    assert result.returncode == 2
    assert ":1:1: no endpoint YAML found" in result.stdout


WAITS_FOR_CTRL_C = """
import signal, threading
from workbench.cli.interrupt import until_interrupted

# a second thread, with SIGINT open to it, then closed to this one: the kernel hands the signal
# to the other thread, as it may to any thread, or it lands as the wait begins
threading.Thread(target=threading.Event().wait, daemon=True).start()
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
try:
    print("waiting", flush=True)
    until_interrupted()
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


def test_ctrl_c_ends_a_wait_that_did_not_see_the_signal_land() -> None:
    """`workbench record` and the debug tunnel wait for Ctrl-C; a wait on a lock never returns
    when its thread misses the signal (seen as a `workbench record` that ignored Ctrl-C)."""
    waiting = subprocess.Popen(
        [sys.executable, "-c", WAITS_FOR_CTRL_C], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert waiting.stdout is not None
    assert waiting.stdout.readline() == "waiting\n"
    waiting.send_signal(signal.SIGINT)
    out, _ = waiting.communicate(timeout=60)
    assert out == "interrupted\n"
