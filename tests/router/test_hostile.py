"""The router through the real engine under hostile and heavy traffic: bodies without a key,
requests that crash their instance, a mirror under steady load."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import run_workbench
from tests.engine.harness import RunningEngine, engine, until
from workbench.client import EngineClient
from workbench.contract import EndpointMetrics
from workbench.router.pipeline import UPSTREAM_RESET

pytestmark = pytest.mark.timeout(300)

SCRIPT = """\
import json
import os


def init():
    pass


def run(data):
    if json.loads(data or "{}").get("crash"):
        os._exit(1)  # a request that kills its instance
    return {"deployment": os.environ["DEPLOYMENT_NAME"], "pid": os.getpid()}
"""
MIRROR_SHARE = 20
PACED_S = 15.0
RATE = 40.0


def deployment(name: str, count: int) -> str:
    return (
        f"name: {name}\nendpoint_name: guard\ninstance_count: {count}\n"
        "code_configuration: {code: code, scoring_script: score.py}\n"
        "environment: {image: python:3.11-slim}\ninstance_type: Standard_DS3_v2\n"
        f"environment_variables: {{DEPLOYMENT_NAME: {name}}}\n"
    )


@pytest.fixture(scope="module")
def guard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningEngine, str, str]]:
    root = tmp_path_factory.mktemp("hostile") / "project"
    (root / "code").mkdir(parents=True)
    (root / "code" / "score.py").write_text(SCRIPT)
    (root / "guard.yml").write_text(
        f"name: guard\nauth_mode: key\ntraffic: {{live: 100}}\nmirror_traffic: {{shadow: {MIRROR_SHARE}}}\n"
    )
    (root / "live.yml").write_text(deployment("live", 2))
    (root / "shadow.yml").write_text(deployment("shadow", 1))
    with engine(root, root.parent) as running:
        running.wait_settled(180)
        with EngineClient.for_folder(root) as client:
            (endpoint,) = client.status()
            key = client.credentials("guard").secret
        assert endpoint.scoring_uri is not None
        yield running, endpoint.scoring_uri, key


def engine_pid(running: RunningEngine) -> int:
    return int(json.loads((running.folder / ".workbench" / "connection.json").read_text())["pid"])


def unauthenticated_upload(port: int, size: int) -> bytes:
    """A POST of `size` bytes without a key, sent as fast as the server takes it; its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
        chunk = b"x" * (1 << 20)
        try:
            for _ in range(size // len(chunk)):
                sock.sendall(chunk)
        except OSError:
            pass  # refused at its head: the server stops reading and closes
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
        except OSError:
            pass
        return answer


def test_unauthenticated_large_bodies_are_refused_at_the_head_and_cost_no_memory(
    guard: tuple[RunningEngine, str, str],
) -> None:
    running, uri, _ = guard
    port = int(uri.split(":")[2].split("/")[0])
    process = psutil.Process(engine_pid(running))
    before = process.memory_info().rss
    answers: list[bytes] = []
    for _ in range(4):
        threads = [
            threading.Thread(target=lambda: answers.append(unauthenticated_upload(port, 50 << 20)))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    grown = process.memory_info().rss - before
    assert len(answers) == 32
    assert all(a.startswith(b"HTTP/1.1 401 Unauthorized\r\n") for a in answers), answers[:1]
    assert all(b"100 Continue" not in a for a in answers)
    assert grown < 64 << 20, f"the engine grew by {grown / 2**20:.0f} MiB for 1.6 GB it never needed"


def test_a_request_that_crashes_its_instance_is_not_sent_again(guard: tuple[RunningEngine, str, str]) -> None:
    running, uri, key = guard
    (live,) = [d for d in running.status()[0].deployments if d.name == "live"]
    pids = sorted(i.pid for i in live.instances if i.pid)
    headers = {"Authorization": f"Bearer {key}", "azureml-model-deployment": "live"}
    for _ in range(6):  # the router now holds pooled connections to both instances
        assert httpx.post(uri, json={}, headers=headers, timeout=30).status_code == 200

    crashed = httpx.post(uri, json={"crash": True}, headers=headers, timeout=30)

    assert crashed.status_code == 502
    assert crashed.json()["message"] == UPSTREAM_RESET
    after = running.wait_for(
        lambda eps: sum(i.restarts for d in eps[0].deployments if d.name == "live" for i in d.instances) >= 1
    )
    (live,) = [d for d in after[0].deployments if d.name == "live"]
    assert sum(i.restarts for i in live.instances) == 1, "only the instance that took it crashed"
    assert len(set(pids) & {i.pid for i in live.instances}) == 1


def test_a_mirror_gets_its_share_under_steady_load(guard: tuple[RunningEngine, str, str]) -> None:
    running, uri, key = guard
    headers = {"Authorization": f"Bearer {key}"}
    with EngineClient.for_folder(running.folder) as client:
        before = client.metrics("guard")
        sent = 0
        with httpx.Client(timeout=30) as http:
            start = time.monotonic()
            while time.monotonic() - start < PACED_S and sent < PACED_S * RATE:
                due = start + sent / RATE
                time.sleep(max(0.0, due - time.monotonic()))
                assert http.post(uri, json={}, headers=headers).status_code == 200
                sent += 1
        after = settled(client)
    copies = mirrored(after) - mirrored(before)
    dropped = after.mirror.dropped - before.mirror.dropped
    expected = sent * MIRROR_SHARE / 100
    tolerance = 4 * math.sqrt(sent * MIRROR_SHARE / 100 * (1 - MIRROR_SHARE / 100))
    assert abs(copies + dropped - expected) <= tolerance, (copies, dropped, expected)
    assert dropped == 0, after.mirror.dropped_why
    assert after.mirror.differing > 0  # the pids differ: the comparison sees it


def mirrored(metrics: EndpointMetrics) -> int:
    shadow = metrics.deployments.get("shadow")
    return shadow.mirrored if shadow else 0


def settled(client: EngineClient) -> EndpointMetrics:
    """Metrics once no copy is queued or in flight."""
    read: list[EndpointMetrics] = []

    def quiet() -> bool:
        read.append(client.metrics("guard"))
        return not read[-1].mirror.queued and not read[-1].mirror.in_flight

    until(quiet, 60, lambda: str(read[-1].mirror))
    return read[-1]


def test_a_head_split_across_reads_with_a_large_body_is_served(guard: tuple[RunningEngine, str, str]) -> None:
    _, uri, key = guard
    port = int(uri.split(":")[2].split("/")[0])
    body = json.dumps({"padding": "p" * 100_000}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.05)  # the rest comes in another read, with the whole body behind it
        sock.sendall(
            b"Authorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (key.encode(), len(body), body)
        )
        answer = b""
        while data := sock.recv(65536):
            answer += data
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:200]
    assert b'"deployment": "live"' in answer


def test_invoke_refuses_a_deployment_that_does_not_exist_before_sending(
    guard: tuple[RunningEngine, str, str], tmp_path: Path
) -> None:
    running, _, _ = guard
    request = tmp_path / "request.json"
    request.write_text("{}")
    unknown = run_workbench(
        "invoke", "guard", "--request-file", str(request), "--deployment", "nope", cwd=running.folder
    )
    known = run_workbench(
        "invoke", "guard", "--request-file", str(request), "--deployment", "live", cwd=running.folder
    )
    assert unknown.returncode == 1
    assert "Deployment name nope not found for this endpoint" in unknown.stderr
    assert known.returncode == 0, known.stderr
    assert '"deployment": "live"' in known.stdout
