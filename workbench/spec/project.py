"""A project: the endpoints of a folder with their deployments, assets and local settings.

`load_project` finds the spec files (by `$schema`, else by their keys), reads each one, resolves
`azureml:` references against the model and environment files beside them, checks what spans
files (traffic naming deployments, deployments naming endpoints), and returns everything with
every problem found. It never raises for a problem in the files.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import yaml

from workbench.errors import SpecError
from workbench.layout import ProjectFiles
from workbench.spec.assets import (
    ENVIRONMENT_KEYS,
    MODEL_KEYS,
    AssetRef,
    EnvironmentSpec,
    ModelSpec,
    read_environment,
    read_model,
)
from workbench.spec.deployment import CODE_HINT, DEPLOYMENT_KEYS, DeploymentSpec, needs_code, read_deployment
from workbench.spec.endpoint import ENDPOINT_KEYS, EndpointSpec, read_endpoint
from workbench.spec.local import FILE_NAMES, LocalSettings, read_local_settings
from workbench.spec.overrides import Override
from workbench.spec.overrides import apply as apply_overrides
from workbench.spec.problems import Location, Problem, Problems, did_you_mean
from workbench.spec.reader import Reader
from workbench.spec.source import read_yaml

MAX_DEPLOYMENTS_PER_ENDPOINT = 20
WORKSPACE_MARK = "workspace.json"
"""In a folder that a local workspace keeps (`azlocal`, workbench/workspace/): a folder that may
hold no endpoint yet, as a new workspace holds none."""
T = TypeVar("T", ModelSpec, EnvironmentSpec)


class FileKind(enum.Enum):
    ENDPOINT = "endpoint"
    KUBERNETES_ENDPOINT = "kubernetes endpoint"
    DEPLOYMENT = "deployment"
    KUBERNETES_DEPLOYMENT = "kubernetes deployment"
    MODEL = "model"
    ENVIRONMENT = "environment"


@dataclass(frozen=True)
class Endpoint:
    spec: EndpointSpec
    deployments: tuple[DeploymentSpec, ...]

    @property
    def name(self) -> str:
        return self.spec.name

    def deployment(self, name: str) -> DeploymentSpec | None:
        return next((d for d in self.deployments if d.name == name), None)


@dataclass(frozen=True)
class Project:
    root: Path
    endpoints: tuple[Endpoint, ...]
    settings: LocalSettings
    problems: tuple[Problem, ...]
    files: tuple[Path, ...]
    named: tuple[Path, ...] = ()
    """What it was loaded from: a folder, or the files named (to load it again the same way)."""
    overrides: tuple[Override, ...] = ()
    """The `--set` values it was loaded with."""

    @property
    def ok(self) -> bool:
        return not any(p.is_error for p in self.problems)

    def endpoint(self, name: str) -> Endpoint | None:
        return next((e for e in self.endpoints if e.name == name), None)

    def raise_for_errors(self) -> Project:
        if not self.ok:
            raise SpecError(self.problems)
        return self


def load_project(paths: Path | Sequence[Path], overrides: Sequence[Override] = ()) -> Project:
    """Load a folder, or explicit files. Named files are the project: the other spec files of
    their folder give only what they refer to (their endpoint, models, environments), with their
    own problems unreported, and none of their deployments is loaded. `overrides` (`--set`) go
    into the named files, or into the folder's deployment files."""
    targets = [p.absolute() for p in ([paths] if isinstance(paths, Path) else paths)]
    problems = Problems()
    root, files, explicit = _discover(targets, problems)
    context = _context_files(explicit, files)
    loaded = _Loaded()
    for file in files:
        _load_file(file, file in explicit, loaded, problems, overrides=overrides, named=bool(explicit))
    for override in overrides:
        if override not in loaded.applied:
            problems.error(
                Location(targets[0]),
                "--set",
                f"{override.path[0]} is a key of no file it was given to ({override})",
                "--set applies to the files whose kind has the key: an endpoint's or a deployment's",
            )
    quiet = Problems()
    named_endpoints = {e.name for e in loaded.endpoints}
    for file in context:  # what named files refer to (their endpoint, models, environments), never more
        _load_file(file, False, loaded, quiet, deployments=False)
    if explicit:  # the other endpoints of their folder: only those the named deployments belong to
        wanted = named_endpoints | {d.endpoint_name for d in loaded.deployments}
        loaded.endpoints = [e for e in loaded.endpoints if e.name in wanted]
    settings = _local_settings(root, targets, problems)
    deployments = [_resolve(d, loaded, problems) for d in loaded.deployments]
    endpoints = _assemble(loaded.endpoints, deployments, problems)
    _check_settings(root, settings, endpoints, problems)
    if not (root / WORKSPACE_MARK).is_file():  # a workspace's paths are absolute: all outside it
        _check_outside(root, deployments, problems)
    if (
        root.is_dir()
        and not loaded.endpoints
        and not problems.has_errors
        and not (root / WORKSPACE_MARK).is_file()
    ):
        problems.error(
            Location(root),
            "",
            "no endpoint YAML found",
            "expected a file with an online endpoint's name, auth_mode, traffic",
        )
    reported = [p for p in problems.sorted() if p.location.file not in context]
    return Project(
        root, tuple(endpoints), settings, tuple(reported), tuple(files), tuple(targets), tuple(overrides)
    )


