"""Faults injected on purpose into a deployment's requests (`workbench fault`): each kind shows
in the answers, `status` says so, and clearing them serves as before."""

from __future__ import annotations

import json
import random
from pathlib import Path

import httpx
import pytest

from tests.conftest import run_workbench
from tests.engine.harness import ECHO, deployment_yaml, engine, folder_with, key_headers, until
from workbench.router.pipeline import UPSTREAM_RESET
from workbench.spec.faults import INJECTED, Faults


def test_outcomes_follow_the_rates_on_a_fixed_random_source() -> None:
    faults = Faults(error_rate=0.2, drop_rate=0.1)
    rng = random.Random(7)
    outcomes = [faults.outcome(rng) for _ in range(10_000)]
    assert 0.08 < outcomes.count("drop") / 10_000 < 0.12
    assert 0.18 < outcomes.count("error") / 10_000 < 0.22
    assert faults.describe() == "20% answered 503, 10% dropped"
    with pytest.raises(ValueError, match="between 0 and 1"):
        Faults(error_rate=1.5)


def test_each_fault_shows_in_the_answers_and_status_says_so(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(120)
        uri, headers = endpoint.scoring_uri or "", key_headers(folder)

        def fault(*options: str) -> None:
            result = run_workbench("fault", "tests", "blue", *options, "--project", str(folder))
            assert result.returncode == 0, result.stderr

        fault("--error-rate", "1", "--status", "429")
        answer = httpx.post(uri, json={}, headers=headers, timeout=30)
        assert (answer.status_code, answer.json()) == (429, {"message": INJECTED})
        status = run_workbench("status", "--project", str(folder))
        assert "faults injected: 100% answered 429" in status.stdout

        fault("--drop-rate", "1")
        answer = httpx.post(uri, json={}, headers=headers, timeout=30)
        assert (answer.status_code, answer.json()) == (502, {"message": UPSTREAM_RESET})

        fault("--latency-ms", "300")
        answer = httpx.post(uri, json={}, headers=headers, timeout=30)
        assert answer.status_code == 200
        log = folder / ".workbench" / "logs" / "tests" / "router.access.log"
        request_id = answer.headers["x-request-id"]

        def logged() -> list[dict[str, object]]:
            records = [json.loads(line) for line in log.read_text().splitlines()]
            return [r for r in records if r["request_id"] == request_id]

        until(lambda: bool(logged()), 30)  # the access log is written in batches
        assert float(str(logged()[0]["latency_ms"])) >= 300  # the router waited the injected latency

        fault("--clear")
        assert httpx.post(uri, json={}, headers=headers, timeout=30).status_code == 200
        assert "faults injected" not in run_workbench("status", "--project", str(folder)).stdout
        refused = run_workbench("fault", "tests", "purple", "--error-rate", "1", "--project", str(folder))
        assert refused.returncode == 1
        assert "no deployment purple" in refused.stderr


def test_workbench_yaml_faults_apply_until_the_cli_replaces_them(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    (folder / "workbench.yaml").write_text(
        "endpoints:\n  tests:\n    deployments:\n      blue:\n"
        "        faults: {error_rate: 1, error_status: 500}\n"
    )
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(120)
        uri, headers = endpoint.scoring_uri or "", key_headers(folder)
        answer = httpx.post(uri, json={}, headers=headers, timeout=30)
        assert (answer.status_code, answer.json()) == (500, {"message": INJECTED})
        assert endpoint.deployments[0].faults == "100% answered 500 (workbench.yaml)"
        cleared = run_workbench("fault", "tests", "blue", "--clear", "--project", str(folder))
        assert cleared.returncode == 0, cleared.stderr
        assert httpx.post(uri, json={}, headers=headers, timeout=30).status_code == 200  # the file's too
        assert running.status()[0].deployments[0].faults is None
