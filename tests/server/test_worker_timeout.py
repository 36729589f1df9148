"""WORKER_TIMEOUT, as azmlinfsrv's gunicorn applies it: a worker stuck in run() past it is
replaced by a new one that runs init() again, and the instance serves again."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.server.harness import running

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
            assert stuck.status_code == 500
            assert stuck.headers["x-ms-run-function-failed"] == "True"
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


def inits(folder: Path) -> list[str]:
    return (folder / "inits.txt").read_text().split()
