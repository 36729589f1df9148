"""Keep-alive HTTP/1.1 connections from the router to instances: the router's hot path.

A general client (aiohttp's) costs more per request than the router's whole pipeline; the
upstream here is always an HTTP/1.1 server on loopback, so a small client does: a pool of idle
connections per instance, each an asyncio protocol whose answers llhttp parses (through
httptools): Content-Length, chunked or read-to-close bodies, interim 1xx answers skipped.

A request is never sent twice. A connection that ends without an answer may have been read by
the instance (a request that crashes it ends its connection exactly so), so sending it again, to
the same instance or another, could run it twice or crash a second instance: it is an
UpstreamError (502). Only a refused connect, before any byte was written, is `Refused`, and may
go to another instance. To keep the race with an instance closing an idle connection rare, a
pooled connection is dropped once the instance has closed it, and is not reused after
POOL_IDLE_S of quiet (shorter than the servers' own keep-alive).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

import httptools

MAX_IDLE = 64
POOL_IDLE_S = 30.0
"""aiohttp's keep-alive (the workbench server's) closes idle connections after 75 s."""
MAX_HEAD_BYTES = 2**20


class UpstreamError(Exception):
    """The instance closed or broke the connection before a complete answer."""


class Refused(UpstreamError):
    """Nothing listens: no byte of the request reached the instance, another may take it."""


@dataclass
class Answer:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes


class Upstream:
    """Connections to one instance at host:port."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._idle: list[_Connection] = []

    async def request(
        self, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes, timeout_s: float
    ) -> Answer:
        """The instance's answer; asyncio.TimeoutError after `timeout_s` (the connection is then
        closed and the instance finishes its work on its own); Refused, UpstreamError."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        head = _request_head(method, target, f"{self.host}:{self.port}", headers, len(body))
        connection = self._pooled(loop.time())
        if connection is None:
            connection = await self._connect()
        answer = await connection.exchange(head, body, method == "HEAD", deadline)
        if connection.reusable and len(self._idle) < MAX_IDLE:
            connection.idle_since = loop.time()
            self._idle.append(connection)
        else:
            connection.close()
        return answer

    def _pooled(self, now: float) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.usable and now - connection.idle_since < POOL_IDLE_S:
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(_Connection, self.host, self.port)
        except ConnectionRefusedError as exc:
            raise Refused(f"connection refused by {self.host}:{self.port}") from exc
        return connection

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()


class _NoAnswer(UpstreamError):
    """The connection ended before any byte of the answer: the instance may have read the
    request (and crashed on it), or had closed the connection just before it was sent."""

    def __init__(self) -> None:
        super().__init__("the instance closed the connection before answering")


class _Connection(asyncio.Protocol):
    """One connection to an instance, one exchange at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.reusable = False
        self.idle_since = 0.0
        self._answer: asyncio.Future[Answer] | None = None
        self._received = False
        self._head_only = False
        self._expired = False
        self._closed = False
        self._reason = b""
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._head_bytes = 0
        self._status_seen = False
        """The answer's status line and headers have arrived."""
        self._to_close = False
        """No Content-Length and not chunked: the body ends when the instance closes."""

    @property
    def usable(self) -> bool:
        return not self._closed and self.transport is not None and not self.transport.is_closing()

    async def exchange(self, head: bytes, body: bytes, head_only: bool, deadline: float) -> Answer:
        """Sends one request and waits for its answer until `deadline` (then aborts the
        connection: asyncio.TimeoutError)."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._answer = loop.create_future()
        self._received = self._expired = self.reusable = False
        self._head_only = head_only
        timer = loop.call_at(deadline, self._expire)
        try:
            self.transport.write(head + body if len(body) < 65536 else head)
            if len(body) >= 65536:
                self.transport.write(body)
            return await self._answer
        except BaseException:
            self.close()
            raise
        finally:
            timer.cancel()

    def _expire(self) -> None:
        self._expired = True
        self._fail(asyncio.TimeoutError())
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, exc: BaseException) -> None:
        self.reusable = False
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc)

    def close(self) -> None:
        self._closed = True
        if self.transport is not None:
            self.transport.close()

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio's subclasses

    def data_received(self, data: bytes) -> None:
        self._received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            self._fail(cause if isinstance(cause, UpstreamError) else UpstreamError(f"invalid answer: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._answer is None or self._answer.done():
            return
        if self._to_close and self._status_seen:
            self._complete()  # a body delimited by the end of the connection
        elif not self._received:
            self._fail(_NoAnswer())
        else:
            self._fail(UpstreamError("the instance closed the connection in the middle of its answer"))

    # -- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._reason, self._headers, self._body, self._head_bytes = b"", [], [], 0
        self._status_seen = False

    def on_status(self, status: bytes) -> None:
        self._reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value)
        if self._head_bytes > MAX_HEAD_BYTES:
            raise UpstreamError("the instance's response headers are too large")
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self._status_seen = True
        if self.parser.get_status_code() < 200:
            return  # interim answer (100 Continue): the real one follows
        lowered = {name.lower(): value for name, value in self._headers}
        self._to_close = (
            "content-length" not in lowered and "chunked" not in lowered.get("transfer-encoding", "").lower()
        )
        if self._head_only:
            self._to_close = False
            self._complete(reusable=False)  # a HEAD answer has no body, whatever its length says

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self.parser.get_status_code() < 200:
            return
        self._complete(reusable=self.parser.should_keep_alive())

    def _complete(self, reusable: bool = False) -> None:
        if self._answer is None or self._answer.done():
            return
        self.reusable = reusable and not self._to_close
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        status = self.parser.get_status_code()
        self._answer.set_result(Answer(status, self._reason.decode("latin-1"), self._headers, body))


def _request_head(
    method: str, target: str, host: str, headers: Iterable[tuple[str, str]], length: int
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {length}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
