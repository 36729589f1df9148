"""The endpoint's listening side: a small HTTP/1.1 server on the scoring port.

A general web framework costs more per request than the router's whole pipeline, and the scoring
port needs little of one: requests in, one handler, answers out in order. This server parses with
llhttp (through httptools, the parser uvicorn uses) and hands each complete request to the
handler; what it does on the wire:

- keep-alive as HTTP/1.1 and 1.0 define it, pipelined requests answered in order;
- a request is shown to `admit` as soon as its head is complete: one it refuses (a wrong key) is
  answered at once, without "100 Continue", its body dropped as it arrives and the connection
  closed after the answer; nothing of it is kept;
- `Expect: 100-continue` answered before the body is read; chunked request bodies decoded;
- a body over `max_body` is 413, a request line and headers over `max_head_bytes` (counted as
  sent: names, values and separators), a field over `max_field_bytes` (the instance server's
  limit) or more than `max_headers` fields are 431, a request
  that does not parse is 400, CONNECT and protocol upgrades are 403 (as Envoy answers upgrades a
  route does not allow), each closing the connection;
- HEAD answers carry the length of the body they do not send;
- timeouts as nginx sets them: a head must arrive within `head_timeout_s`, a body may pause at
  most `body_gap_s` and must be complete within `receive_timeout_s`, a client must read its
  answer (a blocked write) within `send_timeout_s`; a connection quiet for `keep_alive_s` between
  requests is closed; past `max_connections`, a new connection is answered 503 and closed;
- a client that disconnects gets nothing written; its request still finishes upstream.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, cast

import httptools


@dataclass(frozen=True)
class Limits:
    """What one client may take of the server: sizes, times, connections. The defaults are those
    of the servers in front of the cloud's endpoints and of mature servers."""

    max_body: int = 1024**3
    max_head_bytes: int = 64 * 1024
    """Envoy's default limit (60 KiB) on the cloud's front door, rounded up."""
    max_headers: int = 100
    """Envoy's default max_headers_count."""
    max_field_bytes: int = 8190
    """One header field, name and value: the instance server's own limit (aiohttp's and gunicorn's
    8190), so that a field the instance would refuse is refused here, 431, not passed on to
    come back as a 424."""
    head_timeout_s: float = 60.0
    """nginx's client_header_timeout."""
    body_gap_s: float = 60.0
    """nginx's client_body_timeout: the longest pause between two reads of a body."""
    receive_timeout_s: float = 300.0
    """A whole request, head and body: a client sending a byte now and then is closed too
    (Envoy's stream idle timeout)."""
    send_timeout_s: float = 60.0
    """nginx's send_timeout: a client that does not read its answer."""
    keep_alive_s: float = 75.0
    """aiohttp's and nginx's default."""
    linger_s: float = 2.0
    """How long a refused client may go on sending before the connection is closed under it."""
    max_connections: int = 2048
    """Open connections per endpoint; past it, new ones are refused with 503."""

    @property
    def tick_s(self) -> float:
        """How often the timeouts are checked: a quarter of the shortest, at most a second."""
        return min(1.0, self.head_timeout_s / 4, self.body_gap_s / 4, self.send_timeout_s / 4)


QUIET_S = 1.0
"""At a drain, how long a connection that has sent nothing is given before it is closed."""
PIPELINED_MAX = 32
"""Complete requests waiting on one connection before it stops being read."""
TOO_MANY_CONNECTIONS = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 20\r\nConnection: close\r\n\r\ntoo many connections"
)
Admit = Callable[["Request"], bool]
"""Whether a request, seen at its complete head (its body still to come), may send its body."""


