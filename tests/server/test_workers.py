"""WORKER_COUNT=N: N processes, each running init(), serving N requests in parallel."""

from __future__ import annotations

import json
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
from tests.engine.harness import until
from tests.server.harness import FIXTURES, Server, free_port, running, stop


def at_once(url: str, requests: int, folder: Path, wait_s: float) -> list[dict[str, object]]:
    """`requests` requests sent together, each waiting inside run() for the others."""
    folder.mkdir()
    body = json.dumps({"folder": str(folder), "parties": requests, "wait_s": wait_s})

    def one(_: int) -> dict[str, object]:
        response = httpx.post(url + "/score", content=body, timeout=wait_s * requests + 60)
        assert response.status_code == 200, response.text
        answer: dict[str, object] = response.json()
        return answer

    with ThreadPoolExecutor(requests) as pool:
        return list(pool.map(one, range(requests)))


def booted(server: Server, workers: int) -> None:
    ready = r"Worker with pid (\d+) ready for serving traffic"
    until(lambda: len(set(re.findall(ready, server.output()))) >= workers, 60, server.output)


@pytest.mark.parametrize("kind", ["azmlinfsrv", "workbench"])
def test_three_workers_serve_three_requests_at_once(
    kind: str, tmp_path: Path, real_server_venv: Path
) -> None:
    with running(kind, FIXTURES / "barrier.py", env={"WORKER_COUNT": "3"}, log_dir=tmp_path) as server:
        booted(server, 3)
        answers = at_once(server.url, 3, tmp_path / "met", wait_s=60)

    assert [a["met"] for a in answers] == [True, True, True]
    assert len({a["pid"] for a in answers}) == 3


def test_one_worker_serves_one_request_at_a_time(tmp_path: Path) -> None:
    with running("workbench", FIXTURES / "barrier.py", log_dir=tmp_path) as server:
        answers = at_once(server.url, 2, tmp_path / "met", wait_s=2)
        health = httpx.get(server.url + "/", timeout=10)

    # the first waited alone for its 2 s; only then could the second enter run()
    assert sorted(bool(a["met"]) for a in answers) == [False, True]
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
        seen: list[str] = []
        deadline = start + 60
        while "200" not in seen:
            assert time.monotonic() < deadline, seen
            try:
                seen.append(str(httpx.get(f"http://127.0.0.1:{port}/", timeout=0.3).status_code))
            except httpx.HTTPError as exc:
                seen.append(type(exc).__name__)
        # while init() ran, the port was held: the probe waited, it was not refused
        assert "ReadTimeout" in seen[: seen.index("200")]
        assert time.monotonic() - start >= 2  # init() sleeps 2 s: health never answered sooner
    finally:
        stop(process)
