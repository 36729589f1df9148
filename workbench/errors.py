"""The workbench's one error hierarchy.

    WorkbenchError                 anything the workbench reports to a user
     ├── SpecError                 the YAML files have problems (CLI exit code 2)
     ├── StartupError              an engine, environment or instance could not start (exit 3)
     │    └── MissingExtra         a feature's optional extra is not installed
     ├── EngineError               talking to a running engine failed (exit 1)
     │    ├── NotSaved             a control action's state could not be written: nothing changed
     │    └── NotFound             no such endpoint, deployment or instance
     └── PromoteError              a remote host refused or failed a promote (exit 4)

A bug in the workbench itself is any other exception: it is never dressed up as one of these;
where the engine survives one, `bug_summary` says what and where.
The CLI is the only place that prints these errors and picks an exit code.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol


def bug_summary(exc: BaseException) -> str:
    """One line for an unexpected exception: its type, message and the file and line it came from."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


class Problem(Protocol):
    """What SpecError carries: `workbench.spec.problems.Problem` has this shape."""

    @property
    def is_error(self) -> bool: ...

    def format(self, relative_to: Path | None = None) -> str: ...


class WorkbenchError(Exception):
    """Base of every error the workbench reports to a user."""

    exit_code = 1


class SpecError(WorkbenchError):
    """The spec files have at least one error; carries every problem found, not just the first."""

    exit_code = 2

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        errors = sum(1 for p in self.problems if p.is_error)
        super().__init__(f"{errors} error(s) in the spec files")


class StartupError(WorkbenchError):
    """Something needed to serve could not be started."""

    exit_code = 3


class MissingExtra(StartupError):
    """A feature whose package is an optional extra that is not installed."""

    def __init__(self, extra: str, feature: str) -> None:
        self.extra = extra
        super().__init__(
            f"{feature} needs the workbench's `{extra}` extra: pip install 'endpoint-workbench[{extra}]' "
            "(or [all])"
        )


class EngineError(WorkbenchError):
    """A running engine could not be reached or refused a request."""


class PromoteError(WorkbenchError):
    """A remote host cannot take the project (preflight), or a step of a promote failed; the
    message says which step, why, and the fix."""

    exit_code = 4


class NotSaved(EngineError):
    """A control action whose new state could not be written (a full disk): nothing changed; the
    control API answers 507."""


class NotFound(EngineError):
    """An endpoint, deployment or instance that does not exist; the control API answers 404."""
