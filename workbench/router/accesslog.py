"""The router's access log: one JSON line per request, per endpoint, like Azure's
AmlOnlineEndpointTrafficLog. Keys and tokens are never written. Lines are buffered and flushed
within FLUSH_S, not one write per request (the router's hot path)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any, TextIO


class AccessLog:
    FLUSH_S = 0.05

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = path.open("a")
        self._flush_pending = False
        self._encode = json.JSONEncoder(check_circular=False).encode  # records are flat
        self._second = -1
        self._time = ""

    def write(self, record: dict[str, Any]) -> None:
        second = int(time.time())
        if second != self._second:
            self._second, self._time = second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        self._file.write(self._encode({"time": self._time, **record}) + "\n")
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_later(self.FLUSH_S, self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        if not self._file.closed:
            self._file.flush()

    def close(self) -> None:
        self._file.close()
