"""Keep-alive HTTP/1.1 connections from the router to instances: the router's hot path.

A general client (aiohttp's) costs more per request than the router's whole pipeline; the
upstream here is always an HTTP/1.1 server on loopback, so a small client does: a pool of idle
connections per instance, Content-Length or chunked bodies, and a retry on a fresh connection
when a pooled one turns out to have been closed by the server before it answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

MAX_IDLE = 64


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


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        self.writer.close()


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
        deadline = asyncio.get_running_loop().time() + timeout_s
        head = _request_head(method, target, f"{self.host}:{self.port}", headers, len(body))
        pooled = bool(self._idle)
        connection = self._idle.pop() if pooled else await self._connect()
        try:
            answer, reusable = await _timed(connection, head, body, deadline)
        except _StaleConnection:
            connection.close()
            if not pooled:
                raise UpstreamError("the instance closed the connection before answering") from None
            connection = await self._connect()
            try:
                answer, reusable = await _timed(connection, head, body, deadline)
            except BaseException:
                connection.close()
                raise
        except BaseException:
            connection.close()
            raise
        if reusable and len(self._idle) < MAX_IDLE:
            self._idle.append(connection)
        else:
            connection.close()
        return answer

    async def _connect(self) -> _Connection:
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=2**20)
        except ConnectionRefusedError as exc:
            raise Refused(f"connection refused by {self.host}:{self.port}") from exc
        return _Connection(reader, writer)

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()


class _StaleConnection(Exception):
    pass


async def _timed(connection: _Connection, head: bytes, body: bytes, deadline: float) -> tuple[Answer, bool]:
    """One exchange, aborted at `deadline` by a timer: cheaper than wait_for, which makes a task."""
    loop = asyncio.get_running_loop()
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        connection.writer.transport.abort()

    timer = loop.call_at(deadline, expire)
    try:
        return await _exchange(connection, head, body)
    except (UpstreamError, _StaleConnection, OSError, asyncio.IncompleteReadError):
        if expired:
            raise asyncio.TimeoutError() from None
        raise
    finally:
        timer.cancel()


def _request_head(
    method: str, target: str, host: str, headers: Iterable[tuple[str, str]], length: int
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {length}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _exchange(connection: _Connection, head: bytes, body: bytes) -> tuple[Answer, bool]:
    writer, reader = connection.writer, connection.reader
    try:
        writer.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            writer.write(body)
        await writer.drain()
        raw = await reader.readuntil(b"\r\n\r\n")
    except (ConnectionResetError, BrokenPipeError) as exc:
        raise _StaleConnection() from exc
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise _StaleConnection() from exc
        raise UpstreamError("the instance closed the connection in the middle of its answer") from exc
    except asyncio.LimitOverrunError as exc:
        raise UpstreamError("the instance's response headers are too large") from exc
    status_line, *lines = raw[:-4].decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    status, reason = int(parts[1]), parts[2] if len(parts) > 2 else ""
    headers: list[tuple[str, str]] = []
    length: int | None = None
    chunked = False
    keep_alive = True
    for line in lines:
        name, _, value = line.partition(":")
        name, value = name.strip(), value.strip()
        lowered = name.lower()
        if lowered == "content-length":
            length = int(value)
        elif lowered == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif lowered == "connection" and value.lower() == "close":
            keep_alive = False
        headers.append((name, value))
    try:
        if chunked:
            payload = await _read_chunked(reader)
        elif length is not None:
            payload = await reader.readexactly(length) if length else b""
        else:
            payload, keep_alive = await reader.read(), False
    except asyncio.IncompleteReadError as exc:
        raise UpstreamError("the instance closed the connection in the middle of its answer") from exc
    return Answer(status, reason, headers, payload), keep_alive


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
