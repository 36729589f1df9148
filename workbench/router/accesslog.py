"""The router's access log: one JSON line per request, per endpoint, like Azure's
AmlOnlineEndpointTrafficLog. Keys and tokens are never written. Lines are gathered and written
within FLUSH_S, not one write per request (the router's hot path).

Scoring never depends on the disk: the lines go to a log bounded as it is written
(workbench/logfile.py); a write that fails (a full disk) drops those lines, counts them, and the
next write that succeeds starts with a JSON line saying how much was lost.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from workbench.logfile import BoundedLog


class AccessLog:
    FLUSH_S = 0.05

    def __init__(self, path: Path) -> None:
        self._log = BoundedLog(path, note=self._say_dropped)
        self._lines: list[str] = []
        self._flush_pending = False
        self._encode = json.JSONEncoder(check_circular=False).encode  # records are flat
        self._second = -1
        self._time = ""

    def write(self, record: dict[str, Any]) -> None:
        second = int(time.time())
        if second != self._second:
            self._second, self._time = second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        self._lines.append(self._encode({"time": self._time, **record}) + "\n")
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_later(self.FLUSH_S, self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        lines, self._lines = self._lines, []
        self._log.write("".join(lines).encode())

    def _say_dropped(self, count: int) -> bytes:
        said = {
            "time": self._time,
            "message": f"{count} byte(s) of access log dropped: it could not be written",
        }
        return (self._encode(said) + "\n").encode()

    def close(self) -> None:
        self._flush()
        self._log.close()
