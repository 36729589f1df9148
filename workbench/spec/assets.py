"""Models and environments: inline in a deployment, in their own YAML files, or referenced.

A deployment may say `model: azureml:sklearn-model:3` or `environment: azureml:sklearn-env@latest`.
In the cloud those name registered assets; here they are resolved from the model and environment
YAML files in the same folder (the files `az ml model create -f` takes), so the spec runs offline.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from workbench.spec.conda import CondaSpec, read_conda_file
from workbench.spec.problems import Location, did_you_mean
from workbench.spec.reader import Reader, join

MODEL_TYPES = ("custom_model", "mlflow_model", "triton_model")
MODEL_KEYS = (
    "$schema", "name", "version", "path", "type", "description", "tags", "properties",
    "stage", "flavors", "datastore", "job_name",
)  # fmt: skip
ENVIRONMENT_KEYS = (
    "$schema", "name", "version", "image", "conda_file", "build", "inference_config",
    "os_type", "description", "tags", "properties", "datastore", "stage",
)  # fmt: skip
_PLACEHOLDER = re.compile(r"<[^>]*>|\$\{|\{\{")
ARCHIVED = "Archived"
"""The stage of an archived asset version: out of `@latest`, still usable by its version."""
ANONYMOUS_ENVIRONMENT = "CliV2AnonymousEnvironment"
_REMOTE_PATH = re.compile(r"^(azureml|https?|wasbs?|abfss?)://", re.IGNORECASE)
_REF = re.compile(r"^azureml:(?P<name>[A-Za-z0-9_.-]+)(?::(?P<version>[^:@]+)|@(?P<label>latest))$")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    version: str
    path: Path
    """Absolute local path of the model file or folder."""
    type: str
    declared_at: Location = field(compare=False)
    archived: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class BuildContext:
    path: Path
    dockerfile_path: str

    @property
    def dockerfile(self) -> Path:
        return self.path / self.dockerfile_path


@dataclass(frozen=True)
class Route:
    port: int
    path: str


@dataclass(frozen=True)
class InferenceConfig:
    """Routes of a custom container (BYOC): probes and scoring go to the image's own server."""

    liveness_route: Route
    readiness_route: Route
    scoring_route: Route


@dataclass(frozen=True)
class EnvironmentSpec:
    name: str
    version: str
    image: str | None
    conda_file: CondaSpec | None
    build: BuildContext | None
    inference_config: InferenceConfig | None
    os_type: str
    declared_at: Location = field(compare=False)
    archived: bool = field(default=False, compare=False)

    @property
    def is_custom_container(self) -> bool:
        return self.inference_config is not None


@dataclass(frozen=True)
class AssetRef:
    """`azureml:<name>:<version>` or `azureml:<name>@latest`; version None means latest."""

    name: str
    version: str | None

    def __str__(self) -> str:
        return (
            f"azureml:{self.name}@latest" if self.version is None else (f"azureml:{self.name}:{self.version}")
        )


def parse_ref(reader: Reader, node: yaml.Node, key: str) -> AssetRef | None:
    text = reader.string(node, key)
    if text is None:
        return None
    match = _REF.match(text)
    if match is None:
        reader.error(
            node,
            key,
            f"'{text}' is not a reference the workbench can resolve offline",
            "use azureml:<name>:<version> or azureml:<name>@latest with a YAML file for it in "
            "the folder, or an inline definition",
        )
        return None
    return AssetRef(match["name"], match["version"])


def read_model(
    reader: Reader, node: yaml.Node, key: str, base: Path, *, registered: bool = False
) -> ModelSpec | None:
    """A model mapping; `registered` is for model files, where name and version are required."""
    found = reader.fields(node, key, MODEL_KEYS, schema="https://aka.ms/ml-cli-v2-model-yaml-reference")
    if found is None:
        return None
    ok = True
    path: Path | None = None
    if "path" not in found:
        reader.error(node, join(key, "path"), "Missing data for required field.")
        ok = False
    else:
        path = _local_path(reader, found["path"], join(key, "path"), base, "model path")
        ok = path is not None
    model_type = "custom_model"
    if "type" in found:
        model_type = reader.choice(found["type"], join(key, "type"), MODEL_TYPES) or model_type
    name = reader.string(found["name"], join(key, "name")) if "name" in found else None
    version = _version(reader, found["version"], join(key, "version")) if "version" in found else None
    if registered and name is None:
        reader.error(node, join(key, "name"), "Missing data for required field.")
        ok = False
    if not ok or path is None:
        return None
    if name is None:  # an inline model without a name gets a content-derived one and version 1
        name = hashlib.sha256(str(path).encode()).hexdigest()[:32]
    return ModelSpec(name, version or "1", path, model_type, reader.at(node), _archived(reader, found, key))


