"""The router's upstream client against real sockets serving edge cases of HTTP/1.1."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable

import pytest

from workbench.router.upstream import Refused, Upstream, UpstreamError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    return await reader.readexactly(length)


async def with_server(handler: Handler, scenario: Callable[[Upstream], Awaitable[None]]) -> None:
    handlers: list[asyncio.Task[None]] = []

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await handler(reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(tracked, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    upstream = Upstream("127.0.0.1", port)
    try:
        await scenario(upstream)
    finally:
        upstream.close()
        server.close()
        await server.wait_closed()
        await asyncio.wait_for(asyncio.gather(*handlers, return_exceptions=True), 5)
        await asyncio.sleep(0.01)


def test_chunked_answer_is_reassembled_and_the_connection_reused() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while True:
            try:
                body = await read_request(reader)
            except asyncio.IncompleteReadError:
                return  # the client closed its pooled connection
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
                b"3\r\nabc\r\n" + f"{len(body):x}".encode() + b"\r\n" + body + b"\r\n0\r\n\r\n"
            )
            await writer.drain()

    async def scenario(upstream: Upstream) -> None:
        first = await upstream.request("POST", "/score", [("X-B", "2")], b"hello", 5)
        second = await upstream.request("POST", "/score", [], b"again", 5)
        assert (first.status, first.reason, first.body) == (200, "OK", b"abchello")
        assert ("X-A", "1") in first.headers
        assert second.body == b"abcagain"

    asyncio.run(with_server(handler, scenario))
    assert connections == 1


def test_answer_without_length_reads_to_close_and_is_not_reused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\nbusy")
        await writer.drain()
        writer.close()

    async def scenario(upstream: Upstream) -> None:
        answer = await upstream.request("GET", "/", [], b"", 5)
        assert (answer.status, answer.reason, answer.body) == (503, "Service Unavailable", b"busy")
        assert (await upstream.request("GET", "/", [], b"", 5)).body == b"busy"

    asyncio.run(with_server(handler, scenario))


def test_a_pooled_connection_closed_by_the_server_is_retried_on_a_fresh_one() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()  # closes the keep-alive connection after one answer, without saying so

    async def scenario(upstream: Upstream) -> None:
        assert (await upstream.request("POST", "/score", [], b"1", 5)).body == b"ok"
        await asyncio.sleep(0.05)
        assert (await upstream.request("POST", "/score", [], b"2", 5)).body == b"ok"

    asyncio.run(with_server(handler, scenario))


def test_timeout_aborts_and_a_half_answer_is_an_error() -> None:
    released = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = await read_request(reader)
        if body == b"slow":
            await released.wait()  # answers only once the test is over: only the timeout ends the wait
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        writer.close()

    async def scenario(upstream: Upstream) -> None:
        try:
            with pytest.raises(asyncio.TimeoutError):
                await upstream.request("POST", "/score", [], b"slow", 0.3)
            with pytest.raises(UpstreamError, match="in the middle of its answer"):
                await upstream.request("POST", "/score", [], b"fast", 5)
        finally:
            released.set()

    asyncio.run(with_server(handler, scenario))


def test_interim_answers_are_skipped_and_a_head_answer_has_no_body() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal")
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 12345\r\n\r\n")  # HEAD: the length, no body
        await writer.drain()
        await reader.read()

    async def scenario(upstream: Upstream) -> None:
        answer = await upstream.request("POST", "/score", [], b"x", 5)
        assert (answer.status, answer.body) == (200, b"final")
        head = await upstream.request("HEAD", "/", [], b"", 1)  # would time out waiting for 12345 bytes
        assert (head.status, head.body, ("Content-Length", "12345") in head.headers) == (200, b"", True)

    asyncio.run(with_server(handler, scenario))


def test_an_answer_that_is_not_http_or_has_huge_headers_is_an_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = await read_request(reader)
        if body == b"garbage":
            writer.write(b"SMTP ready\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"b" * (2**20 + 10) + b"\r\n\r\n")
        await writer.drain()
        writer.close()

    async def scenario(upstream: Upstream) -> None:
        with pytest.raises(UpstreamError, match="invalid answer"):
            await upstream.request("POST", "/score", [], b"garbage", 5)
        with pytest.raises(UpstreamError, match="headers are too large"):
            await upstream.request("POST", "/score", [], b"big", 5)

    asyncio.run(with_server(handler, scenario))


def test_nothing_listening_is_refused() -> None:
    async def scenario() -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        with pytest.raises(Refused):
            await Upstream("127.0.0.1", port).request("GET", "/", [], b"", 5)

    asyncio.run(scenario())
