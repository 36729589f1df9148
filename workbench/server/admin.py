"""The server's answers to the engine's admin requests, typed on both sides: the server writes
them, the engine reads them (`read_reload`), and what crosses between them is the JSON of
`to_json`. Stdlib only: the server runs in the user's environment with nothing of the
workbench but its own package, and the engine imports this module from the same wheel.

`POST /-/reload` answers one of:
- `Reloaded` (200): the new code serves; init() ran, or was kept with the globals it built;
- `ReloadFailed` (422): the previous code keeps serving; the user's file and line;
- `ReloadSignalled` (202): several workers, each told to reload (their outcomes are in the log).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Union


@dataclass(frozen=True)
class ReloadFailure:
    """Where the user's code failed to load: exception type, message, file and line."""

    error: str
    message: str
    file: str
    line: int
    traceback: str = ""


@dataclass(frozen=True)
class Reloaded:
    cause: str
    load_ms: float
    init_ms: float
    init: str
    """"ran", or "kept": neither init() nor the model changed, the old init()'s globals serve."""
    kept_globals: tuple[str, ...]
    total_ms: float


@dataclass(frozen=True)
class ReloadFailed:
    cause: str
    failure: ReloadFailure


@dataclass(frozen=True)
class ReloadSignalled:
    workers: int


ReloadAnswer = Union[Reloaded, ReloadFailed, ReloadSignalled]  # noqa: UP007 (evaluated: an older Python runs it)
HTTP_STATUS = {Reloaded: 200, ReloadFailed: 422, ReloadSignalled: 202}


def to_json(answer: ReloadAnswer) -> dict[str, Any]:
    if isinstance(answer, Reloaded):
        return {"status": "reloaded", **asdict(answer), "kept_globals": list(answer.kept_globals)}
    if isinstance(answer, ReloadFailed):
        return {"status": "failed", "cause": answer.cause, **asdict(answer.failure)}
    return {"status": "reloading", "workers": answer.workers}


def read_reload(data: object) -> ReloadAnswer:
    """The answer in `data` (a JSON document); ValueError for anything that is not one."""
    if not isinstance(data, dict):
        raise ValueError(f"not a reload answer: {data!r}")
    try:
        status = data["status"]
        if status == "reloaded":
            return Reloaded(
                str(data["cause"]),
                float(data["load_ms"]),
                float(data["init_ms"]),
                str(data["init"]),
                tuple(str(name) for name in data.get("kept_globals", ())),
                float(data["total_ms"]),
            )
        if status == "failed":
            failure = ReloadFailure(
                str(data.get("error", "Error")),
                str(data.get("message", "")),
                str(data.get("file", "")),
                int(data.get("line") or 0),
                str(data.get("traceback", "")),
            )
            return ReloadFailed(str(data.get("cause", "")), failure)
        if status == "reloading":
            return ReloadSignalled(int(data["workers"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"a reload answer with {exc!s} wrong: {data!r}") from exc
    raise ValueError(f"a reload answer of an unknown status {status!r}")