def _sent_secrets(root: Path) -> set[str]:
    """The `{env: NAME}` values a promote sent to this host (the engine reads them there)."""
    try:
        sent = json.loads(ProjectFiles(root).secrets.read_text())
    except (OSError, ValueError):
        return set()
    return (
        {name for name, value in sent.items() if isinstance(value, str)} if isinstance(sent, dict) else set()
    )


def _check_outside(root: Path, deployments: list[DeploymentSpec], problems: Problems) -> None:
    """Model and code paths that lead out of the project folder: legal (Azure uploads them from
    wherever they are), and a common slip (a path relative to the wrong folder)."""
    if not root.is_dir():
        return
    inside = root.resolve()
    for deployment in deployments:
        paths = {
            "model.path": deployment.model.path if deployment.model is not None else None,
            "code_configuration.code": deployment.code_configuration.code
            if deployment.code_configuration is not None
            else None,
        }
        for key, path in paths.items():
            if path is not None and not path.resolve().is_relative_to(inside):
                problems.warning(
                    deployment.where(key.split(".")[0]),
                    key,
                    f"'{path}' is outside the project folder {inside}; Azure uploads it all the same",
                    "check that the path is relative to the YAML file's folder",
                )


SPEC_SUFFIXES = (".yml", ".yaml")
"""In any case: `.YAML` is a spec file too."""


@dataclass
class _Loaded:
    applied: set[Override] = dataclasses.field(default_factory=set)
    """The `--set` values that some file took."""
    endpoints: list[EndpointSpec] = dataclasses.field(default_factory=list)
    deployments: list[DeploymentSpec] = dataclasses.field(default_factory=list)
    models: list[ModelSpec] = dataclasses.field(default_factory=list)
    environments: list[EnvironmentSpec] = dataclasses.field(default_factory=list)


def _discover(targets: list[Path], problems: Problems) -> tuple[Path, list[Path], set[Path]]:
    files: list[Path] = []
    explicit: set[Path] = set()
    for target in targets:
        if target.is_dir():
            files.extend(_spec_files(target))
        elif target.exists():
            files.append(target)
            explicit.add(target)
        else:
            problems.error(Location(target), "", "no such file or folder")
    root = next((t for t in targets if t.is_dir()), targets[0].parent if targets else Path.cwd())
    return root, files, explicit


def _spec_files(folder: Path) -> list[Path]:
    return [
        p
        for p in sorted(folder.iterdir())
        if p.suffix.lower() in SPEC_SUFFIXES and p.name not in FILE_NAMES and p.is_file()
    ]


