"""Reading the control API's request bodies: a JSON object, each field of the type it must have,
or an EngineError (400) that names the field; never a traceback (a 500) for what a client sent."""

from __future__ import annotations

import math
import re
from typing import Any

from aiohttp import web

from workbench.errors import EngineError

INSTANCE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
"""An instance's id (blue-0) or index (0): nothing that could name a path elsewhere."""


async def body_of(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; {} when there is none."""
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError as exc:
        raise EngineError(f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise EngineError("the body must be a JSON object")
    return data


def number(body: dict[str, Any], key: str, default: float, *, low: float, high: float) -> float:
    """A finite number within [low, high]."""
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise EngineError(f"{key} must be a number, not {value!r}")
    if not low <= value <= high:
        raise EngineError(f"{key} must be from {low:g} to {high:g}, not {value:g}")
    return float(value)


def whole(body: dict[str, Any], key: str, default: int, *, low: int, high: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise EngineError(f"{key} must be a whole number from {low} to {high}, not {value!r}")
    return value


def flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise EngineError(f"{key} must be true or false, not {value!r}")
    return value


def text(body: dict[str, Any], key: str, default: str | None = None) -> str | None:
    value = body.get(key, default)
    if value is not None and not isinstance(value, str):
        raise EngineError(f"{key} must be a string, not {value!r}")
    return value


def shares(body: dict[str, Any], key: str) -> dict[str, int] | None:
    """A traffic table: deployment names to whole percentages."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in value.items()
    ):
        raise EngineError(f"{key} must map deployment names to whole percentages, not {value!r}")
    return dict(value)


def instance_name(value: str) -> str:
    if not INSTANCE_NAME.fullmatch(value):
        raise EngineError(f"{value!r} is not an instance's id (blue-0) or index (0)")
    return value
