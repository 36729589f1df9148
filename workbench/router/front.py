"""The endpoint's listening side: a small HTTP/1.1 server on the scoring port.

A general web framework costs more per request than the router's whole pipeline, and the scoring
port needs little of one: requests in, one handler, answers out in order. This server parses with
llhttp (through httptools, the parser uvicorn uses) and hands each complete request to the
handler; what it does on the wire:

- keep-alive as HTTP/1.1 and 1.0 define it, pipelined requests answered in order;
- `Expect: 100-continue` answered before the body is read; chunked request bodies decoded;
- a body over `max_body` is 413, a request line and headers over MAX_HEAD_BYTES are 431, a request
  that does not parse is 400, each closing the connection;
- HEAD answers carry the length of the body they do not send;
- a connection quiet for KEEP_ALIVE_S between requests is closed (checked every SWEEP_S);
- a client that disconnects gets nothing written; its request still finishes upstream.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, cast

import httptools

KEEP_ALIVE_S = 75.0
"""aiohttp's and nginx's default."""
SWEEP_S = 15.0
MAX_HEAD_BYTES = 64 * 1024
"""Envoy's default limit (60 KiB) on the cloud's front door, rounded up."""
HEAD_TOO_LARGE = f"Request line and headers over {MAX_HEAD_BYTES} bytes"
LINGER_S = 2.0
"""How long a refused client may go on sending before the connection is closed under it."""
PIPELINED_MAX = 32
"""Complete requests waiting on one connection before it stops being read."""


@dataclass
class Request:
    method: str
    target: str
    """The request target as sent: path and query."""
    headers: list[tuple[str, str]]
    body: bytes
    _lookup: dict[str, str] | None = field(default=None, init=False, repr=False)

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query_string(self) -> str:
        return self.target.partition("?")[2]

    def header(self, name: str, default: str = "") -> str:
        """The value of header `name` (lower case), the last one where it repeats."""
        if self._lookup is None:
            self._lookup = {key.lower(): value for key, value in self.headers}
        return self._lookup.get(name, default)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    reason: str = ""

    @classmethod
    def json(cls, status: int, payload: Any) -> Reply:
        content_type = ("Content-Type", "application/json; charset=utf-8")
        return cls(status, json.dumps(payload).encode(), [content_type])

    @classmethod
    def text(cls, status: int, text: str) -> Reply:
        return cls(status, text.encode(), [("Content-Type", "text/plain; charset=utf-8")])


Handler = Callable[[Request], Awaitable[Reply]]


class FrontServer:
    """Serves `handler` on a listening socket until closed."""

    def __init__(self, handler: Handler, max_body: int) -> None:
        self.handler = handler
        self.max_body = max_body
        self.connections: set[_Connection] = set()
        self._server: asyncio.AbstractServer | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self.date = _HttpDate()

    async def start(self, sock: Any) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), sock=sock)
        self._sweeper = loop.call_later(SWEEP_S, self._sweep)

    def _sweep(self) -> None:
        """Closes connections idle since the sweep before the last one."""
        for connection in list(self.connections):
            connection.close_if_idle()
        self._sweeper = asyncio.get_running_loop().call_later(SWEEP_S, self._sweep)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.abort()
        if self._server is not None:
            await self._server.wait_closed()


class _Connection(asyncio.Protocol):
    """One client's connection: requests parsed as bytes arrive, answered one at a time, in order."""

    def __init__(self, server: FrontServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.waiting: deque[tuple[Request, bool]] = deque()
        self.answering = False
        self.task: asyncio.Task[None] | None = None
        self.closing = False
        self.quiet_sweeps = 0
        self._paused_reading = False
        self._writable: asyncio.Future[None] | None = None
        self._url: list[bytes] = []
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._body_size = 0
        self._in_head = False
        self._head_received = 0
        """Bytes received in later reads while a request's head is still incomplete."""
        self._head_size = 0
        """Bytes of the request line and headers parsed so far."""

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio's subclasses
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.closing = True
        self.waiting.clear()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return  # refused or upgraded: nothing more is read from this client
        self.quiet_sweeps = 0
        if self._in_head:
            self._head_received += len(data)
            if self._head_received > MAX_HEAD_BYTES:
                self.refuse(431, HEAD_TOO_LARGE)
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.closing = True  # no protocol switch here: answer as HTTP/1.1, then close
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if isinstance(cause, _Refusal):
                self.refuse(cause.status, cause.message)
            else:
                self.refuse(400, f"Bad Request: {exc}")

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    # -- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url, self._headers, self._body, self._body_size = [], [], [], 0
        self._in_head, self._head_received, self._head_size = True, 0, 0

    def on_url(self, url: bytes) -> None:
        self._grow_head(len(url))
        self._url.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._grow_head(len(name) + len(value))
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def _grow_head(self, size: int) -> None:
        self._head_size += size
        if self._head_size > MAX_HEAD_BYTES:
            raise _Refusal(431, HEAD_TOO_LARGE)

    def on_headers_complete(self) -> None:
        self._in_head = False
        for name, value in self._headers:
            lowered = name.lower()
            if lowered == "content-length" and value.strip().isdigit() and int(value) > self.server.max_body:
                raise _Refusal(413, f"Request body over {self.server.max_body} bytes")
            if lowered == "expect" and value.strip().lower() == "100-continue" and self.transport:
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self.server.max_body:
            raise _Refusal(413, f"Request body over {self.server.max_body} bytes")
        self._body.append(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode("ascii")
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        request = Request(method, b"".join(self._url).decode("latin-1"), self._headers, body)
        keep_alive = self.parser.should_keep_alive()
        if self.answering or self.waiting:
            self.waiting.append((request, keep_alive))
            if len(self.waiting) >= PIPELINED_MAX and self.transport and not self._paused_reading:
                self._paused_reading = True
                self.transport.pause_reading()
        else:
            self._answer(request, keep_alive)

    # -- answering ---------------------------------------------------------------------------

    def _answer(self, request: Request, keep_alive: bool) -> None:
        self.answering = True
        self.task = asyncio.get_running_loop().create_task(self._respond(request, keep_alive))

    async def _respond(self, request: Request, keep_alive: bool) -> None:
        try:
            reply = await self.server.handler(request)
        except Exception:  # the handler's own failures are answered; this is the last resort
            reply = Reply.text(500, "router failure")
        keep_alive = keep_alive and not self.closing
        self.write(reply, keep_alive, head_only=request.method == "HEAD")
        if self._writable is not None:
            await self._writable
        self.answering = False
        if not keep_alive:
            self._close()
        elif self.waiting:
            self._answer(*self.waiting.popleft())
            if self._paused_reading and len(self.waiting) < PIPELINED_MAX // 2 and self.transport:
                self._paused_reading = False
                self.transport.resume_reading()

    def write(self, reply: Reply, keep_alive: bool, head_only: bool = False) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        reason = reply.reason or _reason(reply.status)
        lines = [f"HTTP/1.1 {reply.status} {reason}"]
        has_date = False
        for name, value in reply.headers:
            lines.append(f"{name}: {value}")
            has_date = has_date or name.lower() == "date"
        if not has_date:
            lines.append(f"Date: {self.server.date.now()}")
        if reply.status >= 200 and reply.status not in (204, 304):
            lines.append(f"Content-Length: {len(reply.body)}")
        if not keep_alive:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.transport.write(head if head_only else head + reply.body)

    def refuse(self, status: int, message: str) -> None:
        """Answers a request that cannot be served and closes: what follows on the connection
        cannot be trusted to be where the next request starts. The close lingers: a client still
        sending (a large body, endless headers) would otherwise get a reset instead of the answer."""
        self.waiting.clear()
        self.closing = True
        if not self.answering and self.transport is not None:
            self.write(Reply.text(status, message), keep_alive=False)
            if self.transport.can_write_eof():
                self.transport.write_eof()  # the answer is complete; what the client still sends is dropped
                asyncio.get_running_loop().call_later(LINGER_S, self._close)
            else:
                self._close()

    def close_if_idle(self) -> None:
        if self.answering or self.waiting:
            return
        self.quiet_sweeps += 1
        if self.quiet_sweeps * SWEEP_S > KEEP_ALIVE_S:
            self._close()

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class _Refusal(Exception):
    """Raised in a parser callback to stop parsing and answer `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _HttpDate:
    """The Date header's value, formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second, self._value = second, formatdate(second, usegmt=True)
        return self._value
