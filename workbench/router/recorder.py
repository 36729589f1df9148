"""Live requests recorded for a replay (`workbench record`): each answered request as one JSON
line, with its answer, in a file only the user can read (bodies may be private). Bounded: at most
MAX_RECORDS, and bodies over MAX_BODY_BYTES are left out (said in the record).

Credentials are never written: headers whose name says what they carry (`Authorization`,
cookies, `X-Api-Key`, anything with key, token, secret, password, signature or session in its
name), query parameters named so, and any header or parameter whose value holds one of the
endpoint's own keys (matched by value, whatever it is called) are left out.

A recording read back is checked line by line: a line that is not a recorded request is an error
that names the file and the line.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import time
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from workbench.router.front import Reply, Request

MAX_RECORDS = 100_000
MAX_BODY_BYTES = 16 * 1024 * 1024
NOT_KEPT = {"authorization", "cookie", "proxy-authorization", "set-cookie"}
KEY_LIKE = re.compile(r"key|token|secret|passw|signature|session|credential|auth|cookie", re.IGNORECASE)
FIELDS = {"method": str, "target": str, "headers": list, "status": int}


class RecordingError(ValueError):
    """A recording that is not what `workbench record` writes, with the file and line."""


class Recorder:
    def __init__(self, path: Path, secrets: Callable[[], Sequence[str]] = tuple) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = path
        self.secrets = secrets
        """The endpoint's keys now: a value that holds one is never written, whatever its name."""
        self.count = 0
        self.failed = False
        """The file could not be written: the recording stopped early."""
        self._file: IO[str] | None = open(  # noqa: SIM115 (closed by close())
            os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8"
        )

    def write(self, request: Request, reply: Reply, deployment: str | None) -> None:
        if self._file is None or self.count >= MAX_RECORDS:
            return
        secrets = [s for s in self.secrets() if s]
        record = {
            "time": time.time(),
            "method": request.method,
            "target": _without_credentials(request.target, secrets),
            "headers": [[k, v] for k, v in request.headers if _kept(k, v, secrets)],
            "body": _encoded(request.body),
            "deployment": deployment,
            "status": reply.status,
            "answer": _encoded(reply.body),
        }
        try:
            self._file.write(json.dumps(record) + "\n")
        except OSError:  # a full disk: the recording ends there; the request it recorded is unharmed
            self.failed = True
            self.close()
            return
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            with contextlib.suppress(OSError):
                file.close()


def _encoded(body: bytes) -> str | None:
    return base64.b64encode(body).decode() if len(body) <= MAX_BODY_BYTES else None


def _kept(name: str, value: str, secrets: Sequence[str]) -> bool:
    lowered = name.lower()
    if lowered in NOT_KEPT or KEY_LIKE.search(lowered):
        return False
    return not any(secret in value for secret in secrets)


def _without_credentials(target: str, secrets: Sequence[str]) -> str:
    """The request target with credential-like query parameters left out."""
    path, mark, query = target.partition("?")
    if not mark:
        return target
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if _kept(k, v, secrets)]
    if len(kept) == len(pairs):
        return target
    return f"{path}?{urllib.parse.urlencode(kept)}" if kept else path


def read_records(path: Path) -> list[dict[str, Any]]:
    """The recorded requests; a RecordingError naming the line of the first that is not one."""
    records = []
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                records.append(_record(line, f"{path}:{number}"))
    return records


def _record(line: str, where: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise RecordingError(f"{where}: not JSON ({exc})") from exc
    if not isinstance(record, dict):
        raise RecordingError(f"{where}: not a recorded request (a JSON object)")
    for name, kind in FIELDS.items():
        if not isinstance(record.get(name), kind):
            raise RecordingError(f"{where}: {name} is missing or not a {kind.__name__}")
    if not all(
        isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) for x in h) for h in record["headers"]
    ):
        raise RecordingError(f"{where}: headers must be [name, value] pairs")
    for name in ("body", "answer"):
        value = record.get(name)
        if value is not None:
            try:
                base64.b64decode(str(value), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise RecordingError(f"{where}: {name} is not base64 ({exc})") from exc
    return record
