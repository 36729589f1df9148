"""Azure's endpoint-wide limits, emulated where an endpoint asks (`limits: azure`): the rules on a
clock the test moves, then an engine that throttles a real request by its bandwidth."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import run_workbench
from tests.engine.harness import ECHO, deployment_yaml, engine, folder_with, key_headers
from workbench.router.throttle import (
    AZURE,
    REQUEST_DELAY_HEADER,
    RESPONSE_DELAY_HEADER,
    EndpointLimits,
    Throttle,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_requests_past_the_rate_or_the_active_limit_are_refused_until_it_allows_them() -> None:
    clock = Clock()
    throttle = Throttle(EndpointLimits(requests_per_s=10, active_requests=3), clock)
    admitted = [throttle.admit() for _ in range(12)]
    assert admitted == [True] * 10 + [False] * 2  # one second's worth, then 429
    clock.now += 0.5
    assert [throttle.admit() for _ in range(6)] == [True] * 5 + [False]  # half a second refills half
    clock.now += 10
    throttle.active = 3
    assert not throttle.admit()  # as many in flight as allowed: refused whatever the rate
    throttle.active = 2
    assert throttle.admit()


def test_bodies_past_the_bandwidth_wait_for_it() -> None:
    clock = Clock()
    throttle = Throttle(EndpointLimits(bandwidth_bytes_per_s=1000), clock)
    assert throttle.delay_s(1000) == 0.0  # a second's worth is there
    assert throttle.delay_s(500) == 0.5  # then each byte waits for its share
    clock.now += 1.5
    assert throttle.delay_s(0) == 0.0
    assert throttle.delay_s(1000) == 0.0


def test_an_endpoint_with_azure_limits_delays_a_large_body_and_status_says_so(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    (folder / "endpoint.yml").write_text((folder / "endpoint.yml").read_text() + "traffic:\n  blue: 100\n")
    (folder / "workbench.yaml").write_text("endpoints:\n  tests:\n    limits: azure\n")
    body = b'"' + b"x" * int(AZURE.bandwidth_bytes_per_s * 1.2) + b'"'
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(120)
        headers = {**key_headers(folder, deployment=None), "Content-Type": "application/json"}
        answer = httpx.post(endpoint.scoring_uri or "", content=body, headers=headers, timeout=60)
        status = run_workbench("status", "--project", str(folder))
    assert answer.status_code == 200, answer.text
    assert int(answer.headers[REQUEST_DELAY_HEADER]) > 0  # 6 MB against 5 MB/s
    assert RESPONSE_DELAY_HEADER in answer.headers
    assert f"limits: Azure's, emulated: {AZURE.describe()}" in status.stdout
