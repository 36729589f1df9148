"""A minimal Debug Adapter Protocol client: enough to attach to debugpy as VS Code does."""

from __future__ import annotations

import json
import socket
import time
from typing import Any


class DapClient:
    def __init__(self, port: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.seq = 0
        self.buffer = b""
        self.pending: list[dict[str, Any]] = []

    def close(self) -> None:
        self.sock.close()

    def send(self, command: str, **arguments: Any) -> int:
        self.seq += 1
        body = json.dumps({"seq": self.seq, "type": "request", "command": command, "arguments": arguments})
        data = body.encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        return self.seq

    def receive(self) -> dict[str, Any]:
        if self.pending:
            return self.pending.pop(0)
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        header, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = int(header.split(b":")[1])
        while len(rest) < length:
            self.buffer = header + b"\r\n\r\n" + rest
            self._read()
            header, _, rest = self.buffer.partition(b"\r\n\r\n")
        self.buffer = rest[length:]
        message: dict[str, Any] = json.loads(rest[:length])
        return message

    def wait_for(self, kind: str, name: str, timeout: float = 30) -> dict[str, Any]:
        """The next response to `name` (kind "response") or event `name` (kind "event")."""
        deadline = time.monotonic() + timeout
        skipped: list[dict[str, Any]] = []
        try:
            while time.monotonic() < deadline:
                message = self.receive()
                key = message.get("command") if kind == "response" else message.get("event")
                if message.get("type") == kind and key == name:
                    return message
                skipped.append(message)
            raise TimeoutError(f"no {kind} {name} within {timeout} s")
        finally:
            self.pending[:0] = skipped

    def attach(
        self,
        *,
        path_mappings: list[dict[str, str]] | None = None,
        breakpoints: dict[str, list[int]] | None = None,
    ) -> None:
        """initialize, attach, setBreakpoints, configurationDone: what VS Code does with an attach
        configuration. Breakpoints are given in local paths; debugpy maps them."""
        self.send(
            "initialize",
            adapterID="debugpy",
            clientID="tests",
            pathFormat="path",
            linesStartAt1=True,
            columnsStartAt1=True,
        )
        self.wait_for("response", "initialize")
        self.send("attach", justMyCode=False, pathMappings=path_mappings or [])
        self.wait_for("event", "initialized")
        for path, lines in (breakpoints or {}).items():
            self.send("setBreakpoints", source={"path": path}, breakpoints=[{"line": n} for n in lines])
            answer = self.wait_for("response", "setBreakpoints")
            assert all(b.get("verified") for b in answer["body"]["breakpoints"]), answer
        self.send("configurationDone")
        self.wait_for("response", "configurationDone")

    def _read(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("debug adapter closed the connection")
        self.buffer += chunk