def _context_files(explicit: set[Path], files: list[Path]) -> list[Path]:
    chosen = set(files)
    folders = sorted({f.parent for f in explicit})
    return [p for folder in folders for p in _spec_files(folder) if p not in chosen]


def _load_file(
    file: Path,
    explicit: bool,
    loaded: _Loaded,
    problems: Problems,
    *,
    deployments: bool = True,
    overrides: Sequence[Override] = (),
    named: bool = False,
) -> None:
    root = read_yaml(file, problems)
    if root is None:
        return
    kind = classify(root)
    if overrides and (
        explicit or (not named and kind in (FileKind.DEPLOYMENT, FileKind.KUBERNETES_DEPLOYMENT))
    ):
        keys = KEYS_OF.get(kind, ()) if kind is not None else ()
        fitting = [o for o in overrides if o.path[0] in keys]  # as az ml: only its own file's keys
        apply_overrides(root, fitting)
        loaded.applied.update(fitting)
    if kind is None:
        if explicit:
            problems.error(
                Location(file),
                "",
                "not an endpoint, deployment, model or environment file",
                "add a $schema line naming its kind",
            )
        return
    if kind in (FileKind.ENDPOINT, FileKind.KUBERNETES_ENDPOINT):
        endpoint = read_endpoint(root, file, problems, kubernetes=kind is FileKind.KUBERNETES_ENDPOINT)
        if endpoint:
            loaded.endpoints.append(endpoint)
    elif kind in (FileKind.DEPLOYMENT, FileKind.KUBERNETES_DEPLOYMENT):
        if not deployments:
            return
        deployment = read_deployment(root, file, problems, kubernetes=kind is FileKind.KUBERNETES_DEPLOYMENT)
        if deployment:
            loaded.deployments.append(deployment)
    elif kind is FileKind.MODEL:
        model = read_model(Reader(file, problems), root, "", file.parent, registered=True)
        if model:
            loaded.models.append(model)
    else:
        environment = read_environment(Reader(file, problems), root, "", file.parent, registered=True)
        if environment:
            loaded.environments.append(environment)


KEYS_OF = {
    FileKind.ENDPOINT: ENDPOINT_KEYS,
    FileKind.KUBERNETES_ENDPOINT: ENDPOINT_KEYS,
    FileKind.DEPLOYMENT: DEPLOYMENT_KEYS,
    FileKind.KUBERNETES_DEPLOYMENT: DEPLOYMENT_KEYS,
    FileKind.MODEL: MODEL_KEYS,
    FileKind.ENVIRONMENT: ENVIRONMENT_KEYS,
}
"""The top-level keys each kind of file has: where a `--set` value can go."""


def classify(root: yaml.Node) -> FileKind | None:
    """What a spec file holds: by its `$schema` when it has one, else by its keys."""
    if not isinstance(root, yaml.MappingNode):
        return None
    keys = {k.value for k, _ in root.value if isinstance(k, yaml.ScalarNode)}
    schema = next(
        (
            v.value.lower()
            for k, v in root.value
            if isinstance(k, yaml.ScalarNode) and k.value == "$schema" and isinstance(v, yaml.ScalarNode)
        ),
        "",
    )
    kubernetes = "kubernetes" in schema
    if "onlineendpoint" in schema:
        return FileKind.KUBERNETES_ENDPOINT if kubernetes else FileKind.ENDPOINT
    if "onlinedeployment" in schema:
        return FileKind.KUBERNETES_DEPLOYMENT if kubernetes else FileKind.DEPLOYMENT
    if "/model.schema" in schema:
        return FileKind.MODEL
    if "/environment.schema" in schema:
        return FileKind.ENVIRONMENT
    if "endpoint_name" in keys:
        return FileKind.DEPLOYMENT
    if keys & {"dependencies", "channels"}:
        return None  # a conda file
    if keys & {"auth_mode", "traffic", "mirror_traffic", "public_network_access", "identity"}:
        return FileKind.ENDPOINT
    if "compute" in keys:
        return FileKind.KUBERNETES_ENDPOINT
    if keys & {"image", "build", "conda_file", "inference_config"}:
        return FileKind.ENVIRONMENT
    if "path" in keys:
        return FileKind.MODEL
    if "name" in keys and keys <= {"$schema", "name", "description", "tags", "properties"}:
        return FileKind.ENDPOINT
    return None


