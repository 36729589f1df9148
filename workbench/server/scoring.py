"""What serves, and the one way to load it, for boot and reload alike: the script imported, its
init() run (or, on a reload that the rule allows, what the old init() built kept: initstate.py),
its swagger documents built. A failure says at which step it happened, so that boot can report
it as azmlinfsrv does and a reload can leave the old code serving."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from workbench.server.initstate import fingerprint
from workbench.server.script import ScriptError, UserCodeFailed, UserScript
from workbench.server.settings import Settings
from workbench.server.swagger import Swagger, swagger_for


@dataclass
class Scoring:
    """What serves right now: swapped as a whole by a reload, never changed in place."""

    script: UserScript
    swagger: Swagger


class InitFailed(UserCodeFailed):
    """The script imported, and its init() raised (the user's exception is the cause)."""


@dataclass
class Loaded:
    scoring: Scoring
    load_ms: float
    init_ms: float
    kept_globals: list[str] | None = field(default=None)
    """The globals carried over from the old init(); None when init() ran."""


def load_scoring(settings: Settings, current: UserScript | None = None) -> Loaded:
    """The script at `settings.entry_script`, ready to serve; `current` is the code serving now
    (on a reload), whose init() may be reused. Raises ScriptError or UserCodeFailed (InitFailed
    when init() raised)."""
    start = time.perf_counter()
    script = UserScript.load(settings.entry_script)
    loaded = time.perf_counter()
    kept = _kept_init(settings, script, current)
    if kept is None:
        try:
            script.init()
        except UserCodeFailed as exc:
            raise InitFailed(str(exc)) from exc.__cause__
    initialised = time.perf_counter()
    return Loaded(
        Scoring(script, swagger_for(settings, script.user_run)),
        load_ms=round((loaded - start) * 1000, 3),
        init_ms=round((initialised - loaded) * 1000, 3),
        kept_globals=kept,
    )


def _kept_init(settings: Settings, script: UserScript, current: UserScript | None) -> list[str] | None:
    """The globals carried over when the rule allows keeping what init() built; None when init()
    has to run."""
    if not settings.reuse_init or current is None or current.init_state is None:
        return None
    if not current.init_state.allows_reuse_by(fingerprint(script.path, settings.model_dir)):
        return None
    return script.keep_init_of(current)


__all__ = ["InitFailed", "Loaded", "Scoring", "ScriptError", "UserCodeFailed", "load_scoring"]
