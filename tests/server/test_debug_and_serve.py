"""The debugger switch and `workbench serve`, run for real."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import joblib
import numpy
import psutil

from tests.conftest import QUICKSTART, REPO
from tests.dap import DapClient
from tests.server.harness import FIXTURES, Server, free_port, running, stop, wait_ready


def test_debug_wait_holds_init_until_a_debugger_attaches(tmp_path: Path) -> None:
    debug_port = free_port()
    log = tmp_path / "server.log"
    port = free_port()
    env = {**os.environ, "AML_APP_ROOT": str(FIXTURES), "PYTHONPATH": str(REPO), "WORKBENCH_ADMIN_TOKEN": "t"}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "workbench.server",
                "--entry_script",
                "echo.py",
                "--port",
                str(port),
                "--debug-port",
                str(debug_port),
                "--debug-wait",
            ],
            cwd=FIXTURES,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server("workbench", f"http://127.0.0.1:{port}", process, log)
    try:
        client = DapClient(debug_port)  # debugpy listens before init() would run
        assert "Worker with pid" not in server.output()  # init() is held
        client.attach()
        wait_ready(server, 30)
        status = httpx.get(server.url + "/-/status", headers={"Authorization": "Bearer t"}).json()
        assert status["debugger_attached"] is True
        assert httpx.post(server.url + "/score", content=b"x").json() == {"echo": "x"}
        client.close()
    finally:
        stop(process)
    assert f"Debugger listening on 127.0.0.1:{debug_port}" in server.output()


def test_status_says_no_debugger_when_none(tmp_path: Path) -> None:
    with running(
        "workbench", FIXTURES / "echo.py", env={"WORKBENCH_ADMIN_TOKEN": "t"}, log_dir=tmp_path
    ) as s:
        status = httpx.get(s.url + "/-/status", headers={"Authorization": "Bearer t"}).json()
    assert status["debugger_attached"] is False
    assert status["input_mode"] == "json"
    assert status["event_loop"] == "uvloop"  # installed here, as the engine installs it in environments


def test_the_server_runs_on_asyncios_loop_where_told_or_where_uvloop_is_not(tmp_path: Path) -> None:
    told = {"WORKBENCH_ADMIN_TOKEN": "t", "WORKBENCH_EVENT_LOOP": "asyncio"}
    with running("workbench", FIXTURES / "echo.py", env=told, log_dir=tmp_path) as s:
        status = httpx.get(s.url + "/-/status", headers={"Authorization": "Bearer t"}).json()
        assert httpx.post(s.url + "/score", content=b"x").json() == {"echo": "x"}
    assert status["event_loop"] == "asyncio"


def test_workbench_serve_quickstart_answers_with_the_model(tmp_path: Path) -> None:
    script = QUICKSTART / "onlinescoring" / "score.py"
    server = start_serve(tmp_path, "--entry_script", str(script), "--model_dir", str(QUICKSTART / "model-1"))
    process, port = server.process, int(server.url.rsplit(":", 1)[1])
    try:
        wait_ready(server, 60)
        request = json.loads((QUICKSTART / "sample-request.json").read_text())
        answer = httpx.post(server.url + "/score", json=request, timeout=30).json()
    finally:
        stop(process)
    assert _server_processes(port) == []  # SIGTERM to `workbench serve` stops its server too
    model = joblib.load(QUICKSTART / "model-1" / "model" / "sklearn_regression_model.pkl")
    expected = model.predict(numpy.array(request["data"])).tolist()
    assert answer == expected


def test_workbench_serve_reload_picks_up_an_edit(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    script = code / "score.py"
    script.write_text("def init():\n    pass\n\n\ndef run(data):\n    return 1\n")
    server = start_serve(tmp_path, "--entry_script", str(script), "--reload")
    process = server.process
    try:
        wait_ready(server, 30)
        assert httpx.post(server.url + "/score", content=b"").json() == 1
        deadline = time.monotonic() + 60
        while httpx.post(server.url + "/score", content=b"").json() != 2:
            assert time.monotonic() < deadline, server.output()
            # saved again until seen: an edit made before the watcher started is not an event
            script.write_text("def init():\n    pass\n\n\ndef run(data):\n    return 2\n")
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) in (0, 130)
    finally:
        stop(process)
    assert "workbench serve: reloading, score.py changed" in server.output()


def _server_processes(port: int) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"workbench.server" in command and str(port).encode() in command:
            found.append(int(pid))
    return found


def start_serve(log_dir: Path, *args: str) -> Server:
    """`workbench serve ARGS --port <free port>` in a subprocess, its output in a log file."""
    port = free_port()
    log = log_dir / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "workbench", "serve", *args, "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return Server("workbench", f"http://127.0.0.1:{port}", process, log)


def test_workbench_serve_runs_a_deployment_in_its_built_environment(tmp_path: Path) -> None:
    """`--deployment` finds the script, the model folder and the environment the engine builds (the
    quickstart needs scikit-learn, which the workbench's own Python may not have); azmlinfsrv's
    flags that are not implemented are accepted with a warning, not refused."""
    project = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, project, ignore=shutil.ignore_patterns(".workbench"))
    server = start_serve(
        tmp_path, "--deployment", "quickstart/green", "--project", str(project), "--config_file", "c.json"
    )
    try:
        wait_ready(server, 300)
        request = json.loads((QUICKSTART / "sample-request.json").read_text())
        answer = httpx.post(server.url + "/score", json=request, timeout=30).json()
    finally:
        stop(server.process)
    model = joblib.load(QUICKSTART / "model-2" / "model" / "sklearn_regression_model.pkl")
    assert answer == model.predict(numpy.array(request["data"])).tolist()
    output = server.output()
    assert "quickstart/green runs in " in output
    assert "config_file" in output  # the server's warning that it ignores it


def test_workbench_serve_leaves_port_and_workers_to_the_environment(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "workbench", "serve", "--entry_script", str(FIXTURES / "echo.py")],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "SERVER_PORT": str(port), "WORKER_COUNT": "2"},
        )
    server = Server("workbench", f"http://127.0.0.1:{port}", process, log)
    try:
        wait_ready(server, 60)
        assert httpx.post(server.url + "/score", json={"a": 1}).json() == {"echo": '{"a":1}'}
        servers = psutil.Process(process.pid).children(recursive=True)
    finally:
        stop(process)
    assert len(servers) == 3, server.output()  # the server and WORKER_COUNT's two workers
