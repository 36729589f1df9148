"""The router's HTTP/1.1 server on real sockets, on both event loops the engine may run on:
what clients send on the wire (pipelining, 100-continue, chunked bodies, HTTP/1.0, HEAD, garbage,
oversized bodies, disconnects, idle keep-alive) and what they get back."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Awaitable, Callable

import pytest
import uvloop

from workbench.router import front
from workbench.router.front import FrontServer, Reply, Request

Scenario = Callable[[int, list[Request]], Awaitable[None]]


class Handling:
    """What the test handler has done, for a scenario to wait on rather than sleep: it has a
    request in hand (`started`), it has returned its reply (`finished`)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.finished = asyncio.Event()


@pytest.fixture(params=["asyncio", "uvloop"])
def loop_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


def serve(  # noqa: PLR0917 (the test's knobs)
    loop_kind: str,
    scenario: Scenario,
    max_body: int = 1024,
    delay_s: float = 0.0,
    limits: front.Limits | None = None,
    admit: front.Admit | None = None,
    handling: Handling | None = None,
) -> list[Request]:
    """Runs a FrontServer whose handler echoes the body (after `delay_s`) and `scenario` against
    its port; returns the requests the handler saw, in order."""
    seen: list[Request] = []

    async def handler(request: Request) -> Reply:
        seen.append(request)
        if handling is not None:
            handling.started.set()
        await asyncio.sleep(delay_s)
        if handling is not None:
            handling.finished.set()
        if admit is not None and not admit(request):
            return Reply.text(401, "no key")
        return Reply(200, request.body or request.target.encode(), [("Content-Type", "text/plain")])

    async def main() -> None:
        server = FrontServer(handler, limits or front.Limits(max_body=max_body), admit)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        await server.start(sock)
        try:
            await asyncio.wait_for(scenario(sock.getsockname()[1], seen), 10)
        finally:
            await server.close()

    if loop_kind == "uvloop":
        uvloop.run(main())
    else:
        asyncio.run(main())
    return seen


async def exchange(port: int, raw: bytes, until_closed: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    try:
        if until_closed:
            return await reader.read(-1)
        return await reader.read(65536)
    finally:
        writer.close()


def answers(raw: bytes) -> list[tuple[int, bytes]]:
    """(status, body) of each answer in a stream of Content-Length delimited answers."""
    found = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length")), 0
        )
        found.append((int(lines[0].split()[1]), rest[:length]))
        raw = rest[length:]
    return found