def _local_settings(root: Path, targets: list[Path], problems: Problems) -> LocalSettings:
    folders = [root] + [t.parent for t in targets if t.is_file()]
    for folder in folders:
        for name in FILE_NAMES:
            if (folder / name).is_file():
                return read_local_settings(folder / name, problems)
    return LocalSettings()


def _resolve(spec: DeploymentSpec, loaded: _Loaded, problems: Problems) -> DeploymentSpec:
    model, environment = spec.model, spec.environment
    if spec.model_ref is not None:
        model = _find(spec.model_ref, loaded.models, spec, "model", problems)
    if spec.environment_ref is not None:
        environment = _find(spec.environment_ref, loaded.environments, spec, "environment", problems)
    resolved = dataclasses.replace(spec, model=model, environment=environment)
    if (
        spec.environment_ref is not None
        and environment is not None
        and "code_configuration" not in spec.locations
        and needs_code(resolved)
    ):
        problems.error(spec.where(""), "code_configuration", "Missing data for required field.", CODE_HINT)
    if (
        spec.model_ref is not None
        and model is not None
        and environment is None
        and spec.environment_ref is None
        and model.type != "mlflow_model"
    ):  # a referenced model that turns out not to be MLflow's needs an environment after all
        problems.error(spec.where(""), "environment", "Missing data for required field.")
    return resolved


def _find(ref: AssetRef, assets: Iterable[T], spec: DeploymentSpec, key: str, problems: Problems) -> T | None:
    named = [a for a in assets if a.name == ref.name]
    current = [a for a in named if not a.archived]  # @latest skips archived versions, as Azure's
    if ref.version is None and current:
        return max(current, key=lambda a: _version_order(a.version))
    match = next((a for a in named if a.version == ref.version), None)
    if match is None:
        known = sorted({f"{a.name}:{a.version}" for a in assets})
        problems.error(
            spec.where(key),
            key,
            f"{key} '{ref}' is not defined in this folder",
            f"add {'an' if key[0] in 'aeiou' else 'a'} {key} YAML file with name {ref.name}"
            + (f" and version {ref.version}" if ref.version else "")
            + (f"; found {', '.join(known)}" if known else ""),
        )
    return match


def _version_order(version: str) -> tuple[int, tuple[int, ...], str]:
    parts = version.split(".")
    if all(p.isdigit() for p in parts):
        return (1, tuple(int(p) for p in parts), "")
    return (0, (), version)


def _assemble(
    specs: list[EndpointSpec], deployments: list[DeploymentSpec], problems: Problems
) -> list[Endpoint]:
    by_endpoint: dict[str, list[DeploymentSpec]] = defaultdict(list)
    names = {e.name for e in specs}
    for deployment in deployments:
        if deployment.endpoint_name not in names:
            problems.error(
                deployment.where("endpoint_name"),
                "endpoint_name",
                f"no endpoint named '{deployment.endpoint_name}' in this folder",
                did_you_mean(deployment.endpoint_name, names),
            )
            continue
        by_endpoint[deployment.endpoint_name].append(deployment)
    endpoints: list[Endpoint] = []
    seen: dict[str, EndpointSpec] = {}
    for spec in specs:
        if spec.name in seen:
            problems.error(
                spec.where("name"),
                "name",
                f"endpoint '{spec.name}' is also defined in {seen[spec.name].file.name}",
            )
            continue
        seen[spec.name] = spec
        endpoint = Endpoint(spec, tuple(_unique(by_endpoint[spec.name], problems)))
        _check_endpoint(endpoint, problems)
        endpoints.append(endpoint)
    return endpoints


