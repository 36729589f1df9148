"""The keeper (engine/keeper.py): a background engine's ports outlive it. Under paced load, an
engine killed with SIGKILL is started again and a restart asked for (promote's, when the
workbench changed) waits for the next engine, each with no failed request; `down` ends the
keeper and its ports. Real processes: `workbench up --detach`, the keeper, the engine."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO, run_workbench
from tests.engine.harness import ECHO, deployment_yaml, folder_with, until
from tests.paced import PacedLoad
from workbench.client import EngineClient
from workbench.engine.keeper import KeeperClient, socket_path


def engine_pid(folder: Path) -> int | None:
    try:
        return int(json.loads((folder / ".workbench" / "connection.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def serving(folder: Path) -> tuple[str, str]:
    with EngineClient.for_folder(folder) as client:
        return client.status()[0].scoring_uri or "", client.credentials("tests").secret


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return True
    except OSError:
        return False


@pytest.mark.timeout(300)
def test_a_killed_engine_and_a_restart_lose_no_request_and_down_closes_the_ports(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"score.py": ECHO}, {"blue": deployment_yaml("blue", "score.py")})
    started = run_workbench("up", "--detach", "--all-traffic", "blue", str(folder), timeout=120)
    assert started.returncode == 0, started.stderr
    keeper = KeeperClient(socket_path(folder))
    try:
        uri, key = serving(folder)
        port = int(uri.split(":")[2].split("/")[0])
        first = engine_pid(folder)
        assert first is not None
        with PacedLoad(uri, key, b'{"data": [1]}') as load:
            until(lambda: len(load.answers) >= 10, 60)
            os.kill(first, signal.SIGKILL)
            until(lambda: engine_pid(folder) not in (None, first), 60)
            served = len(load.answers)
            until(lambda: len(load.answers) >= served + 20, 60)  # the new engine serves on

            second = engine_pid(folder)
            with EngineClient.for_folder(folder) as client:
                client.shutdown(restart=True)
            assert accepts(port), "no engine runs, yet the port takes connections: the keeper holds it"
            waited = len(load.answers)
            resumed = run_workbench("up", "--detach", str(folder), timeout=120)
            assert resumed.returncode == 0, resumed.stderr
            assert engine_pid(folder) not in (None, second)
            until(lambda: len(load.answers) >= waited + 20, 60)
        assert load.failures == [], load.failures[:5]
        log = (folder / ".workbench" / "engine.log").read_text()
        assert "keeper: the engine stopped (signal 9); starting it again" in log
        assert f"port {port} kept across the engine's restart" in log
    finally:
        stopped = run_workbench("down", "--project", str(folder), timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    until(lambda: not keeper.answers(), 30)
    assert not accepts(port), "down closed the port: the keeper ended with the engine"


def test_down_stops_a_keeper_that_waits_for_its_engine(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"score.py": ECHO}, {"blue": deployment_yaml("blue", "score.py")})
    assert run_workbench("up", "--detach", str(folder), timeout=120).returncode == 0
    keeper = KeeperClient(socket_path(folder))
    with EngineClient.for_folder(folder) as client:
        assert client.shutdown(restart=True)
    assert keeper.answers()
    stopped = run_workbench("down", "--project", str(folder), timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    assert "keeper stopped" in stopped.stderr
    until(lambda: not keeper.answers(), 30)


def test_an_engine_that_never_comes_up_ends_its_keeper_and_up_says_why(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"score.py": ECHO}, {"blue": deployment_yaml("blue", "score.py")})
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    result = run_workbench(
        "up", "--detach", "--tls-cert", str(junk), "--tls-key", str(junk), str(folder), timeout=120
    )
    assert result.returncode != 0
    assert "the engine stopped at start-up (exit code" in result.stderr
    assert "do not load as a PEM certificate and its private key" in result.stderr
    assert not KeeperClient(socket_path(folder)).answers()
    left = [p for p in psutil.process_iter(["cmdline"]) if str(folder) in " ".join(p.info["cmdline"] or [])]
    assert left == [], "no keeper is left behind"


def test_the_keepers_folder_is_this_users_alone_and_its_path_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
        path = socket_path(tmp_path / "project")
        assert path.parent.parent == runtime
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        os.chown(path.parent, 65534, 65534)  # another user's folder, there before this one
        with pytest.raises(PermissionError, match="not a folder of this user's"):
            socket_path(tmp_path / "project")
    finally:
        shutil.rmtree(runtime)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / ("long" * 30)))
    path = socket_path(tmp_path / "project")
    assert len(str(path)) < 104
    assert path.parent.parent == Path(tempfile.gettempdir())


CHILD = """
import os, sys
from pathlib import Path
from workbench.engine.keeper import KeeperClient
starts = Path(sys.argv[1])
starts.write_text(starts.read_text() + "x" if starts.exists() else "x")
keeper = KeeperClient.from_env()
keeper.ready(os.getpid())
if sys.argv[2] == "on-purpose":
    keeper.stopping(os.getpid())
sys.exit(1)  # an end that fails on the way out
"""


@pytest.mark.parametrize(("how", "restarted"), [("on-purpose", False), ("crash", True)])
def test_the_keeper_starts_again_an_engine_that_crashed_not_one_that_stopped_on_purpose(
    tmp_path: Path, how: str, restarted: bool
) -> None:
    starts = tmp_path / "starts"
    command = [sys.executable, "-c", CHILD, str(starts), how]
    keeper = subprocess.Popen(
        [sys.executable, "-m", "workbench.engine.keeper", str(socket_path(tmp_path)), "--", *command],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        if restarted:
            until(lambda: starts.exists() and len(starts.read_text()) >= 2, 30)  # started again
            assert keeper.poll() is None
        else:
            output, _ = keeper.communicate(timeout=30)
            assert keeper.returncode == 0, output
            assert starts.read_text() == "x", "stopped on purpose: never started again"
    finally:
        if keeper.poll() is None:
            keeper.terminate()
        keeper.communicate(timeout=30)
