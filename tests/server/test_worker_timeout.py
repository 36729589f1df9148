"""WORKER_TIMEOUT, as azmlinfsrv's gunicorn applies it: a worker stuck in run() past it is
replaced by a new one that runs init() again, and the instance serves again."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.server.harness import running
from tests.server.test_parity import Answer, assert_same
from workbench.server.app import GUNICORN_ERROR

STUCK = """\
import json
import os
import time

INITS = os.path.join(os.path.dirname(__file__), "inits.txt")


def init():
    with open(INITS, "a") as inits:
        inits.write(f"{os.getpid()}\\n")


def run(data):
    if json.loads(data or "{}").get("hang"):
        time.sleep(600)  # a run() that never comes back
    return {"pid": os.getpid()}
"""


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_run_stuck_past_worker_timeout_is_replaced_and_the_server_serves_again(
    tmp_path: Path, workers: str
) -> None:
    script = tmp_path / "score.py"
    script.write_text(STUCK)
    env = {"WORKER_TIMEOUT": "2", "WORKER_COUNT": workers}
    with running("workbench", script, env=env, log_dir=tmp_path) as server:
        with httpx.Client(timeout=60) as http:
            stuck = http.post(server.url + "/score", content=b'{"hang": true}')
            assert stuck.status_code == 500  # gunicorn's own answer, as under azmlinfsrv
            assert stuck.content == GUNICORN_ERROR
            assert stuck.headers["content-type"] == "text/html"
            assert "x-ms-run-function-failed" not in stuck.headers
            answer = http.post(server.url + "/score", content=b"{}")  # waits for the new worker
            assert answer.status_code == 200, answer.text
            deadline = time.monotonic() + 60  # the replacement runs init() again
            while len(inits(tmp_path)) < int(workers) + 1:
                assert time.monotonic() < deadline, server.output()
                time.sleep(0.05)
            served = {http.post(server.url + "/score", content=b"{}").json()["pid"] for _ in range(10)}
        output = server.output()
    assert "WORKER TIMEOUT (pid:" in output
    assert len(inits(tmp_path)) == int(workers) + 1
    assert served <= {int(pid) for pid in inits(tmp_path)}, "every worker serving ran init()"


@pytest.mark.parity
def test_the_worker_timeout_answer_is_azmlinfsrvs(tmp_path: Path) -> None:
    script = tmp_path / "score.py"
    script.write_text(STUCK)
    answers = []
    for kind in ("azmlinfsrv", "workbench"):
        with running(kind, script, env={"WORKER_TIMEOUT": "2"}, log_dir=tmp_path) as server:
            response = httpx.post(server.url + "/score", content=b'{"hang": true}', timeout=60)
            answers.append(Answer(response.status_code, response.headers, response.content))
    assert_same(*answers)


def inits(folder: Path) -> list[str]:
    return (folder / "inits.txt").read_text().split()
