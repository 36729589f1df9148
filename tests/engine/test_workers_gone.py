"""The workers of an instance whose parent was SIGKILLed are gone when `workbench down` returns,
every time: a killed parent leaves its forked workers serving on its port until the engine stops
the whole process group. Repeated, under load, with real processes."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import run_workbench
from tests.engine.harness import ECHO, alive, deployment_yaml, engine, folder_with, key_headers
from workbench.state import InstancePhase

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
WORKERS = "environment_variables: {WORKER_COUNT: '2'}\n"


@pytest.mark.parametrize("attempt", range(4))
def test_a_killed_instances_workers_are_gone_when_down_returns(attempt: int, tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py", extra=WORKERS)}
    )
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(120)
        parent = endpoint.deployments[0].instances[0].pid
        assert parent is not None
        workers = psutil.Process(parent).children()
        assert len(workers) == 2
        headers, stop = key_headers(folder), threading.Event()

        def load() -> None:  # paced, bounded: until the test ends it, at most 2000 requests
            with httpx.Client(timeout=10) as http:
                for _ in range(2000):
                    if stop.wait(0.01):
                        return
                    with contextlib.suppress(httpx.HTTPError):  # the killed instance's own requests
                        http.post(endpoint.scoring_uri or "", json={}, headers=headers)

        sender = threading.Thread(target=load)
        sender.start()
        try:
            os.kill(parent, signal.SIGKILL)
            running.wait_for(
                lambda eps: (
                    (i := eps[0].deployments[0].instances[0]).pid not in (None, parent)
                    and i.state is InstancePhase.READY
                ),
                120,
            )
            down = run_workbench("down", "--project", str(folder), timeout=120)
        finally:
            stop.set()
            sender.join()
        assert down.returncode == 0, down.stderr
        assert [w.pid for w in workers if alive(w)] == []
