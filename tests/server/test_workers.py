"""WORKER_COUNT=N: N processes, each running init(), serving N requests in parallel."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.server.harness import FIXTURES, running


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
