"""What a promote sends, and what it changes: the project's files by content, each deployment's
inputs by content, and the plan that compares them with what the remote holds.

The files are what Azure would upload from the project folder (`.amlignore` / `.gitignore`
honoured, `.workbench/` never: `spec/upload.py`; nor the project's `.vscode/`, where `workbench
debug` writes its attach configurations), hashed once per change: the digests are kept
in `.workbench/promote-digests.json` (layout.py) by path, size and modification time, so a promote after a
one-line edit reads only the edited file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import PromoteError
from workbench.layout import ProjectFiles
from workbench.spec import Project
from workbench.spec.canonical import canonical
from workbench.spec.deployment import DeploymentSpec
from workbench.spec.skus import find_sku
from workbench.spec.upload import select


@dataclass(frozen=True)
class FileEntry:
    digest: str
    size: int
    executable: bool

    def to_json(self) -> list[Any]:
        return [self.digest, self.size, self.executable]


@dataclass
class Manifest:
    """A release: the project's files and each deployment's inputs, by content."""

    id: str
    files: dict[str, FileEntry]
    deployments: dict[str, str]
    """"endpoint/deployment" -> the digest of everything that defines it"""
    wheel: str = ""
    sources: dict[str, Path] = field(default_factory=dict, repr=False)
    """relative path -> the file here (not sent)"""
    notes: tuple[str, ...] = field(default=(), repr=False)
    """What the selection of files says (a link followed out of the project): promote says it."""
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """"endpoint/deployment" -> digests of what starts new instances ("spec"), of its code and of
    its model, and its instance count: what a change of it will do (Plan.kind)."""

    @property
    def size(self) -> int:
        return sum(e.size for e in self.files.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "files": {p: e.to_json() for p, e in self.files.items()},
            "deployments": self.deployments,
            "parts": self.parts,
            "wheel": self.wheel,
        }


@dataclass(frozen=True)
class Plan:
    """What a promote will do, as `--dry-run` prints it."""

    send: list[str]
    send_bytes: int
    remove: list[str]
    create: list[str]
    update: list[str]
    delete: list[str]
    unchanged: list[str]
    kinds: dict[str, str] = field(default_factory=dict)
    """An updated deployment -> what its update does: "replace" (new instances, ready before the
    old ones stop), "reload in place" (code or model), "scale"; absent: not known (a release
    recorded by an older workbench)."""

    def lines(self) -> list[str]:
        said = [
            f"files: {len(self.send)} changed since the release there ({self.send_bytes / 1e6:.1f} MB), "
            f"{len(self.remove)} to remove",
            *(f"  send   {p}" for p in self.send[:20]),
            *([f"  ... and {len(self.send) - 20} more"] if len(self.send) > 20 else []),
            *(f"  remove {p}" for p in self.remove[:20]),
        ]
        for verb, names in (
            ("create", self.create),
            ("update", self.update),
            ("remove", self.delete),
            ("keep", self.unchanged),
        ):
            said += [
                f"deployment {name}: {verb}{_kind(self.kinds.get(name)) if verb == 'update' else ''}"
                for name in names
            ]
        return said


def _kind(kind: str | None) -> str:
    return {
        "replace": " (replace: new instances start, the old ones stop once they are ready)",
        "reload": " (reload in place: code or model changed, the instances keep serving)",
        "scale": " (scale: only the instance count changed)",
    }.get(kind or "", "")


def build_manifest(project: Project, wheel: str) -> Manifest:
    root = project.root
    selection = select(root, root)
    inputs = [path.resolve() for d in _deployments(project) for path in _inputs(d)]
    sources = {
        str(relative): real
        for relative, real in selection.files
        if not _editor_only(root.resolve() / relative, root.resolve(), inputs)
    }
    for deployment in _deployments(project):
        for path in _inputs(deployment):
            if not path.resolve().is_relative_to(root.resolve()):
                raise PromoteError(
                    f"{deployment.endpoint_name}/{deployment.name} uses {path}, outside the project "
                    f"folder {root}: a promote sends the project folder; move it inside"
                )
    files = _digests(root, sources)
    deployments = {
        f"{d.endpoint_name}/{d.name}": _deployment_digest(root, d, files) for d in _deployments(project)
    }
    parts = {f"{d.endpoint_name}/{d.name}": _parts(root, d, files, project) for d in _deployments(project)}
    now = time.time()
    release = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + f"-{int(now * 1000) % 1000:03d}"
    return Manifest(release, files, deployments, wheel, sources, tuple(selection.notes), parts)


def plan(local: Manifest, remote: Mapping[str, Any] | None) -> Plan:
    """What sending `local` changes on a remote holding `remote` (a manifest's JSON, or None)."""
    held_files: Mapping[str, list[Any]] = remote["files"] if remote else {}
    held_deployments: Mapping[str, str] = remote["deployments"] if remote else {}
    send = sorted(p for p, e in local.files.items() if held_files.get(p, [None])[0] != e.digest)
    held_parts: Mapping[str, Mapping[str, Any]] = remote.get("parts", {}) if remote else {}
    updated = sorted(
        n for n, d in local.deployments.items() if n in held_deployments and held_deployments[n] != d
    )
    kinds = {n: kind for n in updated if (kind := _change(held_parts.get(n), local.parts.get(n))) is not None}
    return Plan(
        send=send,
        send_bytes=sum(local.files[p].size for p in send),
        remove=sorted(set(held_files) - set(local.files)),
        create=sorted(set(local.deployments) - set(held_deployments)),
        update=updated,
        delete=sorted(set(held_deployments) - set(local.deployments)),
        unchanged=sorted(n for n, d in local.deployments.items() if held_deployments.get(n) == d),
        kinds=kinds,
    )


def _change(held: Mapping[str, Any] | None, local: Mapping[str, Any] | None) -> str | None:
    """What an update does, from what changed: the instances' definition, their files, or only
    how many there are."""
    if not held or not local:
        return None
    if held.get("spec") != local.get("spec"):
        return "replace"
    if held.get("code") != local.get("code") or held.get("model") != local.get("model"):
        return "reload"
    if held.get("count") != local.get("count"):
        return "scale"
    return None


def _parts(
    root: Path, deployment: DeploymentSpec, files: Mapping[str, FileEntry], project: Project
) -> dict[str, Any]:
    """Digests of what makes new instances (the spec but its count, code and model, its
    environment's files and its local settings), of its code and of its model; its count."""
    code = deployment.code_configuration.code if deployment.code_configuration else None
    model = deployment.model.path if deployment.model else None
    spec = dataclasses.replace(
        deployment, instance_count=0, code_configuration=None, model=None, model_ref=None, file=Path()
    )
    settings = project.settings.deployment(deployment.endpoint_name, deployment.name)
    defining = [canonical(spec), canonical(settings)]
    environment = deployment.environment
    for path in (
        environment.conda_file.path if environment and environment.conda_file else None,
        environment.build.path if environment and environment.build else None,
    ):
        if path is not None:
            defining.append(_files_digest(root, [path], files))
    if deployment.code_configuration is not None:
        defining.append(deployment.code_configuration.scoring_script)
    return {
        "spec": hashlib.sha256("\n".join(defining).encode()).hexdigest()[:16],
        "code": _files_digest(root, [code], files) if code else "",
        "model": _files_digest(root, [model], files) if model else "",
        "count": deployment.instance_count,
    }


def _files_digest(root: Path, paths: list[Path], files: Mapping[str, FileEntry]) -> str:
    hasher = hashlib.sha256()
    for path in paths:
        prefix = path.resolve().relative_to(root.resolve()).as_posix()
        for relative in sorted(files):
            if prefix in (".", "") or relative == prefix or relative.startswith(prefix + "/"):
                hasher.update(f"{relative}\0{files[relative].digest}\n".encode())
    return hasher.hexdigest()


def needs_gpus(project: Project) -> bool:
    for deployment in _deployments(project):
        sku = find_sku(deployment.instance_type) if deployment.instance_type else None
        if sku is not None and sku.gpus:
            return True
    return False


EDITOR_FOLDER = ".vscode"
"""The project's editor settings, with the attach configurations that `workbench debug` writes
there: of no use to a remote engine, and new at every debug session."""


def _editor_only(path: Path, root: Path, inputs: list[Path]) -> bool:
    """A file of the project's own `.vscode/` that no deployment reads (one inside a code folder
    is Azure's to upload, and is sent)."""
    if not path.is_relative_to(root / EDITOR_FOLDER):
        return False
    return not any(path == i or path.is_relative_to(i) for i in inputs)


def _deployments(project: Project) -> list[DeploymentSpec]:
    return [d for e in project.endpoints for d in e.deployments]


def _inputs(deployment: DeploymentSpec) -> list[Path]:
    """The files and folders that define a deployment, beside its YAML file."""
    paths = [deployment.file]
    if deployment.code_configuration is not None:
        paths.append(deployment.code_configuration.code)
    if deployment.model is not None:
        paths.append(deployment.model.path)
    environment = deployment.environment
    if environment is not None and environment.conda_file is not None:
        paths.append(environment.conda_file.path)
    if environment is not None and environment.build is not None:
        paths.append(environment.build.path)
    return paths


def _deployment_digest(root: Path, deployment: DeploymentSpec, files: Mapping[str, FileEntry]) -> str:
    return _files_digest(root, _inputs(deployment), files)


def _digests(root: Path, sources: Mapping[str, Path]) -> dict[str, FileEntry]:
    """Each file's sha256, from the kept digests where its size and time are unchanged."""
    kept_path = ProjectFiles(root).promote_digests
    try:
        kept: dict[str, list[Any]] = json.loads(kept_path.read_text())
    except (OSError, ValueError):
        kept = {}
    stats = {relative: real.stat() for relative, real in sources.items()}

    def entry(relative: str) -> FileEntry:
        status = stats[relative]
        executable = bool(status.st_mode & stat.S_IXUSR)
        old = kept.get(relative)
        if old is not None and old[1] == status.st_size and old[2] == status.st_mtime_ns:
            return FileEntry(old[0], status.st_size, executable)
        return FileEntry(_sha256(sources[relative]), status.st_size, executable)

    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
        entries = dict(zip(sources, pool.map(entry, sources), strict=True))
    fresh = {r: [e.digest, e.size, stats[r].st_mtime_ns] for r, e in entries.items()}
    if fresh != kept:
        kept_path.parent.mkdir(mode=0o700, exist_ok=True)
        temporary = kept_path.with_suffix(".part")
        temporary.write_text(json.dumps(fresh))
        temporary.replace(kept_path)
    return entries


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as source:
        for piece in iter(lambda: source.read(1 << 20), b""):
            hasher.update(piece)
    return hasher.hexdigest()
