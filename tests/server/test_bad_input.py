"""Bad input never takes the server down: each case is answered or dropped, and the next request
is served normally."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.server.harness import FIXTURES, Server, running


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running("workbench", FIXTURES / "echo.py", log_dir=tmp_path_factory.mktemp("logs")) as server:
        yield server


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running("workbench", FIXTURES / "schema_standard.py", log_dir=tmp_path_factory.mktemp("logs")) as s:
        yield s


def still_serving(server: Server) -> None:
    response = httpx.post(server.url + "/score", content=b"ok", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"echo": "ok"}


def test_empty_body(echo: Server) -> None:
    assert httpx.post(echo.url + "/score", content=b"").json() == {"echo": ""}
    still_serving(echo)


def test_fifty_megabyte_body(echo: Server) -> None:
    body = b"x" * (50 * 1024 * 1024)
    response = httpx.post(echo.url + "/score", content=body, timeout=60)

    assert response.status_code == 200
    assert len(response.json()["echo"]) == len(body)
    still_serving(echo)


def test_invalid_utf8(echo: Server) -> None:
    response = httpx.post(echo.url + "/score", content=b"\xc3\x28")

    assert response.status_code == 400
    assert response.json()["message"].startswith("Input cannot be decoded as UTF-8")
    still_serving(echo)


def test_deeply_nested_json(echo: Server, schema: Server) -> None:
    deep = b"[" * 200_000 + b"]" * 200_000
    response = httpx.post(
        schema.url + "/score",
        content=b'{"name": ' + deep + b"}",
        headers={"Content-Type": "application/json"},
        timeout=30,
    )

    assert response.status_code in (400, 500)
    assert "message" in response.json()
    assert httpx.post(schema.url + "/score", json={"name": "x"}).status_code == 200


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "image/png", "multipart/form-data"]
)
def test_wrong_content_types(schema: Server, content_type: str) -> None:
    response = httpx.post(
        schema.url + "/score", content=b'{"name": "x"}', headers={"Content-Type": content_type}
    )

    assert response.status_code == 415
    assert response.json() == {"message": "Expects Content-Type to be application/json"}


def test_client_disconnecting_mid_request(echo: Server) -> None:
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", int(echo.url.rsplit(":", 1)[1]))) as sock:
            sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npartial")
    still_serving(echo)


def test_malformed_request_line_and_headers(echo: Server) -> None:
    port = int(echo.url.rsplit(":", 1)[1])
    for garbage in (b"NOT HTTP AT ALL\r\n\r\n", b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", b"\x00\xff" * 100):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(garbage)
            sock.shutdown(socket.SHUT_WR)
            reply = sock.recv(1024)
        # a 4xx (as HTTP/1.0 when not even the version could be read), or a closed connection
        assert reply == b"" or reply.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4"))
    still_serving(echo)


def test_thousand_concurrent_connections(echo: Server) -> None:
    port = int(echo.url.rsplit(":", 1)[1])
    sockets: list[socket.socket] = []
    try:
        for _ in range(1000):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
            sockets.append(sock)
        still_serving(echo)
        answered = 0
        for sock in sockets:
            if sock.recv(4096).startswith(b"HTTP/1.1 200"):
                answered += 1
        assert answered == 1000
    finally:
        for sock in sockets:
            sock.close()
    still_serving(echo)
