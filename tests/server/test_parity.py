"""The workbench server against the real azmlinfsrv: same script, same request, same answer.

Each case sends one request to both servers and compares status, body and the headers that
matter. Where the two differ on purpose, the test says so: the value of x-ms-server-version
(the workbench names itself), and Connection (azmlinfsrv closes every connection; the workbench
keeps them alive).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import ServerPool
from tests.server.harness import FIXTURES, Server, running

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
COMPARED_HEADERS = (
    "content-type",
    "x-ms-run-function-failed",
    "x-ms-client-request-id",
    "traceid",
    "x-custom",
)
PRESENCE_HEADERS = ("x-ms-server-version", "x-request-id", "x-ms-request-id", "x-ms-run-fn-exec-ms")


@dataclass
class Answer:
    status: int
    headers: httpx.Headers
    body: bytes

    def header_values(self, name: str) -> list[str]:
        return self.headers.get_list(name)


def send(
    server: Server,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    files: dict[str, tuple[str, bytes]] | None = None,
) -> Answer:
    response = httpx.request(
        method, server.url + path, headers=headers, content=content, files=files, timeout=30
    )
    return Answer(response.status_code, response.headers, response.content)


def assert_same(real: Answer, ours: Answer) -> None:
    assert ours.status == real.status
    assert ours.body == real.body
    for name in COMPARED_HEADERS:
        assert ours.header_values(name) == real.header_values(name), name
    for name in PRESENCE_HEADERS:
        assert (name in ours.headers) == (name in real.headers), name
    if "x-request-id" in real.headers:
        generated = UUID.match(real.headers["x-request-id"]) is not None
        assert (UUID.match(ours.headers["x-request-id"]) is not None) == generated
        same_legacy = real.headers.get("x-ms-request-id") == real.headers["x-request-id"]
        assert (ours.headers.get("x-ms-request-id") == ours.headers["x-request-id"]) == same_legacy


def compare(
    servers: ServerPool,
    fixture: str,
    method: str,
    path: str,
    *,
    env: dict[str, str] | None = None,
    **request: object,
) -> tuple[Answer, Answer]:
    real_server, our_server = servers.pair(fixture, **(env or {}))
    real = send(real_server, method, path, **request)  # type: ignore[arg-type]
    ours = send(our_server, method, path, **request)  # type: ignore[arg-type]
    assert_same(real, ours)
    return real, ours


JSON = {"Content-Type": "application/json"}

CASES = [
    ("echo", "GET", "/", {}),
    ("echo", "POST", "/", {}),
    ("echo", "GET", "/nope", {}),
    ("echo", "PUT", "/score", {}),
    ("echo", "DELETE", "/score", {}),
    ("echo", "HEAD", "/score", {}),
    ("echo", "OPTIONS", "/score", {}),
    ("echo", "POST", "/score", {"headers": JSON, "content": b'{"a": [1, 2]}'}),
    ("echo", "POST", "/score", {"headers": {"Content-Type": "text/plain"}, "content": "héllo".encode()}),
    (
        "echo",
        "POST",
        "/score",
        {"headers": {"Content-Type": "application/x-www-form-urlencoded"}, "content": b"a=1&b=2"},
    ),
    (
        "echo",
        "POST",
        "/score",
        {"headers": {"Content-Type": "application/octet-stream"}, "content": b"\xff\xfe\x00bad"},
    ),
    ("echo", "POST", "/score", {"content": b""}),
    ("echo", "GET", "/score?a=1&a=2&b=[1,2]&c=x&d=null", {}),
    ("returns_string", "POST", "/score", {"content": b"x"}),
    ("returns_string", "POST", "/score", {"content": b"double"}),
    ("returns_none", "POST", "/score", {"content": b"{}"}),
    ("returns_numpy", "POST", "/score", {"content": b"{}"}),
    ("run_raises", "POST", "/score", {"content": b"{}"}),
    ("run_exits", "POST", "/score", {"content": b"exit"}),
    ("echo", "OPTIONS", "/", {}),
    ("echo", "GET", "//score", {}),
    ("echo", "POST", "//score", {"content": b"x"}),
    ("schema_standard", "POST", "/score", {"headers": JSON, "content": b'{"name": "\xff"}'}),
    ("echo", "OPTIONS", "/swagger.json", {}),
    (
        "request_headers",
        "POST",
        "/score",
        {"headers": {"azureml-model-deployment": "blue", "x-custom-thing": "1"}, "content": b"{}"},
    ),
    ("schema_numpy", "POST", "/score", {"headers": JSON, "content": b'{"data": [[1, 2, 3], [4, 5, 6]]}'}),
    ("schema_numpy", "POST", "/score", {"headers": JSON, "content": b'{"other": 1}'}),
    ("schema_numpy", "POST", "/score", {"headers": {"Content-Type": "text/plain"}, "content": b"{}"}),
    ("schema_numpy", "POST", "/score", {"headers": JSON, "content": b""}),
    ("schema_numpy", "POST", "/score", {"headers": JSON, "content": b"[1, 2]"}),
    ("schema_numpy", "POST", "/score", {"headers": JSON, "content": b'{"data": [1,'}),
    ("schema_numpy", "POST", "/score", {"headers": JSON, "content": b'{"data": "not numbers"}'}),
    ("schema_standard", "POST", "/score", {"headers": JSON, "content": b'{"name": "ml"}'}),
    ("schema_standard", "GET", "/score?name=%22ml%22&count=3", {}),
    ("schema_pandas", "POST", "/score", {"headers": JSON, "content": b'{"data": [{"a": 1, "b": 2.5}]}'}),
    ("rawhttp_upload", "POST", "/score", {"content": b"abc"}),
    ("rawhttp_upload", "POST", "/score?fail=1", {"content": b"abc"}),
    ("rawhttp_upload", "GET", "/score", {}),
    ("rawhttp_upload", "OPTIONS", "/score", {}),
    ("rawhttp_upload", "POST", "/score", {"files": {"file": ("data.bin", b"\x00" * 1000)}}),
    ("rawhttp_legacy", "POST", "/score", {"content": b"12345"}),
    ("echo", "GET", "/swagger.json", {}),
    ("echo", "GET", "/swagger.json?version=3", {}),
    ("echo", "GET", "/swagger.json?version=3.1", {}),
    ("echo", "GET", "/swagger.json?version=4", {}),
    ("schema_numpy", "GET", "/swagger.json?version=2.0", {}),
    ("schema_standard", "GET", "/swagger.json?version=3", {}),
    ("schema_pandas", "GET", "/swagger.json?version=3.1", {}),
]


@pytest.mark.parity
@pytest.mark.parametrize(
    ("fixture", "method", "path", "request_args"),
    CASES,
    ids=[f"{c[0]}-{c[1]}-{c[2]}-{i}" for i, c in enumerate(CASES)],
)
def test_same_answer_as_azmlinfsrv(
    servers: ServerPool, fixture: str, method: str, path: str, request_args: dict[str, object]
) -> None:
    compare(servers, fixture, method, path, **request_args)  # type: ignore[arg-type]


@pytest.mark.parity
def test_a_run_that_calls_sys_exit_answers_500_and_the_server_goes_on(servers: ServerPool) -> None:
    for _ in range(2):  # the same worker answers the next request
        compare(servers, "run_exits", "POST", "/score", content=b"exit")
        compare(servers, "run_exits", "POST", "/score", content=b"next")


CORS = {"AML_CORS_ORIGINS": "http://a.example, http://b.example"}
CORS_CASES = [
    (
        "OPTIONS",
        "/score",
        {
            "Origin": "http://a.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization",
        },
    ),
    ("OPTIONS", "/score", {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}),
    ("POST", "/score", {"Origin": "http://b.example", "Content-Type": "application/json"}),
    ("POST", "/score", {"Origin": "http://evil.example"}),
    ("GET", "/", {"Origin": "http://a.example"}),
    ("OPTIONS", "/", {"Origin": "http://a.example", "Access-Control-Request-Method": "GET"}),
]


@pytest.mark.parity
@pytest.mark.parametrize(("method", "path", "headers"), CORS_CASES)
def test_cors_for_the_listed_origins_as_azmlinfsrv(
    servers: ServerPool, method: str, path: str, headers: dict[str, str]
) -> None:
    content = b"{}" if method == "POST" else None
    real, ours = compare(servers, "echo", method, path, env=CORS, headers=headers, content=content)
    for name in (
        "access-control-allow-origin",
        "access-control-allow-headers",
        "access-control-allow-methods",
        "vary",
    ):
        assert ours.header_values(name) == real.header_values(name), name


ID_CASES = [
    {},
    {"x-request-id": ""},
    {"x-request-id": "A"},
    {"x-ms-request-id": "B"},
    {"x-ms-client-request-id": "C"},
    {"x-request-id": "A", "x-ms-client-request-id": "C"},
    {"x-request-id": "A", "x-ms-request-id": "B", "x-ms-client-request-id": "C"},
    {"x-request-id": "r" * 101},
    {"x-ms-client-request-id": "c" * 101},
    {"TraceId": "trace-1"},
]


@pytest.mark.parity
@pytest.mark.parametrize("headers", ID_CASES, ids=[",".join(c) or "none" for c in ID_CASES])
def test_request_id_mapping(servers: ServerPool, headers: dict[str, str]) -> None:
    real, ours = compare(servers, "echo", "POST", "/score", headers=headers, content=b"{}")
    for name in ("x-request-id", "x-ms-request-id"):
        if real.headers.get(name) and not UUID.match(real.headers[name]):
            assert ours.headers.get(name) == real.headers[name]


@pytest.mark.parity
def test_scoring_timeout(servers: ServerPool) -> None:
    env = {"SCORING_TIMEOUT_MS": "1000"}
    _, ours = compare(servers, "slow", "POST", "/score", env=env, content=b'{"sleep": 2}')
    assert json.loads(ours.body) == {"message": "Scoring timeout after 1000 ms"}
    assert ours.headers["x-ms-run-function-failed"] == "True"


@pytest.mark.parity
def test_server_version_header_names_the_workbench_on_purpose(servers: ServerPool) -> None:
    real_server, our_server = servers.pair("echo")
    assert send(real_server, "GET", "/").headers["x-ms-server-version"] == "azmlinfsrv/1.5.1"
    assert send(our_server, "GET", "/").headers["x-ms-server-version"].startswith("workbench-server/")


RAW_CASES = [c for c in CASES if c[0].startswith("rawhttp")]


@pytest.mark.parity
@pytest.mark.parametrize(
    ("fixture", "method", "path", "request_args"),
    RAW_CASES,
    ids=[f"{c[0]}-{c[1]}-{c[2]}-{i}" for i, c in enumerate(RAW_CASES)],
)
def test_real_aml_response_classes_are_used_where_installed(
    servers: ServerPool, fixture: str, method: str, path: str, request_args: dict[str, object]
) -> None:
    real = send(servers.get("azmlinfsrv", fixture), method, path, **request_args)  # type: ignore[arg-type]
    ours = send(servers.get("workbench-in-azmlinfsrv-env", fixture), method, path, **request_args)  # type: ignore[arg-type]
    assert_same(real, ours)


@pytest.mark.parity
@pytest.mark.parametrize("kind", ["azmlinfsrv", "workbench"])
def test_a_run_past_the_scoring_timeout_is_interrupted_and_the_next_request_served(
    kind: str, tmp_path: Path
) -> None:
    """azmlinfsrv's alarm interrupts run(); so does the workbench: the run that timed out never
    finishes its loop, and the next request does not wait for it."""
    script = tmp_path / "busy.py"
    shutil.copy(FIXTURES / "busy.py", script)
    with running(kind, script, env={"SCORING_TIMEOUT_MS": "1000"}, log_dir=tmp_path) as server:
        late = httpx.post(server.url + "/score", content=b'{"busy": 30}', timeout=60)
        assert late.status_code == 500
        assert late.json() == {"message": "Scoring timeout after 1000 ms"}
        quick = httpx.post(server.url + "/score", content=b'{"busy": 0}', timeout=60)
        assert quick.status_code == 200
    assert not (tmp_path / "busy-finished.txt").exists()  # the 30 s loop was cut short