@dataclass
class Request:
    method: str
    target: str
    """The request target as sent: path and query."""
    headers: list[tuple[str, str]]
    body: bytes
    admitted: bool = False
    """`admit` accepted it at its head already."""
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

    def __init__(self, handler: Handler, limits: Limits | None = None, admit: Admit | None = None) -> None:
        self.handler = handler
        self.limits = limits or Limits()
        self.admit = admit
        self.connections: set[_Connection] = set()
        self.accepted = 0
        """Connections accepted since the start, refused ones included."""
        self.bytes_in = 0
        self.bytes_out = 0
        """Bytes read from and written to clients since the start, heads included."""
        self._server: asyncio.AbstractServer | None = None
        self._ticker: asyncio.TimerHandle | None = None
        self.date = _HttpDate()

    async def start(self, sock: Any, tls: ssl.SSLContext | None = None) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), sock=sock, ssl=tls)
        self._ticker = loop.call_later(self.limits.tick_s, self._tick)

    def _tick(self) -> None:
        now = time.monotonic()
        for connection in list(self.connections):
            connection.check_timeouts(now)
        self._ticker = asyncio.get_running_loop().call_later(self.limits.tick_s, self._tick)

    async def drain(self, timeout_s: float) -> None:
        """Stop accepting and close each connection once it owes nothing: an idle one at once, one
        with a request on the way after its answer (`Connection: close`); those left after
        `timeout_s` are for `close`. The listening socket's queue stays with its other holders."""
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.finish()
        started = time.monotonic()
        while self.connections and time.monotonic() < started + timeout_s:
            await asyncio.sleep(0.02)
            if time.monotonic() > started + QUIET_S:  # connected, yet nothing sent since: none is owed
                for connection in list(self.connections):
                    connection.finish(unless_quiet=False)

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
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
        self.limits = server.limits
        self.transport: asyncio.Transport | None = None
        self.parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self.waiting: deque[tuple[Request, bool]] = deque()
        self.answering = False
        self.task: asyncio.Task[None] | None = None
        self.closing = False
        self.last_call = False
        """The server drains: this connection closes after the answer it owes."""
        self._discarding = False
        """The request being received was refused at its head: its body is dropped."""
        self._paused_reading = False
        self._writable: asyncio.Future[None] | None = None
        self._blocked_since: float | None = None
        self._url: list[bytes] = []
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._body_size = 0
        self._request: Request | None = None
        self._in_head = False
        self._head_received = 0
        """Bytes of reads that arrived while a request's head was incomplete and left it so."""
        self._head_size = 0
        """Bytes of the request line and headers parsed so far, separators included."""
        now = time.monotonic()
        self._phase, self._since, self._last_data = "head", now, now
        """What the connection waits for ('head', 'body', 'answer', 'idle') and since when."""

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio's subclasses
        self.server.accepted += 1
        if len(self.server.connections) >= self.limits.max_connections:
            self.closing = True
            self.server.bytes_out += len(TOO_MANY_CONNECTIONS)
            self.transport.write(TOO_MANY_CONNECTIONS)
            self._close()
            return
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.closing = True
        self.waiting.clear()
        self.parser = None  # the parser refers to this connection: no cycle outlives it
        self._url, self._headers, self._body, self._request = [], [], [], None
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.server.bytes_in += len(data)
        if self.closing or self.parser is None:
            return  # refused or upgraded: nothing more is read from this client
        self._last_data = time.monotonic()
        was_in_head = self._in_head
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
            return
        if self._in_head and was_in_head:  # every byte of this read belongs to the unfinished head
            self._head_received += len(data)
            if self._head_received > self.limits.max_head_bytes:
                self.refuse(431, self._head_too_large())

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()
        self._blocked_since = time.monotonic()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None
        self._blocked_since = None

    # -- timeouts ----------------------------------------------------------------------------

    def finish(self, *, unless_quiet: bool = True) -> None:
        """The server stops: close once nothing is owed, at once if nothing is; with
        `unless_quiet` False, also if no byte of a request has come (a request on its way after
        QUIET_S would not be)."""
        self.last_call = True
        idle = self._phase == "idle" or (not unless_quiet and self._phase == "head" and not self._in_head)
        if idle and not self.answering and not self.waiting:
            self._close()

    def check_timeouts(self, now: float) -> None:
        limits = self.limits
        if self._blocked_since is not None and now - self._blocked_since > limits.send_timeout_s:
            self.abort()  # the client does not read what it asked for
        elif self.closing:
            return
        elif self._phase == "idle" and now - self._since > limits.keep_alive_s:
            self._close()
        elif self._phase == "head" and now - self._since > limits.head_timeout_s:
            self.refuse(408, f"Request Timeout: no complete request head in {limits.head_timeout_s:g} s")
        elif self._phase == "body" and now - self._last_data > limits.body_gap_s:
            self.refuse(408, f"Request Timeout: the body paused for over {limits.body_gap_s:g} s")
        elif self._phase == "body" and now - self._since > limits.receive_timeout_s:
            self.refuse(
                408, f"Request Timeout: the request took over {limits.receive_timeout_s:g} s to arrive"
            )

    # -- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url, self._headers, self._body, self._body_size = [], [], [], 0
        self._in_head, self._head_received, self._head_size = True, 0, 0
        if self._phase in ("idle", "answer"):
            self._phase, self._since = "head", time.monotonic()

    def on_url(self, url: bytes) -> None:
        self._grow_head(len(url) + 12)  # the method, spaces, "HTTP/1.1" and CRLF around it
        self._url.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._grow_head(len(name) + len(value) + 4)  # ": " and CRLF
        if len(name) + len(value) + 2 > self.limits.max_field_bytes:
            raise _Refusal(431, f"A header field over {self.limits.max_field_bytes} bytes")
        if len(self._headers) >= self.limits.max_headers:
            raise _Refusal(431, f"More than {self.limits.max_headers} header fields")
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def _grow_head(self, size: int) -> None:
        self._head_size += size
        if self._head_size > self.limits.max_head_bytes:
            raise _Refusal(431, self._head_too_large())

    def _head_too_large(self) -> str:
        return f"Request line and headers over {self.limits.max_head_bytes} bytes"

    def on_headers_complete(self) -> None:
        assert self.parser is not None
        self._in_head = False
        if self._phase == "head":
            self._phase = "body"
        method = self.parser.get_method()
        if method == b"CONNECT":
            raise _Refusal(403, "CONNECT is not supported")
        if self.parser.should_upgrade() and (self._has_body() or not self._upgrade_is_h2c()):
            # a protocol switch the endpoint does not allow (h2c without a body is served as 1.1)
            raise _Refusal(403, "upgrade failed")
        continue_ = False
        for name, value in self._headers:
            lowered = name.lower()
            if lowered == "content-length" and value.strip().isdigit() and int(value) > self.limits.max_body:
                raise _Refusal(413, f"Request body over {self.limits.max_body} bytes")
            if lowered == "expect" and value.strip().lower() == "100-continue":
                continue_ = True
        head = Request(method.decode("ascii"), b"".join(self._url).decode("latin-1"), self._headers, b"")
        self._request = head  # the body is added when it has arrived
        if self.server.admit is not None:
            if not self.server.admit(head):
                self._discarding = True  # answered now, from its head; what it sends is dropped
                self.closing = True
                self._dispatch(head, keep_alive=False)
                return
            head.admitted = True
        if continue_ and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _upgrade_is_h2c(self) -> bool:
        return any(n.lower() == "upgrade" and v.strip().lower() == "h2c" for n, v in self._headers)

    def _has_body(self) -> bool:
        for name, value in self._headers:
            lowered = name.lower()
            if lowered == "content-length" and value.strip() not in ("", "0"):
                return True
            if lowered == "transfer-encoding":
                return True
        return False

    def on_body(self, body: bytes) -> None:
        if self._discarding:
            return
        self._body_size += len(body)
        if self._body_size > self.limits.max_body:
            raise _Refusal(413, f"Request body over {self.limits.max_body} bytes")
        self._body.append(body)

    def on_message_complete(self) -> None:
        assert self.parser is not None
        if self._discarding:
            return
        request, self._request = self._request, None
        assert request is not None
        request.body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._body = []
        self._phase, self._since = "answer", time.monotonic()
        self._dispatch(request, self.parser.should_keep_alive())

    def _dispatch(self, request: Request, keep_alive: bool) -> None:
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
        keep_alive = keep_alive and not self.closing and not self.last_call
        self.write(reply, keep_alive, head_only=request.method == "HEAD")
        del request, reply  # nothing of an answered request is kept while the client reads
        if self._writable is not None:
            await self._writable
        self.answering = False
        if not keep_alive:
            if self._discarding:
                self._linger()  # the client may still be sending the body nobody reads
            else:
                self._close()
        elif self.waiting:
            self._answer(*self.waiting.popleft())
            if self._paused_reading and len(self.waiting) < PIPELINED_MAX // 2 and self.transport:
                self._paused_reading = False
                self.transport.resume_reading()
        elif not self._in_head:
            self._phase, self._since = "idle", time.monotonic()

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
        sent = head if head_only else head + reply.body
        self.server.bytes_out += len(sent)
        self.transport.write(sent)

    def refuse(self, status: int, message: str) -> None:
        """Answers a request that cannot be served and closes: what follows on the connection
        cannot be trusted to be where the next request starts. The close lingers: a client still
        sending (a large body, endless headers) would otherwise get a reset instead of the answer."""
        self.waiting.clear()
        self.closing = True
        self._body = []
        if not self.answering and self.transport is not None:
            self.write(Reply.text(status, message), keep_alive=False)
            self._linger()

    def _linger(self) -> None:
        if self.transport is None:
            return
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the answer is complete; what the client still sends is dropped
            asyncio.get_running_loop().call_later(self.limits.linger_s, self._close)
        else:
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
