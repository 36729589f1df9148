"""Start-up as azmlinfsrv does it: failures exit with code 3 and say why; logs in its shape."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.engine.harness import until
from tests.server.conftest import ServerPool
from tests.server.harness import FIXTURES, run_to_exit

KINDS = ["azmlinfsrv", "workbench"]


@pytest.mark.parity
@pytest.mark.parametrize("kind", KINDS)
def test_init_raising_exits_3_with_traceback_and_model_tree(
    kind: str, tmp_path: Path, real_server_venv: Path
) -> None:
    code, output = run_to_exit(kind, FIXTURES / "init_raises.py", log_dir=tmp_path)

    assert code == 3
    assert "User's init function failed" in output
    assert "RuntimeError: init failed on purpose" in output
    assert 'init_raises.py", line 2, in init' in output


@pytest.mark.parity
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("fixture", "message"),
    [
        ("no_run.py", "does not have a run() function defined."),
        ("bad_signature.py", "run() cannot accept positional-only arguments, *args, or **kwargs."),
    ],
)
def test_script_that_cannot_serve_exits_3(
    kind: str, fixture: str, message: str, tmp_path: Path, real_server_venv: Path
) -> None:
    code, output = run_to_exit(kind, FIXTURES / fixture, log_dir=tmp_path)

    assert code == 3
    assert message in output


LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [IWE] \[\d+\] azmlinfsrv(\.\w+)? - ")


@pytest.mark.parity
@pytest.mark.parametrize("kind", KINDS)
def test_log_lines_print_capture_and_request_summary(servers: ServerPool, kind: str) -> None:
    server = servers.get(kind, "prints")
    httpx.post(server.url + "/score", content=b"hi", timeout=10)
    httpx.get(server.url + "/", timeout=10)
    expected = (" - POST /score 200 ", "printed hi", "to stderr", "WARNING:root:a warning line")
    # until the server has written the lines it logs per request
    until(lambda: all(text in server.output() for text in expected), 30, server.output)
    lines = server.output().splitlines()

    assert any(LINE.match(line) and line.endswith("azmlinfsrv.print - hello from init") for line in lines)
    assert any(LINE.match(line) and line.endswith("azmlinfsrv.print - printed hi") for line in lines)
    assert "to stderr" in lines
    assert "WARNING:root:a warning line" in lines
    assert not any("an info line that Azure drops" in line for line in lines)
    summary = [line for line in lines if " - POST /score 200 " in line]
    assert len(summary) == 1
    assert re.search(r" - POST /score 200 \d+\.\d{3}ms 12$", summary[0])
    assert not any(" - GET / " in line for line in lines)


@pytest.mark.parity
@pytest.mark.parametrize("kind", KINDS)
def test_user_swagger_file_replaces_the_generated_one(servers: ServerPool, kind: str) -> None:
    server = servers.get(kind, "user_swagger/score.py")

    assert httpx.get(server.url + "/swagger.json").json()["info"]["title"] == "hand-written"
    assert httpx.get(server.url + "/swagger.json?version=3").json()["info"]["title"] == "ML service"