def test_pipelined_requests_are_answered_in_order_on_one_connection(loop_kind: str) -> None:
    async def scenario(port: int, seen: list[Request]) -> None:
        requests = b"".join(f"GET /n/{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(60))
        raw = await exchange(port, requests + b"GET /last HTTP/1.1\r\nConnection: close\r\n\r\n")
        got = answers(raw)
        assert [body for _, body in got] == [f"/n/{i}".encode() for i in range(60)] + [b"/last"]
        assert raw.count(b"Connection: close") == 1

    assert len(serve(loop_kind, scenario, delay_s=0.001)) == 61


def test_expect_100_continue_and_a_chunked_body(loop_kind: str) -> None:
    async def scenario(port: int, seen: list[Request]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /score?x=1 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"Content-Length: 11\r\n" in head
        assert await reader.readexactly(11) == b"hello world"
        writer.close()

    (request,) = serve(loop_kind, scenario)
    assert (request.method, request.path, request.query_string) == ("POST", "/score", "x=1")
    assert request.header("expect") == "100-continue"


def test_http_1_0_closes_unless_asked_to_keep_alive(loop_kind: str) -> None:
    async def scenario(port: int, seen: list[Request]) -> None:
        closed = await exchange(port, b"GET /a HTTP/1.0\r\n\r\n")
        assert answers(closed) == [(200, b"/a")]
        assert b"Connection: close" in closed
        kept = await exchange(port, b"GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", until_closed=False)
        assert answers(kept) == [(200, b"/b")]
        assert b"Connection: close" not in kept

    serve(loop_kind, scenario)


def test_head_answers_carry_the_length_without_the_body(loop_kind: str) -> None:
    async def scenario(port: int, seen: list[Request]) -> None:
        raw = await exchange(port, b"HEAD /abc HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"Content-Length: 4\r\n" in raw
        assert raw.endswith(b"\r\n\r\n")

    serve(loop_kind, scenario)


def test_garbage_is_400_and_an_oversized_body_is_413_and_both_close(loop_kind: str) -> None:
    async def scenario(port: int, seen: list[Request]) -> None:
        for garbage in (b"GARBAGE\r\n\r\n", b"POST /score HTTP/1.1\r\nBad Header\r\n\r\n", b"\xff" * 300):
            raw = await exchange(port, garbage)
            assert raw.startswith(b"HTTP/1.1 400 Bad Request\r\n"), raw
            assert b"Connection: close" in raw
        declared = await exchange(port, b"POST /score HTTP/1.1\r\nContent-Length: 5000\r\n\r\n")
        assert declared.startswith(b"HTTP/1.1 413 Request Entity Too Large\r\n")
        chunked = await exchange(
            port, b"POST /score HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + b"x" * 2048 + b"\r\n"
        )
        assert chunked.startswith(b"HTTP/1.1 413 Request Entity Too Large\r\n")
        # the server is still there for everyone else
        assert answers(await exchange(port, b"GET /ok HTTP/1.1\r\nConnection: close\r\n\r\n")) == [
            (200, b"/ok")
        ]

    assert [r.target for r in serve(loop_kind, scenario)] == ["/ok"]


def test_headers_over_the_limit_are_431_whether_they_arrive_at_once_or_slowly(loop_kind: str) -> None:
    header = b"X-Filler: " + b"f" * 1000 + b"\r\n"

    async def scenario(port: int, seen: list[Request]) -> None:
        at_once = await exchange(port, b"GET /a HTTP/1.1\r\n" + header * 70 + b"\r\n")
        assert at_once.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /b HTTP/1.1\r\nX-Endless: ")
        for _ in range(80):  # one header value that never ends
            writer.write(b"v" * 1000)
            await writer.drain()
            await asyncio.sleep(0.001)
        assert (await reader.read(-1)).startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
        writer.close()
        within = await exchange(port, b"GET /c HTTP/1.1\r\nConnection: close\r\n" + header * 50 + b"\r\n")
        assert answers(within) == [(200, b"/c")]
        # one field past the instance server's own limit (8190) is refused here, not passed on
        wide = await exchange(port, b"GET /d HTTP/1.1\r\nX-Wide: " + b"w" * 9000 + b"\r\n\r\n")
        assert wide.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
        fits = b"X-Wide: " + b"w" * 8180 + b"\r\n"
        assert answers(
            await exchange(port, b"GET /e HTTP/1.1\r\nConnection: close\r\n" + fits + b"\r\n")
        ) == [(200, b"/e")]

    assert [r.target for r in serve(loop_kind, scenario)] == ["/c", "/e"]


def test_a_slow_reader_of_large_pipelined_answers_gets_them_all_intact(loop_kind: str) -> None:
    size = 4 * 1024 * 1024

    async def scenario(port: int, seen: list[Request]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i in range(5):
            body = bytes([65 + i]) * size
            writer.write(b"POST /big HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (size, body))
        await writer.drain()
        await asyncio.sleep(0.5)  # the server's writes back up meanwhile
        for i in range(5):
            head = await reader.readuntil(b"\r\n\r\n")
            assert f"Content-Length: {size}".encode() in head
            assert await reader.readexactly(size) == bytes([65 + i]) * size
        writer.close()

    assert len(serve(loop_kind, scenario, max_body=size)) == 5


def test_a_client_that_leaves_mid_request_gets_nothing_and_harms_nobody(loop_kind: str) -> None:
    handling = Handling()

    async def scenario(port: int, seen: list[Request]) -> None:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /slow HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi")
        await handling.started.wait()  # the handler is working on it
        writer.transport.abort()
        await handling.finished.wait()  # it finishes and finds nobody to answer
        assert answers(await exchange(port, b"GET /next HTTP/1.1\r\nConnection: close\r\n\r\n")) == [
            (200, b"/next")
        ]

    assert [r.target for r in serve(loop_kind, scenario, delay_s=0.2, handling=handling)] == [
        "/slow",
        "/next",
    ]


def test_an_upgrade_is_answered_as_http_1_1_then_closed(loop_kind: str) -> None:
    async def scenario(port: int, seen: list[Request]) -> None:
        raw = await exchange(
            port, b"GET /h2 HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n"
        )
        assert answers(raw) == [(200, b"/h2")]
        assert b"Connection: close" in raw

    serve(loop_kind, scenario)


def test_an_idle_keep_alive_connection_is_closed(loop_kind: str) -> None:
    async def scenario(port: int, seen: list[Request]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /a HTTP/1.1\r\n\r\n")
        await reader.readuntil(b"/a")
        assert await reader.read() == b""  # closed by the server, not by us
        writer.close()

    serve(loop_kind, scenario, limits=front.Limits(keep_alive_s=0.25))


def keyed(request: Request) -> bool:
    return request.header("authorization") == "Bearer right"


def test_a_request_refused_at_its_head_is_answered_before_its_body_and_closed(loop_kind: str) -> None:
    async def scenario(port: int, seen: list[Request]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /score HTTP/1.1\r\nAuthorization: Bearer wrong\r\nExpect: 100-continue\r\n"
            b"Content-Length: 900\r\n\r\n"
        )
        head = await reader.readuntil(b"\r\n\r\n")  # the answer, not "100 Continue"
        assert head.startswith(b"HTTP/1.1 401 Unauthorized\r\n")
        assert b"Connection: close" in head
        writer.write(b"x" * 900)  # what it still sends is dropped
        await writer.drain()
        assert await reader.read(-1) == b"no key"
        writer.close()
        right = b"POST /score HTTP/1.1\r\nAuthorization: Bearer right\r\nContent-Length: 2\r\n"
        assert answers(await exchange(port, right + b"Connection: close\r\n\r\nhi")) == [(200, b"hi")]

    seen = serve(loop_kind, scenario, admit=keyed)
    assert [(r.header("authorization"), r.body) for r in seen] == [
        ("Bearer wrong", b""),
        ("Bearer right", b"hi"),
    ]


def test_a_head_split_across_reads_with_a_large_body_is_served(loop_kind: str) -> None:
    body = b"b" * 100_000

    async def scenario(port: int, seen: list[Request]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /split HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)  # two reads for the server
        writer.write(b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        raw = await reader.read(-1)
        assert answers(raw) == [(200, body)]
        writer.close()

    serve(loop_kind, scenario, max_body=len(body))


def test_too_many_header_fields_connect_and_upgrades_with_a_body_are_refused(loop_kind: str) -> None:
    async def scenario(port: int, seen: list[Request]) -> None:
        tiny = b"".join(b"h%d: v\r\n" % i for i in range(8000))
        assert (await exchange(port, b"GET /a HTTP/1.1\r\n" + tiny + b"\r\n")).startswith(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
        )
        assert (await exchange(port, b"CONNECT example.org:443 HTTP/1.1\r\n\r\n")).startswith(
            b"HTTP/1.1 403 Forbidden\r\n"
        )
        upgrade = (
            b"POST /s HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 5\r\n\r\nhello"
        )
        raw = await exchange(port, upgrade)
        assert raw.startswith(b"HTTP/1.1 403 Forbidden\r\n")
        assert raw.endswith(b"upgrade failed")

    assert serve(loop_kind, scenario) == []


def test_slow_clients_are_closed_by_their_timeouts(loop_kind: str) -> None:
    limits = front.Limits(head_timeout_s=0.4, body_gap_s=0.4, receive_timeout_s=1.2, send_timeout_s=0.4)

    async def scenario(port: int, seen: list[Request]) -> None:
        # a head that never completes
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /slow HTTP/1.1\r\nX-One: ")
        raw = await reader.read(-1)
        assert raw.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), raw
        assert b"no complete request head" in raw
        writer.close()
        # a body that stops
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /slow HTTP/1.1\r\nContent-Length: 10\r\n\r\nab")
        raw = await reader.read(-1)
        assert b"the body paused for over" in raw
        writer.close()
        # a body that trickles in, a byte at a time, never pausing long enough for the gap
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /slow HTTP/1.1\r\nContent-Length: 1000\r\n\r\n")
        answer = asyncio.ensure_future(reader.read(-1))
        for _ in range(100):
            if answer.done():
                break
            writer.write(b"x")
            await asyncio.sleep(0.1)
        raw = await answer
        assert b"the request took over" in raw
        writer.close()
        # a client that never reads the answers it asked for
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = b"POST /big HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (4 << 20) + b"y" * (4 << 20)
        writer.transport.set_write_buffer_limits(high=64 << 20)
        for _ in range(8):
            writer.write(request)
        await asyncio.sleep(0)
        closed_by_server = False
        for _ in range(200):  # the server gives up on it; we notice when our writes fail
            await asyncio.sleep(0.05)
            if writer.transport.is_closing() or reader.at_eof() or reader.exception() is not None:
                closed_by_server = True
                break
            try:  # not reading, our side notices the reset only when it writes
                writer.write(b"z")
                await writer.drain()
            except ConnectionError:
                closed_by_server = True
                break
        assert closed_by_server
        writer.close()

    seen = serve(loop_kind, scenario, limits=dataclasses.replace(limits, max_body=8 << 20))
    assert all(r.path == "/big" for r in seen)


def test_connections_past_the_cap_are_refused_with_503(loop_kind: str) -> None:
    async def scenario(port: int, seen: list[Request]) -> None:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        for index, (reader, writer) in enumerate(held):  # answered: the server holds both
            writer.write(b"GET /held/%d HTTP/1.1\r\n\r\n" % index)
            await reader.readuntil(b"/held/%d" % index)
        raw = await exchange(port, b"GET /third HTTP/1.1\r\n\r\n")
        assert raw.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert raw.endswith(b"too many connections")
        for _, writer in held:
            writer.close()

    seen = serve(loop_kind, scenario, limits=front.Limits(max_connections=2))
    assert [r.target for r in seen] == ["/held/0", "/held/1"]


def test_a_drain_answers_what_came_closes_the_rest_and_leaves_new_connections_queued(
    loop_kind: str,
) -> None:
    """As at an engine's restart under its keeper: an idle keep-alive connection is closed at once,
    a request on its way is answered (then `Connection: close`), a connection that sent nothing is
    closed after QUIET_S, and a new one waits in the socket's queue for its next holder."""

    async def main() -> None:
        gate, arrived = asyncio.Event(), asyncio.Event()

        async def handler(request: Request) -> Reply:
            if request.target == "/slow":
                arrived.set()
                await gate.wait()
            return Reply(200, b"done", [])

        server = FrontServer(handler, front.Limits())
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        keeper = sock.dup()  # the keeper's copy: the queue outlives the server's
        port = sock.getsockname()[1]
        await server.start(sock)
        idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)
        idle_writer.write(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await idle_reader.readuntil(b"done")).startswith(b"HTTP/1.1 200")
        busy_reader, busy_writer = await asyncio.open_connection("127.0.0.1", port)
        busy_writer.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        quiet_reader, quiet_writer = await asyncio.open_connection("127.0.0.1", port)
        await arrived.wait()

        draining = asyncio.ensure_future(server.drain(30))
        assert await idle_reader.read(-1) == b"", "the idle connection is closed at once"
        assert not draining.done(), "a request is still owed"
        gate.set()
        owed = await busy_reader.read(-1)
        assert owed.startswith(b"HTTP/1.1 200")
        assert b"Connection: close" in owed
        assert await quiet_reader.read(-1) == b"", "nothing was sent on it: closed"
        await draining
        _, queued_writer = await asyncio.open_connection("127.0.0.1", port)  # the kernel's queue takes it
        await server.close()
        for writer in (idle_writer, busy_writer, quiet_writer, queued_writer):
            writer.close()
        keeper.close()

    if loop_kind == "uvloop":
        uvloop.run(main())
    else:
        asyncio.run(main())
