"""A local workspace: what `azlocal` creates by command, kept as a project folder that the engine
runs as it runs any other (`workbench up`'s folders and workspaces are the same engine applying
specs; neither knows the other).

$XDG_DATA_HOME/endpoint-workbench/workspaces/<name>/    mode 0700
  workspace.json                        the workspace: resource group, location, when each
                                        resource was made and from which file, autoscale settings
  endpoint.<endpoint>.yml               staged (staging.py): --set applied, paths absolute
  deployment.<endpoint>.<deployment>.yml
  model.<name>.<version>.yml            registered assets, resolved by azureml:name:version
  environment.<name>.<version>.yml
  workbench.yaml                        the autoscale settings of its deployments (autoscale.py)
  .workbench/                           the engine's own files, as in every project

A change (`Workspace.changing`) is checked whole before anything is written: the files as they
would be are read as a project, in a scratch copy, and a change that would leave the workspace
with an error is refused, with each problem told at the line of the user's file.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from workbench.atomic import write_whole
from workbench.errors import SpecError, WorkbenchError
from workbench.spec import load_project
from workbench.spec.local import FILE_NAMES
from workbench.spec.problems import Problem
from workbench.spec.project import SPEC_SUFFIXES, WORKSPACE_MARK, Project
from workbench.workspace.autoscale import in_force
from workbench.workspace.staging import Staged

DEFAULT_NAME = "local"
DEFAULT_GROUP = "local"
DEFAULT_LOCATION = "local"
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$")
"""Azure's rule for a workspace's name."""


def workspaces_folder() -> Path:
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "endpoint-workbench" / "workspaces"


class Workspace:
    def __init__(self, name: str) -> None:
        if not _NAME.match(name):
            raise WorkbenchError(
                f"workspace name '{name}' must be 3 to 33 letters, digits, '-' or '_', starting with a "
                "letter or digit"
            )
        self.name = name
        self.root = workspaces_folder() / name

    @property
    def exists(self) -> bool:
        return (self.root / WORKSPACE_MARK).is_file()

    def create(self, resource_group: str | None = None, location: str | None = None) -> None:
        """Make the workspace if it is not there yet (a first command makes it, as none is
        provisioned here)."""
        if self.exists:
            return
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_whole(
            self.root / WORKSPACE_MARK,
            json.dumps(
                {
                    "name": self.name,
                    "resource_group": resource_group or DEFAULT_GROUP,
                    "location": location or DEFAULT_LOCATION,
                    "created_at": _now(),
                    "resources": {},
                    "autoscale": {},
                },
                indent=2,
            ),
        )

    def info(self) -> dict[str, Any]:
        try:
            data = json.loads((self.root / WORKSPACE_MARK).read_text())
        except FileNotFoundError as exc:
            raise WorkbenchError(f"no workspace named '{self.name}' (at {self.root})") from exc
        except (OSError, ValueError) as exc:
            raise WorkbenchError(f"{self.root / WORKSPACE_MARK} cannot be read: {exc}") from exc
        if not isinstance(data, dict):
            raise WorkbenchError(f"{self.root / WORKSPACE_MARK} is not a JSON object")
        return data

    # where things are

    def endpoint_file(self, endpoint: str) -> Path:
        return self.root / f"endpoint.{endpoint}.yml"

    def deployment_file(self, endpoint: str, deployment: str) -> Path:
        return self.root / f"deployment.{endpoint}.{deployment}.yml"

    def asset_file(self, kind: str, name: str, version: str) -> Path:
        return self.root / f"{kind}.{name}.{version}.yml"

    @property
    def settings_file(self) -> Path:
        return self.root / FILE_NAMES[0]

    # what is there

    def endpoints(self) -> list[str]:
        return sorted(p.name[len("endpoint.") : -len(".yml")] for p in self.root.glob("endpoint.*.yml"))

    def deployments(self, endpoint: str) -> list[str]:
        prefix = f"deployment.{endpoint}."
        return sorted(p.name[len(prefix) : -len(".yml")] for p in self.root.glob(f"{prefix}*.yml"))

    def read(self, path: Path) -> dict[str, Any]:
        """A staged file as data."""
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise WorkbenchError(f"{path} cannot be read: {exc}") from exc
        return data if isinstance(data, dict) else {}

    def project(self) -> Project:
        return load_project(self.root)

    @contextlib.contextmanager
    def changing(self) -> Iterator[Change]:
        """A change of the workspace's files, made whole when the block ends, or not at all when
        the files as they would be have errors (SpecError). One change at a time: scripts run
        commands with --no-wait one after another."""
        self.create()
        with open(self.root / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            change = Change(self, self.info())
            yield change
            change.commit()


@dataclass
class Change:
    workspace: Workspace
    info: dict[str, Any]
    """workspace.json as it will be written."""
    writes: dict[Path, Staged | str] = field(default_factory=dict)
    removals: set[Path] = field(default_factory=set)
    settings: str = ""
    """workbench.yaml as it will be: the autoscale settings of the deployments there will be."""
    warnings: list[Problem] = field(default_factory=list)
    """What the check found short of an error, in the files this change writes."""

    def write(self, path: Path, staged: Staged | str, *, resource: str | None = None) -> None:
        """Write a staged file; `resource` records when it was made and from which file."""
        self.writes[path] = staged
        self.removals.discard(path)
        if resource is not None:
            resources = self.info.setdefault("resources", {})
            entry = resources.get(resource) or {"created_at": _now()}
            entry["modified_at"] = _now()
            if (
                isinstance(staged, Staged)
                and staged.origin is not None
                and staged.origin.parent != self.workspace.root
            ):
                entry["origin"] = str(staged.origin)
            resources[resource] = entry

    def remove(self, path: Path, *, resource: str | None = None) -> None:
        self.removals.add(path)
        self.writes.pop(path, None)
        if resource is not None:
            self.info.get("resources", {}).pop(resource, None)

    def names(self, kind: str) -> set[str]:
        """The names after `kind.` of the files there will be: "my-endpoint", "my-endpoint.blue"."""
        root, prefix = self.workspace.root, f"{kind}."
        names = {p.name for p in root.glob(f"{prefix}*.yml")} - {p.name for p in self.removals}
        names |= {p.name for p in self.writes if p.parent == root and p.name.startswith(prefix)}
        return {name[len(prefix) : -len(".yml")] for name in names}

    def commit(self) -> None:
        self.settings = self._settings_yaml()
        self._check()
        root = self.workspace.root
        for path, staged in self.writes.items():
            path.parent.mkdir(mode=0o700, exist_ok=True)
            write_whole(path, _text(staged))
        for path in self.removals:
            path.unlink(missing_ok=True)
        write_whole(self.workspace.settings_file, self.settings)
        write_whole(root / WORKSPACE_MARK, json.dumps(self.info, indent=2))

    def _settings_yaml(self) -> str:
        """workbench.yaml as the workspace's records say: no auth for the endpoints made with
        --local, and the autoscale settings in force."""
        endpoints = self.names("endpoint")
        deployments = {(e, d) for e, _, d in (n.partition(".") for n in self.names("deployment"))}
        local = [e for e in self.info.get("local_endpoints", []) if e in endpoints]
        self.info["local_endpoints"] = local
        settings: dict[str, Any] = {e: {"auth": "none"} for e in local}
        for (endpoint, deployment), autoscale in in_force(
            self.info.get("autoscale", {}), deployments
        ).items():
            settings.setdefault(endpoint, {}).setdefault("deployments", {})[deployment] = {
                "autoscale": autoscale
            }
        header = (
            "# written by azlocal from the workspace's records (--local endpoints, az monitor autoscale)\n"
        )
        return header + (yaml.safe_dump({"endpoints": settings}, sort_keys=True) if settings else "{}\n")

    def _check(self) -> None:
        """Read the workspace as it would be, in a scratch copy of its spec files (their paths
        are absolute, so a copy reads as the original would)."""
        root = self.workspace.root
        with tempfile.TemporaryDirectory(prefix="workspace-check-") as scratch:
            copy = Path(scratch)
            names = [p for p in root.iterdir() if p.is_file() and p.suffix in SPEC_SUFFIXES]
            for path in names:
                if path not in self.removals:
                    shutil.copyfile(path, copy / path.name)
            for path, staged in self.writes.items():
                if path.parent == root:
                    (copy / path.name).write_text(_text(staged))
            (copy / self.workspace.settings_file.name).write_text(self.settings)
            (copy / WORKSPACE_MARK).write_text("{}")
            project = load_project(copy)
        mine = {copy / p.name: staged for p, staged in self.writes.items()}
        mine[copy / self.workspace.settings_file.name] = self.settings
        told = [_told(p, mine, copy, root) for p in project.problems]
        errors = [p for p in told if p.is_error]
        if errors:
            raise SpecError(tuple(errors))
        self.warnings = [
            p for p, raw in zip(told, project.problems, strict=True) if raw.location.file in mine
        ]


def _told(problem: Problem, mine: dict[Path, Staged | str], copy: Path, root: Path) -> Problem:
    """A problem of the scratch copy, told where the user can find it: in the file it was staged
    from, else in the workspace's own file."""
    staged = mine.get(problem.location.file)
    if isinstance(staged, Staged) and staged.origin is not None:
        return staged.origin_of(problem)
    if problem.location.file.parent == copy:
        where = type(problem.location)(
            root / problem.location.file.name, problem.location.line, problem.location.column
        )
        return Problem(where, problem.key, problem.message, problem.severity, problem.hint)
    return problem


def _text(staged: Staged | str) -> str:
    return staged if isinstance(staged, str) else staged.text


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()
