"""Registered models and environments of a workspace, by name and version, as `az ml model create`
and `az ml environment create` register them. Each version is a staged file beside the
endpoints', so `azureml:name:version` and `azureml:name@latest` resolve in the deployments'
YAML as they do in a project folder. An archived version says `stage: Archived` in its file: out
of lists and of `@latest`, still usable by its version, as in Azure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import NotFound, WorkbenchError
from workbench.spec.assets import ARCHIVED
from workbench.workspace.folder import Change, Workspace
from workbench.workspace.staging import stage

KINDS = ("model", "environment")


@dataclass(frozen=True)
class Asset:
    kind: str
    name: str
    version: str
    file: Path
    archived: bool

    @property
    def resource(self) -> str:
        return f"{self.kind}s/{self.name}/versions/{self.version}"


def assets(workspace: Workspace, kind: str, *, archived: bool = False) -> list[Asset]:
    """Every version of every `kind` asset (`archived`: those archived too), by name and then
    version (numbers as numbers)."""
    found = [_asset(workspace, kind, path) for path in workspace.root.glob(f"{kind}.*.yml")]
    return sorted((a for a in found if archived or not a.archived), key=lambda a: (a.name, _order(a.version)))


def find(workspace: Workspace, kind: str, name: str, version: str | None) -> Asset:
    """A version of an asset, or its latest when `version` is None; NotFound as Azure says it."""
    versions = [a for a in assets(workspace, kind, archived=version is not None) if a.name == name]
    if version is not None:
        versions = [a for a in versions if a.version == version]
    if not versions:
        what = f"{name}:{version}" if version is not None else f"{name}@latest"
        raise NotFound(f"Resource {what} of type {kind} not found in workspace {workspace.name}")
    return versions[-1]


def next_version(workspace: Workspace, kind: str, name: str) -> str:
    """What Azure gives an asset registered with no version: one more than its highest number."""
    numbers = [
        int(a.version)
        for a in assets(workspace, kind, archived=True)
        if a.name == name and a.version.isdigit()
    ]
    return str(max(numbers, default=0) + 1)


def archive(change: Change, asset: Asset) -> None:
    if not asset.archived:
        change.write(
            asset.file, stage(asset.kind, asset.file, fields={"stage": ARCHIVED}), resource=asset.resource
        )


def staged_name_and_version(data: dict[str, Any], kind: str) -> tuple[str, str | None]:
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise WorkbenchError(f"a {kind} needs a name: --name, or name: in its file")
    version = data.get("version")
    return name, None if version is None else str(version)


def _asset(workspace: Workspace, kind: str, path: Path) -> Asset:
    name, _, version = path.name[len(kind) + 1 : -len(".yml")].rpartition(".")
    return Asset(kind, name, version, path, workspace.read(path).get("stage") == ARCHIVED)


def _order(version: str) -> tuple[int, int, str]:
    return (0, int(version), "") if version.isdigit() else (1, 0, version)
