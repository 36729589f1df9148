"""WORKER_COUNT=N: N processes, each running init(), serving N requests in parallel."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.server.harness import FIXTURES, free_port, running, stop


def three_slow_requests(url: str) -> list[float]:
    def one(_: int) -> float:
        start = time.perf_counter()
        response = httpx.post(url + "/score", content=b'{"sleep": 1}', timeout=30)
        assert response.status_code == 200
        return time.perf_counter() - start

    with ThreadPoolExecutor(3) as pool:
        return sorted(pool.map(one, range(3)))


@pytest.mark.parametrize("kind", ["azmlinfsrv", "workbench"])
def test_three_workers_serve_three_requests_at_once(
    kind: str, tmp_path: Path, real_server_venv: Path
) -> None:
    with running(kind, FIXTURES / "slow.py", env={"WORKER_COUNT": "3"}, log_dir=tmp_path) as server:
        time.sleep(1.5)  # every worker has booted
        durations = three_slow_requests(server.url)
        ready = re.findall(r"Worker with pid (\d+) ready for serving traffic", server.output())

    assert len(set(ready)) == 3
    assert durations[-1] < 1.8, durations


def test_one_worker_serves_one_request_at_a_time(tmp_path: Path) -> None:
    with running("workbench", FIXTURES / "slow.py", log_dir=tmp_path) as server:
        durations = three_slow_requests(server.url)
        health = httpx.get(server.url + "/", timeout=1)

    assert durations[-1] > 2.8, durations
    assert health.status_code == 200


def test_health_answers_only_once_init_has_finished(tmp_path: Path) -> None:
    log = tmp_path / "slow-init.log"
    port = free_port()
    env = {**os.environ, "AML_APP_ROOT": str(FIXTURES), "PYTHONPATH": str(REPO)}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "workbench.server", "--entry_script", "slow_init.py", "--port", str(port)],
            cwd=FIXTURES,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        start = time.monotonic()
        early: list[str] = []
        while time.monotonic() - start < 1.5:
            try:
                early.append(str(httpx.get(f"http://127.0.0.1:{port}/", timeout=0.3).status_code))
            except httpx.HTTPError as exc:
                early.append(type(exc).__name__)
        assert "200" not in early
        assert "ReadTimeout" in early  # the port is held: the probe waits, it is not refused
        deadline = time.monotonic() + 10
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline
        assert time.monotonic() - start >= 1.9
    finally:
        stop(process)
