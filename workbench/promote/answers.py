"""The promote agent's answers, typed: one per verb of agent.py, each read once here from the
JSON the agent printed, so that a malformed answer is refused with the verb that gave it and
nothing downstream reads a dictionary by key.

Every answer carries the agent's protocol (agent.PROTOCOL). The agent is sent with each call
(`python3 -c <agent.py>`), so it is always this workbench's; an answer of another protocol comes
from something else on the host answering in its place, and is refused saying so. What older
agents wrote on the host (release records, manifests, the lock) is read with defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.errors import PromoteError
from workbench.promote import agent

Record = dict[str, Any]


def checked(host: str, verb: str, data: Any) -> dict[str, Any]:
    """The answer's fields, once its protocol is this workbench's."""
    if not isinstance(data, dict):
        raise PromoteError(f"{host}: the agent's answer to {verb} is not a JSON object: {str(data)[:200]}")
    protocol = data.get("protocol")
    if protocol != agent.PROTOCOL:
        raise PromoteError(
            f"{host}: {verb} was answered in protocol {protocol}, and this workbench's agent speaks "
            f"{agent.PROTOCOL}: something on the host answers in the agent's place (a python3 wrapper?)"
        )
    return data


def field_of(host: str, verb: str, data: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = data.get(name)
    if not isinstance(value, kind):
        raise PromoteError(f"{host}: the agent's answer to {verb} has no valid {name!r}: {str(data)[:200]}")
    return value


@dataclass(frozen=True)
class Preflight:
    python: str
    folder: str
    free_bytes: int
    problems: tuple[str, ...]


@dataclass(frozen=True)
class EngineOnHost:
    """The remote engine as its connection file says (None: not running), the release the
    project holds, and the workbench installed there."""

    engine: Record | None
    current: str | None
    project: str
    installed_wheel: str | None
    kept: bool
    """Under a keeper, which holds the scoring ports across the engine's restarts."""


@dataclass(frozen=True)
class Activated:
    release: str
    previous: str | None
    changed: int
    removed: int


@dataclass(frozen=True)
class Started:
    exit_code: int
    said: tuple[str, ...]
    boot: str


@dataclass(frozen=True)
class LockTaken:
    locked: bool
    held: Record | None


@dataclass(frozen=True)
class LockGiven:
    released: bool
    held: Record | None


@dataclass(frozen=True)
class History:
    records: dict[str, Record]
    kept: tuple[str, ...]
    current: str | None
