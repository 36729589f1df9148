"""A stable text of a spec value, for the digests that decide what a change does: the engine's
deployment fingerprint (engine/reconcile.py) and promote's plan (promote/manifest.py) alike."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping


def canonical(value: object) -> str:
    """Dataclasses by the fields they compare on (a declaration's place is kept out with
    compare=False), mappings sorted, paths and enums by value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [f for f in dataclasses.fields(value) if f.compare]
        inner = ", ".join(f"{f.name}={canonical(getattr(value, f.name))}" for f in fields)
        return f"{type(value).__name__}({inner})"
    if isinstance(value, Mapping):
        items = sorted((str(k), canonical(v)) for k, v in value.items())
        return "{" + ", ".join(f"{k!r}: {v}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(canonical(v) for v in value) + "]"
    if isinstance(value, enum.Enum):
        return repr(value.value)
    return repr(value)
