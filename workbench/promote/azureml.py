"""`workbench export azureml`: the project as `az ml` takes it to the cloud, in Azure's
safe-rollout order.

The endpoint and deployment files are written as they are (their keys, values and `azureml:`
references untouched), with `--set` values applied as `az ml ... --set` would, local paths made
relative to where the files are written, and the endpoint's `traffic` and `mirror_traffic` taken
out: Azure refuses traffic when it creates an endpoint, so they become the last command. Nothing
of `workbench.yaml` goes to the cloud. Beside the files, `deploy.sh` runs, in order: the local
assets that deployments refer to by name (`az ml model create`, `az ml environment create`), the
endpoint, each deployment without traffic, then the traffic and the mirror share.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from workbench.layout import mark_as_output
from workbench.spec import Project
from workbench.spec.deployment import DeploymentSpec
from workbench.spec.overrides import apply as apply_overrides
from workbench.spec.project import classify

PATH_KEYS = (
    ("code_configuration", "code"),
    ("model", "path"),
    ("environment", "conda_file"),
    ("environment", "build", "path"),
    ("path",),
    ("conda_file",),
    ("build", "path"),
)
"""Where the files of Azure's YAML name local paths (deployments, and model / environment assets)."""


@dataclass
class Export:
    folder: Path
    files: list[Path] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What behaves differently in the cloud, or must exist there first."""

    @property
    def script(self) -> Path:
        return self.folder / "deploy.sh"


def export_azureml(project: Project, folder: Path) -> Export:
    project.raise_for_errors()
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    mark_as_output(folder)
    result = Export(folder)
    for asset in _referenced_assets(project):
        written = _write(asset, project, result, folder / "assets" / asset.name, overrides=False)
        kind = "model" if _kind_of(asset) == "model" else "environment"
        result.commands.append(f"az ml {kind} create -f {_rel(written, folder)}")
    for endpoint in project.endpoints:
        target = folder / endpoint.name
        written = _write(
            endpoint.spec.file, project, result, target / endpoint.spec.file.name, overrides=False
        )
        result.commands.append(f"az ml online-endpoint create -f {_rel(written, folder)}")
        for deployment in endpoint.deployments:
            written = _write(deployment.file, project, result, target / deployment.file.name, overrides=True)
            result.commands.append(f"az ml online-deployment create -f {_rel(written, folder)}")
            result.notes += _cloud_notes(deployment)
        if endpoint.spec.traffic:
            shares = " ".join(f"{k}={v}" for k, v in endpoint.spec.traffic.items())
            result.commands.append(
                f"az ml online-endpoint update -n {endpoint.name} --traffic {shlex.quote(shares)}"
            )
        if endpoint.spec.mirror_traffic:
            shares = " ".join(f"{k}={v}" for k, v in endpoint.spec.mirror_traffic.items())
            result.commands.append(
                f"az ml online-endpoint update -n {endpoint.name} --mirror-traffic {shlex.quote(shares)}"
            )
    result.notes += [p.format(relative_to=project.root) for p in project.problems if not p.is_error]
    _write_script(result, project)
    return result


def _write(source: Path, project: Project, result: Export, target: Path, *, overrides: bool) -> Path:
    """`source` as Azure takes it, into `target`: paths relative to it, `--set` applied."""
    root = yaml.compose(source.read_text(encoding="utf-8"))
    assert isinstance(root, yaml.MappingNode)
    files = [p for p in project.named if p.is_file()]  # else a folder: --set goes to its deployments
    if project.overrides and (source.absolute() in files if files else overrides):
        apply_overrides(root, project.overrides)
    _drop(root, ("traffic",), ("mirror_traffic",))
    for keys in PATH_KEYS:
        node = _at(root, keys)
        if isinstance(node, yaml.ScalarNode) and node.value and not _remote(node.value):
            local = (source.parent / node.value).resolve()
            node.value = os.path.relpath(local, target.parent)
            node.style = None
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        f"# from {_shown(source, project)} by `workbench export azureml`\n" + yaml.serialize(root)
    )
    result.files.append(target)
    return target


def _shown(source: Path, project: Project) -> str:
    return str(source.relative_to(project.root)) if source.is_relative_to(project.root) else str(source)


def _at(root: yaml.MappingNode, keys: tuple[str, ...]) -> yaml.Node | None:
    node: yaml.Node | None = root
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
    return node


def _drop(root: yaml.MappingNode, *paths: tuple[str, ...]) -> None:
    for path in paths:
        parent = _at(root, path[:-1]) if len(path) > 1 else root
        if isinstance(parent, yaml.MappingNode):
            parent.value = [
                (k, v)
                for k, v in parent.value
                if not (isinstance(k, yaml.ScalarNode) and k.value == path[-1])
            ]


def _remote(value: str) -> bool:
    return value.startswith(("azureml:", "http://", "https://", "wasbs://", "abfss://", "git+"))


def _referenced_assets(project: Project) -> list[Path]:
    """The model and environment files of the folder that deployments name (`azureml:NAME:V`)."""
    wanted: dict[Path, None] = {}
    for endpoint in project.endpoints:
        for deployment in endpoint.deployments:
            for spec in (deployment.model, deployment.environment):
                declared = getattr(spec, "declared_at", None)
                file = getattr(declared, "file", None)
                if file is not None and file != deployment.file and Path(file).is_file():
                    wanted[Path(file)] = None
    return list(wanted)


def _kind_of(path: Path) -> str:
    root = yaml.compose(path.read_text(encoding="utf-8"))
    kind = classify(root) if root is not None else None
    return kind.value if kind else ""


def _cloud_notes(deployment: DeploymentSpec) -> list[str]:
    name = f"{deployment.endpoint_name}/{deployment.name}"
    notes = [
        f"{name}: create the secret behind {variable} ({reference}) and give the endpoint's identity access"
        for variable, reference in deployment.secret_references().items()
    ]
    image = deployment.environment.image if deployment.environment else None
    if image and "/" not in image.split(":")[0]:
        notes.append(
            f"{name}: image {image} names no registry; Azure pulls images from a registry it can reach"
        )
    return notes


def _write_script(result: Export, project: Project) -> None:
    lines = [
        "#!/usr/bin/env bash",
        f"# Generated by `workbench export azureml` from {project.root}.",
        "# Azure's safe-rollout order: the assets deployments name, the endpoint, each deployment",
        "# without traffic, then the traffic and the mirror share.",
        "set -euo pipefail",
        ': "${AZURE_RESOURCE_GROUP:?set AZURE_RESOURCE_GROUP}"',
        ': "${AZURE_ML_WORKSPACE:?set AZURE_ML_WORKSPACE}"',
        'cd "$(dirname "$0")"',
        'az configure --defaults group="$AZURE_RESOURCE_GROUP" workspace="$AZURE_ML_WORKSPACE"',
        *result.commands,
        "",
    ]
    result.script.write_text("\n".join(lines))
    result.script.chmod(0o755)


def _rel(path: Path, folder: Path) -> str:
    return shlex.quote(path.relative_to(folder).as_posix())