def _unique(deployments: list[DeploymentSpec], problems: Problems) -> list[DeploymentSpec]:
    kept: dict[str, DeploymentSpec] = {}
    for deployment in deployments:
        key = deployment.name.lower()
        if key in kept:
            problems.error(
                deployment.where("name"),
                "name",
                f"deployment '{deployment.name}' is also defined in {kept[key].file.name}",
            )
            continue
        kept[key] = deployment
    return list(kept.values())


def _check_endpoint(endpoint: Endpoint, problems: Problems) -> None:
    spec = endpoint.spec
    names = {d.name.lower(): d.name for d in endpoint.deployments}
    for table in ("traffic", "mirror_traffic"):
        for deployment in getattr(spec, table):
            if deployment.lower() not in names:
                key = f"{table}.{deployment}"
                problems.error(
                    spec.where(key),
                    key,
                    f"names deployment '{deployment}', which is not in this folder",
                    did_you_mean(deployment, names.values()),
                )
    if len(endpoint.deployments) > MAX_DEPLOYMENTS_PER_ENDPOINT:
        problems.error(
            spec.where("name"),
            "name",
            f"{len(endpoint.deployments)} deployments; "
            f"an endpoint takes at most {MAX_DEPLOYMENTS_PER_ENDPOINT}",
        )
    if not endpoint.deployments:
        problems.warning(spec.where("name"), "name", "endpoint has no deployments, so it cannot be invoked")
    for deployment in endpoint.deployments:
        if deployment.kind != spec.kind:
            problems.error(
                deployment.where("name"),
                "type",
                f"a {deployment.kind} deployment cannot belong to the {spec.kind} endpoint '{spec.name}'",
            )
    enforced = str(spec.properties.get("enforce_access_to_default_secret_stores", "")).lower() == "enabled"
    for deployment in endpoint.deployments:
        references = deployment.secret_references()
        if references and not enforced:
            variable = next(iter(references))
            key = f"environment_variables.{variable}"
            problems.warning(
                deployment.where(key),
                key,
                f"secret references need the endpoint '{spec.name}' to read the secret stores: Azure fails "
                "the deployment with SecretsInjectionError unless the endpoint has "
                "`properties: {enforce_access_to_default_secret_stores: enabled}` (with a system-assigned "
                "identity) or its identity was granted the readers' roles",
            )


def _check_settings(
    root: Path, settings: LocalSettings, endpoints: list[Endpoint], problems: Problems
) -> None:
    by_name = {e.name: e for e in endpoints}
    for name, endpoint_settings in settings.endpoints.items():
        key = f"endpoints.{name}"
        endpoint = by_name.get(name)
        if endpoint is None:
            problems.warning(
                settings.where(key),
                key,
                f"no endpoint named '{name}' in this folder",
                did_you_mean(name, by_name),
            )
            continue
        for deployment_name in endpoint_settings.deployments:
            if endpoint.deployment(deployment_name) is None:
                deployment_key = f"{key}.deployments.{deployment_name}"
                problems.warning(
                    settings.where(deployment_key),
                    deployment_key,
                    f"endpoint '{name}' has no deployment named '{deployment_name}'",
                )
    sent = _sent_secrets(root)
    for endpoint in endpoints:
        for deployment in endpoint.deployments:
            for variable, reference in deployment.secret_references().items():
                secret = settings.secrets.get(reference)
                if secret is None:
                    key = f"environment_variables.{variable}"
                    problems.warning(
                        deployment.where(key),
                        key,
                        f"secret reference {reference} has no local value",
                        "give one under secrets: in workbench.yaml as {env: NAME}",
                    )
                elif secret.env is not None and secret.env not in os.environ and secret.env not in sent:
                    key = f"secrets.{reference}.env"
                    problems.error(
                        settings.where(key),
                        key,
                        f"{deployment.name}'s {variable} reads ${secret.env}, which is not set here",
                        f"export {secret.env}=... before `workbench up`",
                    )
