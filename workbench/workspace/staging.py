"""A spec file as a workspace keeps it: what `az ml ... create -f FILE --set ...` sends to Azure.

Azure reads the file once, at create time, applies `--set` and the names given on the command
line, and uploads the code and model it names; later edits of the file change nothing until the
next `update -f`. A staged file is that: the YAML with its overrides applied and every local path
made absolute (the code and model stay where they are, and a change of them reloads the
deployment, as `workbench up` does: written in docs/differences.md). A problem found in a staged
file is told at the line of the file it came from (`origin_of`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from workbench.errors import SpecError
from workbench.spec.overrides import Override, apply
from workbench.spec.problems import Location, Problem, Problems
from workbench.spec.source import read_yaml

ENDPOINT_SCHEMA = "https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json"
LOCAL_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    "endpoint": (),
    "deployment": (
        ("code_configuration", "code"),
        ("model", "path"),
        ("environment", "conda_file"),
        ("environment", "build", "path"),
    ),
    "model": (("path",),),
    "environment": (("conda_file",), ("build", "path")),
}
"""Where each kind of file names a local file or folder, relative to the file."""
_NOT_LOCAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
"""azureml:name:1, azureml://..., https://...: names of things elsewhere, staged as they are."""


@dataclass(frozen=True)
class Staged:
    text: str
    """The YAML as the workspace keeps it."""
    origin: Path | None
    """The file it was made from (None: made from the command line alone)."""
    original: yaml.Node | None
    """The origin's nodes as read, for the lines of its problems."""

    def origin_of(self, problem: Problem) -> Problem:
        """`problem`, found in the staged file, told at the place in the file it came from."""
        if self.origin is None:
            return problem
        line, column = _position(self.original, problem.key)
        where = Location(self.origin, line, column)
        return Problem(where, problem.key, problem.message, problem.severity, problem.hint)


def stage(
    kind: str,
    origin: Path | None,
    overrides: Sequence[Override] = (),
    *,
    fields: dict[str, object] | None = None,
) -> Staged:
    """The staged text of `origin` (None: a file of `fields` alone, as `create -n NAME` makes)
    with `overrides` (`--set`) and then `fields` (the command line's names) applied."""
    problems = Problems()
    root: yaml.Node | None
    if origin is None:
        root = yaml.compose(yaml.safe_dump(fields or {}, sort_keys=False))
        original = None
    else:
        found = read_yaml(origin, problems)
        if not isinstance(found, yaml.MappingNode):
            if not problems.has_errors:
                article = "an" if kind[0] in "aeiou" else "a"
                problems.error(
                    Location(origin), "", f"{article} {kind} file is a YAML mapping of keys to values"
                )
            raise SpecError(tuple(problems))
        root, original = found, read_yaml(origin, Problems())
        apply(root, overrides)
        apply(root, [Override((key,), _scalar(value)) for key, value in (fields or {}).items()])
        _make_paths_absolute(root, LOCAL_PATHS[kind], origin.parent)
    return Staged(yaml.serialize(root), origin, original)


def peek(file: Path) -> dict[str, Any]:
    """A user's file as plain data, for a look at its name; {} when it cannot be read (staging
    says why, at its line)."""
    try:
        data = yaml.safe_load(file.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _scalar(value: object) -> str:
    return value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True).strip()


def _make_paths_absolute(root: yaml.MappingNode, paths: tuple[tuple[str, ...], ...], folder: Path) -> None:
    for path in paths:
        node = _child(root, path)
        local = isinstance(node, yaml.ScalarNode) and node.value and not _NOT_LOCAL.match(node.value)
        if local and isinstance(node, yaml.ScalarNode) and not os.path.isabs(node.value):
            node.value = os.path.normpath(folder.absolute() / node.value)


def _child(node: yaml.Node | None, path: Sequence[str]) -> yaml.Node | None:
    for key in path:
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
    return node


def _position(root: yaml.Node | None, key: str) -> tuple[int, int]:
    """The line and column of the deepest part of the dotted `key` that the file has."""
    found = root
    parts = [part for part in re.split(r"\.|\[\d+\]", key) if part]
    for depth in range(len(parts), -1, -1):
        node = _child(root, parts[:depth]) if root is not None else None
        if node is not None:
            found = node
            break
    if found is None:
        return 1, 1
    return found.start_mark.line + 1, found.start_mark.column + 1
