"""Problems found in spec files: where, which key, what is wrong, and what might fix it.

Readers never raise on a bad value: they add a `Problem` to a `Problems` collector and carry on,
so that one run reports everything. Callers decide at the end whether to fail.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Location:
    """A place in a file; line and column count from 1, as editors show them."""

    file: Path
    line: int = 1
    column: int = 1


@dataclass(frozen=True)
class Problem:
    location: Location
    key: str
    message: str
    severity: Severity = Severity.ERROR
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def format(self, relative_to: Path | None = None) -> str:
        """`file:line:col: key: message (hint)`, the shape compilers and editors understand."""
        file = _display_path(self.location.file, relative_to)
        text = self.message if self.is_error else f"warning: {self.message}"
        if self.hint:
            text = f"{text} ({self.hint})"
        key = f"{self.key}: " if self.key else ""
        return f"{file}:{self.location.line}:{self.location.column}: {key}{text}"

    def to_json(self, relative_to: Path | None = None) -> dict[str, object]:
        return {
            "file": _display_path(self.location.file, relative_to),
            "line": self.location.line,
            "column": self.location.column,
            "key": self.key,
            "severity": self.severity.value,
            "message": self.message,
            "hint": self.hint,
        }


class Problems:
    """An ordered collector of problems, each once: a file that several deployments share (a conda
    file, a model) is read for each, and its problem is still one problem."""

    def __init__(self) -> None:
        self._items: list[Problem] = []

    def error(self, where: Location, key: str, message: str, hint: str | None = None) -> None:
        self._add(Problem(where, key, message, Severity.ERROR, hint))

    def warning(self, where: Location, key: str, message: str, hint: str | None = None) -> None:
        self._add(Problem(where, key, message, Severity.WARNING, hint))

    def extend(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self._add(problem)

    def _add(self, problem: Problem) -> None:
        if problem not in self._items:
            self._items.append(problem)

    @property
    def has_errors(self) -> bool:
        return any(p.is_error for p in self._items)

    def sorted(self) -> list[Problem]:
        """Errors first, then warnings; within each, by file and position."""
        return sorted(
            self._items,
            key=lambda p: (
                not p.is_error,
                str(p.location.file),
                p.location.line,
                p.location.column,
            ),
        )

    def __iter__(self) -> Iterator[Problem]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def nearest(word: str, choices: Iterable[str]) -> str | None:
    """The closest valid spelling of `word`, if one is close enough to be a useful hint."""
    lowered = {c.lower(): c for c in choices}
    found = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[found[0]] if found else None


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    match = nearest(word, choices)
    return f"did you mean '{match}'?" if match else None


def _display_path(path: Path, relative_to: Path | None) -> str:
    base = relative_to or Path.cwd()
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)
