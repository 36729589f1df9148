"""The router through the real engine and real instances: Azure's status codes, one by one."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.engine.harness import RunningEngine, engine, start_engine, until
from workbench.client import EngineClient
from workbench.contract import Credentials, DeploymentMetrics, EndpointMetrics
from workbench.errors import EngineError

WHO = """\
import json
import os
import time


def init():
    pass


def run(data):
    request = json.loads(data or "{}")
    time.sleep(float(request.get("sleep", 0)))
    if request.get("fail"):
        raise ValueError("asked to fail")
    return {"deployment": os.environ["DEPLOYMENT_NAME"]}
"""


def deployment(name: str, endpoint: str, extra: str = "") -> str:
    return (
        f"name: {name}\nendpoint_name: {endpoint}\n"
        "code_configuration: {code: code, scoring_script: who.py}\n"
        "environment: {image: python:3.11-slim}\ninstance_type: Standard_DS3_v2\n"
        f"environment_variables: {{DEPLOYMENT_NAME: {name}}}\n{extra}"
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, RunningEngine]]:
    root = tmp_path_factory.mktemp("router") / "project"
    (root / "code").mkdir(parents=True)
    (root / "code" / "who.py").write_text(WHO)
    (root / "code" / "broken.py").write_text(
        "def init():\n    raise RuntimeError('no model')\n\n\ndef run(data):\n    return data\n"
    )
    (root / "front.yml").write_text("name: front\nauth_mode: key\ntraffic: {blue: 90, green: 10}\n")
    (root / "edge.yml").write_text("name: edge\nauth_mode: aml_token\ntraffic: {slowpoke: 100}\n")
    (root / "blue.yml").write_text(deployment("blue", "front"))
    (root / "green.yml").write_text(deployment("green", "front"))
    (root / "broken.yml").write_text(deployment("broken", "front").replace("who.py", "broken.py"))
    (root / "slowpoke.yml").write_text(
        deployment(
            "slowpoke",
            "edge",
            "request_settings: {request_timeout_ms: 700, max_concurrent_requests_per_instance: 1}\n",
        )
    )
    with engine(root, root.parent) as running:
        running.wait_settled(180)
        running.wait_for(lambda eps: all(e.scoring_uri for e in eps), 30)
        yield root, running


def endpoint_info(root: Path, name: str) -> tuple[str, Credentials]:
    with EngineClient.for_folder(root) as client:
        uri = next(e.scoring_uri for e in client.status() if e.name == name)
        credentials = client.credentials(name)
    assert uri is not None
    return uri, credentials


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_traffic_splits_90_10_and_the_header_pins(project: tuple[Path, RunningEngine]) -> None:
    root, _ = project
    uri, keys = endpoint_info(root, "front")
    served: Counter[str] = Counter()
    with httpx.Client(headers=auth(keys.secret), timeout=30) as client:
        for _ in range(2000):
            response = client.post(uri, content=b"{}")
            assert response.status_code == 200
            assert response.json()["deployment"] == response.headers["azureml-model-deployment"]
            served[response.headers["azureml-model-deployment"]] += 1
        pinned = client.post(uri, content=b"{}", headers={"azureml-model-deployment": "green"})
    assert 140 < served["green"] < 260  # 10% of 2000 = 200, sd about 13
    assert pinned.json() == {"deployment": "green"}


def test_request_ids_are_the_routers_once_and_the_clients_sanitised(
    project: tuple[Path, RunningEngine],
) -> None:
    """Reference 4.5: x-request-id is always the service's GUID, even when the client sends one;
    x-ms-client-request-id keeps alphanumerics, '-' and '_', at most 40 characters."""
    root, _ = project
    uri, keys = endpoint_info(root, "front")
    sent = {**auth(keys.secret), "x-request-id": "mine", "x-ms-client-request-id": "a b!c" + "x" * 50}
    first = httpx.post(uri, content=b"{}", headers=sent)
    second = httpx.post(uri, content=b"{}", headers=sent)
    for answer in (first, second):
        assert answer.status_code == 200
        (request_id,) = answer.headers.get_list("x-request-id")
        assert uuid.UUID(request_id).version == 4
        assert answer.headers.get_list("x-ms-client-request-id") == ["abc" + "x" * 37]
        assert len(answer.headers.get_list("azureml-model-deployment")) == 1
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_swagger_comes_from_the_deployment_that_would_serve(project: tuple[Path, RunningEngine]) -> None:
    root, _ = project
    uri, keys = endpoint_info(root, "front")
    swagger_uri = uri.removesuffix("/score") + "/swagger.json"
    assert httpx.get(swagger_uri).status_code == 401
    answer = httpx.get(swagger_uri, headers={**auth(keys.secret), "azureml-model-deployment": "green"})
    assert answer.status_code == 200
    assert answer.headers["azureml-model-deployment"] == "green"
    assert answer.json()["swagger"] == "2.0"
    assert "/score" in answer.json()["paths"]


def test_a_deployment_without_ready_instance_says_its_state(project: tuple[Path, RunningEngine]) -> None:
    root, _ = project
    uri, keys = endpoint_info(root, "front")
    answer = httpx.post(
        uri, content=b"{}", headers={**auth(keys.secret), "azureml-model-deployment": "broken"}
    )
    assert answer.status_code == 503
    assert answer.json()["message"].startswith(
        "Deployment 'broken' has no ready instance (provisioning state Failed)"
    )
    assert answer.headers["azureml-model-deployment"] == "broken"


def test_missing_or_wrong_key_is_401_and_both_keys_work(project: tuple[Path, RunningEngine]) -> None:
    root, _ = project
    uri, keys = endpoint_info(root, "front")
    assert httpx.post(uri, content=b"{}").status_code == 401
    wrong = httpx.post(uri, content=b"{}", headers=auth("nope"))
    assert wrong.status_code == 401
    assert wrong.json() == {"message": "key_auth_access_denied"}
    assert httpx.post(uri, content=b"{}", headers=auth(keys.secondary_key or "")).status_code == 200


def test_unknown_deployment_and_no_weight_are_404(project: tuple[Path, RunningEngine]) -> None:
    root, _ = project
    uri, keys = endpoint_info(root, "front")
    unknown = httpx.post(uri, content=b"{}", headers={**auth(keys.secret), "azureml-model-deployment": "x"})
    assert unknown.status_code == 404
    with EngineClient.for_folder(root) as client:
        client.set_traffic("front", {"blue": 0, "green": 0}, None)
        nothing = httpx.post(uri, content=b"{}", headers=auth(keys.secret))
        still_pinned = httpx.post(
            uri, content=b"{}", headers={**auth(keys.secret), "azureml-model-deployment": "blue"}
        )
        client.set_traffic("front", {"blue": 90, "green": 10}, None)
    assert nothing.status_code == 404
    assert nothing.json()["message"].startswith("No valid deployments to route to.")
    assert still_pinned.status_code == 200


def test_timeout_is_408_failure_is_424_overload_is_429(project: tuple[Path, RunningEngine]) -> None:
    root, _ = project
    uri, token = endpoint_info(root, "edge")
    headers = auth(token.secret)
    slow = httpx.post(uri, content=b'{"sleep": 1.5}', headers=headers, timeout=30)
    assert slow.status_code == 408
    assert slow.text == "upstream request timeout"
    # until the instance has finished the slow request
    until(
        lambda: httpx.post(uri, content=b'{"sleep": 0}', headers=headers, timeout=30).status_code == 200, 60
    )
    failed = httpx.post(uri, content=b'{"fail": true}', headers=headers)
    assert failed.status_code == 424
    assert failed.headers["ms-azureml-model-error-statuscode"] == "500"
    assert failed.headers["ms-azureml-model-error-reason"] == "Internal Server Error"
    assert failed.json()["message"].startswith("An unexpected error occurred in scoring script")

    def one(_: int) -> int:
        return httpx.post(uri, content=b'{"sleep": 0.5}', headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = Counter(pool.map(one, range(6)))
    assert statuses[429] >= 3  # capacity 2 x 1 x 1 = 2 in flight
    assert statuses[200] + statuses[408] >= 1
    assert httpx.post(uri, content=b"{}", headers=auth("forged.token")).status_code == 401
    # every answer is in the deployment's latency histogram; the 408 in a bucket of 1 s or more
    with EngineClient.for_folder(root) as client:
        (figures,) = client.metrics("edge").deployments.values()
    assert len(figures.histogram_counts) == len(figures.histogram_le_ms)
    assert sum(figures.histogram_counts) == figures.requests == sum(figures.statuses.values())
    slow_buckets = [
        n
        for le, n in zip(figures.histogram_le_ms, figures.histogram_counts, strict=True)
        if le == "+Inf" or float(le) >= 1000
    ]
    assert sum(slow_buckets) >= 1


def test_mirroring_copies_about_half_without_changing_live_answers(
    project: tuple[Path, RunningEngine],
) -> None:
    root, _ = project
    uri, keys = endpoint_info(root, "front")
    with EngineClient.for_folder(root) as client:
        client.set_traffic("front", {"blue": 100, "green": 0}, {"green": 50})
        before = client.metrics("front").deployments.get("green", DeploymentMetrics()).mirrored
        with httpx.Client(headers=auth(keys.secret), timeout=30) as http:
            answers = Counter(http.post(uri, content=b"{}").json()["deployment"] for _ in range(400))
        metrics = _settled_metrics(client, "front")
        copies = metrics.deployments["green"].mirrored - before
        # green took no live request: its load per second is the copies, counted as each second ends
        until(lambda: sum(client.metrics("front").deployments["green"].timeline.mirrored) >= copies, 30)
        last = metrics.mirror.recent[-1]
        bodies = client.mirror_bodies("front", last.request_id)  # the two answers, to compare by eye
        client.set_traffic("front", {"blue": 90, "green": 10}, {"green": 0})
    assert json.loads(bodies.live)["deployment"] == "blue"
    assert json.loads(bodies.mirror or "{}")["deployment"] == "green"
    assert last.verdict == "differs"
    mirrored = metrics.deployments["green"].mirrored - before
    assert answers == Counter({"blue": 400})
    assert 140 < mirrored + metrics.mirror.dropped < 260
    assert mirrored > 100
    assert metrics.mirror.differing_share == 1.0  # green answers {"deployment": "green"}


def test_regenerated_key_stops_at_once_and_state_survives_a_restart(
    project: tuple[Path, RunningEngine], tmp_path: Path
) -> None:
    root, running = project
    uri, keys = endpoint_info(root, "front")
    with EngineClient.for_folder(root) as client:
        client.regenerate_keys("front", "primary")
        client.set_traffic("front", {"blue": 60, "green": 40}, None)
    assert httpx.post(uri, content=b"{}", headers=auth(keys.secret)).status_code == 401
    assert httpx.post(uri, content=b"{}", headers=auth(keys.secondary_key or "")).status_code == 200
    _, new_keys = endpoint_info(root, "front")

    running.process.terminate()
    running.process.wait(timeout=30)
    running.process = start_engine(root, running.log)
    running.wait_settled(120)
    running.wait_for(lambda eps: all(e.scoring_uri for e in eps), 30)
    uri_after, keys_after = endpoint_info(root, "front")
    with EngineClient.for_folder(root) as client:
        traffic = next(e.traffic for e in client.status() if e.name == "front")
    assert uri_after == uri
    assert keys_after == new_keys
    assert traffic == {"blue": 60, "green": 40}
    saved = root / ".workbench" / "state.json"
    assert oct(saved.stat().st_mode & 0o777) == "0o600"
    access_log = (root / ".workbench" / "logs" / "front" / "router.access.log").read_text()
    assert '"deployment": "blue"' in access_log
    assert keys_after.secret not in access_log
    assert keys.secret not in access_log
    with (
        EngineClient.for_folder(root) as client,
        pytest.raises(EngineError, match=r"\(404\).*does not exist"),
    ):
        client.credentials("no-such-endpoint")
    assert json.loads(saved.read_text())["endpoints"]["front"]["traffic"] == {"blue": 60, "green": 40}


def _settled_metrics(client: EngineClient, endpoint: str) -> EndpointMetrics:
    """Mirror copies are sent once the endpoint is quiet: wait until their count stops moving."""
    previous: EndpointMetrics | None = None
    for _ in range(50):
        time.sleep(0.1)
        metrics = client.metrics(endpoint)
        if previous is not None and metrics.deployments == previous.deployments:
            return metrics
        previous = metrics
    raise AssertionError(f"mirror copies still being sent: {previous}")


def test_bad_input_on_the_scoring_port_leaves_the_router_serving(project: tuple[Path, RunningEngine]) -> None:
    root, _ = project
    uri, keys = endpoint_info(root, "front")
    port = int(uri.split(":")[2].split("/")[0])
    headers = auth(keys.secret)
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(1000)]
    try:
        for garbage in (b"GARBAGE\r\n\r\n", b"POST /score HTTP/1.1\r\nBad Header\r\n\r\n", b"\xff" * 300):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(garbage)
                sock.shutdown(socket.SHUT_WR)
                # a 400 (HTTP/1.0 when not even the request line parsed) or a closed connection
                assert sock.recv(1024)[:12] in (b"", b"HTTP/1.1 400", b"HTTP/1.0 400")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as slow:
            slow.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npart")
            assert httpx.post(uri, content=b"{}", headers=headers).status_code == 200
        huge = httpx.post(uri, content=b"{" + b" " * (20 * 1024 * 1024) + b"}", headers=headers, timeout=60)
        assert huge.status_code == 200
        assert httpx.post(uri, content=b"{}", headers=headers).status_code == 200
    finally:
        for sock in idle:
            sock.close()
