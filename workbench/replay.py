"""`workbench replay`: recorded requests sent again, each answer compared with the recorded one,
the way a change is checked against what production answered. Answers that are JSON are compared
as values: numbers within `tolerance` (relative), keys at `ignore` paths (dotted: `version`,
`meta.time`) skipped; anything else byte for byte."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from workbench.router.recorder import read_records

MISSING = object()


@dataclass
class Difference:
    index: int
    target: str
    where: list[str]
    """The paths that differ (`status` for the status code, `$` for a whole non-JSON body)."""


@dataclass
class ReplayResult:
    same: int = 0
    skipped: int = 0
    differences: list[Difference] = field(default_factory=list)


def replay(
    recording: Path,
    uri: str,
    headers: dict[str, str],
    *,
    tolerance: float = 0.0,
    ignore: Sequence[str] = (),
    verify: bool = True,
) -> ReplayResult:
    """Each recorded request to `uri` (its path and query kept), with `headers` (credentials,
    a pinned deployment) over the recorded ones."""
    result = ReplayResult()
    base = uri.rsplit("/score", 1)[0]
    with httpx.Client(timeout=300, verify=verify) as http:
        for index, record in enumerate(read_records(recording)):
            if record.get("body") is None or record.get("answer") is None:
                result.skipped += 1  # a body too large to have been kept
                continue
            recorded: list[list[str]] = record["headers"]
            sent = {k: v for k, v in recorded if k.lower() not in ("host", "content-length")}
            answer = http.request(
                str(record["method"]),
                base + str(record["target"]),
                content=base64.b64decode(str(record["body"])),
                headers={**sent, **headers},
            )
            where = []
            if answer.status_code != record["status"]:
                where.append("status")
            where += compare(base64.b64decode(str(record["answer"])), answer.content, tolerance, ignore)
            if where:
                result.differences.append(Difference(index, str(record["target"]), where))
            else:
                result.same += 1
    return result


def compare(before: bytes, after: bytes, tolerance: float, ignore: Sequence[str]) -> list[str]:
    """Where two answers differ: JSON paths, or `$` for bodies that are not JSON and differ."""
    try:
        old, new = json.loads(before), json.loads(after)
    except ValueError:
        return [] if before == after else ["$"]
    found: list[str] = []
    _walk(old, new, "", found, tolerance=tolerance, ignore=set(ignore))
    return found


def _walk(old: Any, new: Any, path: str, found: list[str], *, tolerance: float, ignore: set[str]) -> None:
    if path in ignore:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            child = f"{path}.{key}" if path else str(key)
            _walk(
                old.get(key, MISSING), new.get(key, MISSING), child, found, tolerance=tolerance, ignore=ignore
            )
        return
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            _walk(a, b, f"{path}[{index}]", found, tolerance=tolerance, ignore=ignore)
        return
    numbers = (int, float)
    if (
        isinstance(old, numbers)
        and isinstance(new, numbers)
        and not isinstance(old, bool)
        and not isinstance(new, bool)
    ):
        if math.isclose(old, new, rel_tol=tolerance, abs_tol=tolerance if old == 0 or new == 0 else 0.0):
            return
        found.append(path or "$")
        return
    if old != new:
        found.append(path or "$")
