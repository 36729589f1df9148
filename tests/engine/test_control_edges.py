"""The control API's edges, against a real engine: every route answers a malformed request with a
4xx and a message, never a 500 and a traceback; an instance name cannot reach outside
`.workbench/`; injected latency is bounded and counts toward the request timeout (408)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from tests.engine.harness import ECHO, deployment_yaml, engine, folder_with, key_headers
from workbench import api_routes
from workbench.engine.api import ControlApi
from workbench.engine.store import Store
from workbench.layout import ProjectFiles

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
DEPLOYMENT = "/v1/endpoints/tests/deployments/blue"
ROUTES = [
    "/v1/endpoints/tests/regenerate-keys",
    "/v1/endpoints/tests/traffic",
    "/v1/endpoints/tests/recording",
    f"{DEPLOYMENT}/scale",
    f"{DEPLOYMENT}/faults",
    f"{DEPLOYMENT}/pressure",
    f"{DEPLOYMENT}/instances/blue-0/debug",
    "/v1/reconcile",
]
BODIES = [
    b"{",  # not JSON
    b"[]",  # not an object
    b'"text"',
    b'{"traffic": {"blue": "all"}, "mirror_traffic": [1], "on": "yes", "instance_count": 2.5,'
    b' "latency_ms": "slow", "error_rate": 7, "cpu_cores": -1, "wait": 3, "stop": "no",'
    b' "key_type": 5, "cause": 1, "seconds": 1e400}',
]


def control_api(folder: Path) -> httpx.Client:
    """The engine's control API, as its connection file names it, with its token."""
    connection = json.loads((folder / ".workbench" / "connection.json").read_text())
    token = {"Authorization": f"Bearer {connection['token']}"}
    return httpx.Client(base_url=connection["url"], headers=token, timeout=30)


def test_malformed_control_requests_are_4xx_with_a_message(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        api = control_api(folder)
        answers = {}
        for route in ROUTES:
            for body in BODIES:
                answer = api.post(route, content=body, headers={"Content-Type": "application/json"})
                answers[(route, body[:12])] = (answer.status_code, answer.json().get("message", ""))
        for query in (
            "instance=../..",
            "instance=../../../etc",
            "lines=-1",
            "lines=many",
            "instance=blue-0/x",
        ):
            answer = api.get(f"/v1/logs?endpoint=tests&deployment=blue&{query}")
            answers[("/v1/logs", query.encode())] = (answer.status_code, answer.json().get("message", ""))
        api.close()
        output = running.output()
    wrong = {key: said for key, said in answers.items() if not 400 <= said[0] < 500 or not said[1]}
    assert wrong == {}
    assert "Traceback" not in output
    assert "workbench bug" not in output


def test_injected_latency_counts_toward_the_request_timeout(tmp_path: Path) -> None:
    settings = "request_settings: {request_timeout_ms: 1000}\n"
    folder = folder_with(
        tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py", extra=settings)}
    )
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(120)
        api = control_api(folder)
        assert api.post(f"{DEPLOYMENT}/faults", json={"latency_ms": 1500}).status_code == 200
        late = httpx.post(endpoint.scoring_uri or "", json={}, headers=key_headers(folder), timeout=30)
        assert late.status_code == 408  # 1.5 s of latency past a 1 s timeout: as Azure answers
        assert api.post(f"{DEPLOYMENT}/faults", json={"latency_ms": 200}).status_code == 200
        served = httpx.post(endpoint.scoring_uri or "", json={}, headers=key_headers(folder), timeout=30)
        assert served.status_code == 200
        forever = api.post(f"{DEPLOYMENT}/faults", content=b'{"latency_ms": 1e999}')
        assert forever.status_code == 400
        api.close()


def test_the_api_serves_every_route_the_client_calls_and_no_other(tmp_path: Path) -> None:
    """One spelling of each route (api_routes.py) for both sides: none served that the client
    cannot name, none named that the engine does not serve."""
    api = ControlApi(
        Store(),
        ProjectFiles(tmp_path),
        token="t",
        shutdown=lambda restart: None,
        reconcile=cast(Any, None),
        scale=lambda endpoint, deployment, count, cause: None,
        routing=cast(Any, None),  # only its handlers are read here, none is called
        supervisor=cast(Any, None),
    )
    served = {(r.method, r.resource.canonical) for r in api.build().router.routes() if r.resource}
    named = {(r.method, r.template) for r in vars(api_routes).values() if isinstance(r, api_routes.Route)}
    assert served == named
    assert api_routes.MIRROR_BODIES.path(name="e", request_id="a/b c") == "/v1/endpoints/e/mirror/a%2Fb%20c"
