"""The router's access log: one JSON line per request, per endpoint, like Azure's
AmlOnlineEndpointTrafficLog. Keys and tokens are never written."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, TextIO


class AccessLog:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = path.open("a", buffering=1)

    def write(self, record: dict[str, Any]) -> None:
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **record}
        self._file.write(json.dumps(record) + "\n")

    def close(self) -> None:
        self._file.close()
