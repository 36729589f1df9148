"""Live requests recorded for a replay (`workbench record`): each answered request as one JSON
line, with its answer, in a file only the user can read (bodies may be private). Credentials are
never written: `Authorization` and cookies are left out. Bounded: at most MAX_RECORDS, and
bodies over MAX_BODY_BYTES are left out (said in the record)."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import IO

from workbench.router.front import Reply, Request

MAX_RECORDS = 100_000
MAX_BODY_BYTES = 16 * 1024 * 1024
NOT_KEPT = {"authorization", "cookie", "proxy-authorization"}


class Recorder:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = path
        self.count = 0
        self._file: IO[str] | None = open(  # noqa: SIM115 (closed by close())
            os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8"
        )

    def write(self, request: Request, reply: Reply, deployment: str | None) -> None:
        if self._file is None or self.count >= MAX_RECORDS:
            return
        record = {
            "time": time.time(),
            "method": request.method,
            "target": request.target,
            "headers": [[k, v] for k, v in request.headers if k.lower() not in NOT_KEPT],
            "body": _encoded(request.body),
            "deployment": deployment,
            "status": reply.status,
            "answer": _encoded(reply.body),
        }
        self._file.write(json.dumps(record) + "\n")
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _encoded(body: bytes) -> str | None:
    return base64.b64encode(body).decode() if len(body) <= MAX_BODY_BYTES else None


def read_records(path: Path) -> list[dict[str, object]]:
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            records.append(json.loads(line))
    return records