def read_environment(
    reader: Reader, node: yaml.Node, key: str, base: Path, *, registered: bool = False
) -> EnvironmentSpec | None:
    found = reader.fields(
        node, key, ENVIRONMENT_KEYS, schema="https://aka.ms/ml-cli-v2-environment-yaml-reference"
    )
    if found is None:
        return None
    ok = True
    image = reader.string(found["image"], join(key, "image")) if "image" in found else None
    build = _build_context(reader, found["build"], join(key, "build"), base) if "build" in found else None
    if "image" in found and "build" in found:
        reader.error(
            found["build"], join(key, "build"), "Docker image or Dockerfile should be provided not both"
        )
        ok = False
    elif "image" not in found and "build" not in found:
        reader.error(
            node, key, "an environment needs an image (with an optional conda_file) or a build context"
        )
        ok = False
    conda: CondaSpec | None = None
    if "conda_file" in found:
        conda_key = join(key, "conda_file")
        if "build" in found:
            reader.error(found["conda_file"], conda_key, "conda_file goes with image, not with build")
        conda_path = _local_path(reader, found["conda_file"], conda_key, base, "conda file")
        if conda_path is not None:
            conda = read_conda_file(conda_path, reader.problems)
        ok = ok and conda is not None
    inference = (
        _inference_config(reader, found["inference_config"], join(key, "inference_config"))
        if "inference_config" in found
        else None
    )
    os_type = "linux"
    if "os_type" in found:
        os_type = reader.choice(found["os_type"], join(key, "os_type"), ("linux", "windows")) or os_type
    name = reader.string(found["name"], join(key, "name")) if "name" in found else None
    version = _version(reader, found["version"], join(key, "version")) if "version" in found else None
    if registered and name is None:
        reader.error(node, join(key, "name"), "Missing data for required field.")
        ok = False
    if not ok or (image is None and build is None):
        return None
    if name is None:
        name = ANONYMOUS_ENVIRONMENT
        version = version or _content_hash(image, conda, build)
    return EnvironmentSpec(
        name,
        version or "1",
        image,
        conda,
        build,
        inference,
        os_type,
        reader.at(node),
        _archived(reader, found, key),
    )


def _version(reader: Reader, node: yaml.Node, key: str) -> str | None:
    """An asset's version; a placeholder that a script was to fill (`<MODEL_VERSION>`,
    `${VERSION}`, `{{version}}`) is an error that says how to fill it, not a version."""
    fill = f"--set {key}=1, for one"
    braced = isinstance(node, yaml.MappingNode) and node.flow_style and len(node.value) == 1
    if braced and isinstance(node.value[0][0], yaml.MappingNode):  # {{VERSION}} reads as a mapping
        reader.error(node, key, "{{...}} is a placeholder that was never filled", fill)
        return None
    version = reader.text(node, key)
    if version is not None and _PLACEHOLDER.search(version):
        reader.error(node, key, f"'{version}' is a placeholder that was never filled", fill)
        return None
    return version


def _archived(reader: Reader, found: dict[str, yaml.Node], key: str) -> bool:
    stage = reader.string(found["stage"], join(key, "stage")) if "stage" in found else None
    return stage == ARCHIVED


def _build_context(reader: Reader, node: yaml.Node, key: str, base: Path) -> BuildContext | None:
    found = reader.fields(node, key, ("path", "dockerfile_path"))
    if found is None:
        return None
    if "path" not in found:
        reader.error(node, join(key, "path"), "Missing data for required field.")
        return None
    path = _local_path(reader, found["path"], join(key, "path"), base, "build context")
    dockerfile = "Dockerfile"
    if "dockerfile_path" in found:
        dockerfile = reader.string(found["dockerfile_path"], join(key, "dockerfile_path")) or dockerfile
    if path is None:
        return None
    if not path.is_dir():
        reader.error(found["path"], join(key, "path"), f"build context '{path}' is not a folder")
        return None
    context = BuildContext(path, dockerfile)
    if not context.dockerfile.is_file():
        where = found.get("dockerfile_path", found["path"])
        reader.error(where, join(key, "dockerfile_path"), f"Dockerfile '{dockerfile}' not found in {path}")
        return None
    return context


def _inference_config(reader: Reader, node: yaml.Node, key: str) -> InferenceConfig | None:
    names = ("liveness_route", "readiness_route", "scoring_route")
    found = reader.fields(node, key, names)
    if found is None:
        return None
    routes: list[Route] = []
    for name in names:
        route_key = join(key, name)
        if name not in found:
            reader.error(node, route_key, "Missing data for required field.")
            continue
        parts = reader.fields(found[name], route_key, ("port", "path"))
        if parts is None:
            continue
        if "port" not in parts or "path" not in parts:
            missing = "port" if "port" not in parts else "path"
            reader.error(found[name], join(route_key, missing), "Missing data for required field.")
            continue
        port = reader.integer(parts["port"], join(route_key, "port"), minimum=1, maximum=65535)
        path = reader.string(parts["path"], join(route_key, "path"))
        if port is not None and path is not None:
            routes.append(Route(port, path if path.startswith("/") else f"/{path}"))
    if len(routes) != len(names):
        return None
    return InferenceConfig(*routes)


def _local_path(reader: Reader, node: yaml.Node, key: str, base: Path, what: str) -> Path | None:
    text = reader.string(node, key)
    if text is None:
        return None
    if _REMOTE_PATH.match(text):
        reader.error(node, key, f"{what} '{text}' is remote; the workbench needs a local path")
        return None
    path = (base / text).resolve()
    if not path.exists():
        siblings = [p.name for p in path.parent.iterdir()] if path.parent.is_dir() else []
        reader.error(node, key, f"{what} '{text}' does not exist", did_you_mean(path.name, siblings))
        return None
    return path


def _content_hash(image: str | None, conda: CondaSpec | None, build: BuildContext | None) -> str:
    digest = hashlib.sha256()
    digest.update((image or "").encode())
    if conda is not None:
        digest.update(conda.path.read_bytes())
    if build is not None:
        digest.update(build.dockerfile.read_bytes())
    return digest.hexdigest()[:32]
