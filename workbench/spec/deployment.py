"""Online deployments: managed and Kubernetes (docs/azure.md, "Deployments"), with Azure's defaults."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from workbench.spec.assets import (
    AssetRef,
    EnvironmentSpec,
    ModelSpec,
    parse_ref,
    read_environment,
    read_model,
)
from workbench.spec.names import read_name
from workbench.spec.problems import Location, Problems, did_you_mean
from workbench.spec.reader import Reader, join
from workbench.spec.scoring import check_scoring_script
from workbench.spec.skus import SKUS, TOO_SMALL, find_sku

DEPLOYMENT_KEYS = (
    "$schema", "name", "endpoint_name", "type", "description", "tags", "properties", "model",
    "model_mount_path", "code_configuration", "environment", "environment_variables",
    "instance_type", "instance_count", "app_insights_enabled", "scale_settings",
    "request_settings", "liveness_probe", "readiness_probe", "egress_public_network_access",
    "data_collector", "private_network_connection", "resources",
)  # fmt: skip
SCHEMA_LINK = "https://aka.ms/ml-cli-v2-deployment-managed-online-yaml-reference"
MAX_REQUEST_TIMEOUT_MS = {"managed": 180_000, "kubernetes": 300_000}
MAX_INSTANCES = 50
"""Azure's limit of instances per deployment: the YAML, `workbench scale` and the dashboard alike."""
AZURE_APP_ROOT = "/var/azureml-app"
"""Where Azure puts a deployment's code and, under azureml-models/, its model, in the container."""
_SECRET = re.compile(r"^\$\{\{(azureml://connections/[^}\s]+|keyvault:https://[^}\s]+)\}\}$")


@dataclass(frozen=True)
class CodeConfiguration:
    code: Path
    scoring_script: str

    @property
    def script(self) -> Path:
        return self.code / self.scoring_script


@dataclass(frozen=True)
class RequestSettings:
    request_timeout_ms: int = 5000
    max_concurrent_requests_per_instance: int = 1
    max_queue_wait_ms: int = 500


@dataclass(frozen=True)
class ProbeSettings:
    initial_delay: int = 10
    period: int = 10
    timeout: int = 2
    success_threshold: int = 1
    failure_threshold: int = 30


@dataclass(frozen=True)
class ScaleSettings:
    type: str = "default"
    min_instances: int | None = None
    max_instances: int | None = None
    target_utilization_percentage: int | None = None
    polling_interval: int | None = None


@dataclass(frozen=True)
class DataCollection:
    name: str
    enabled: bool
    client_id: str | None = None


@dataclass(frozen=True)
class DataCollector:
    sampling_rate: float = 1.0
    rolling_rate: str = "hour"
    collections: tuple[DataCollection, ...] = ()
    capture_headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeploymentSpec:
    name: str
    endpoint_name: str
    file: Path
    kind: str = "managed"
    model: ModelSpec | None = None
    model_ref: AssetRef | None = None
    """Set when the YAML names a registered model; resolved into `model` by the project."""
    environment: EnvironmentSpec | None = None
    environment_ref: AssetRef | None = None
    code_configuration: CodeConfiguration | None = None
    environment_variables: Mapping[str, str] = field(default_factory=dict)
    instance_type: str | None = None
    instance_count: int = 1
    request_settings: RequestSettings = RequestSettings()
    liveness_probe: ProbeSettings = ProbeSettings()
    readiness_probe: ProbeSettings = ProbeSettings()
    scale_settings: ScaleSettings = ScaleSettings()
    app_insights_enabled: bool = False
    egress_public_network_access: str = "enabled"
    data_collector: DataCollector | None = None
    model_mount_path: str | None = None
    private_network_connection: bool = False
    resources: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    properties: Mapping[str, str] = field(default_factory=dict)
    locations: Mapping[str, Location] = field(default_factory=dict, compare=False, repr=False)

    def where(self, key: str) -> Location:
        return self.locations.get(key, Location(self.file))

    def summary(self) -> dict[str, str]:
        """What the YAML says, in words, for the describe view (variables by name only: values
        may be secrets)."""
        said = {"file": f"{self.file}:{self.where('name').line}"}
        if self.model is not None:
            said["model"] = f"{self.model.name}:{self.model.version} ({self.model.path})"
        if self.code_configuration is not None:
            said["code"] = str(self.code_configuration.script)
        environment = self.environment
        if environment is not None:
            parts = [f"{environment.name}:{environment.version}" if environment.name else ""]
            parts += [f"image {environment.image}" if environment.image else ""]
            parts += [f"conda {environment.conda_file.path}" if environment.conda_file else ""]
            said["environment"] = ", ".join(p for p in parts if p)
        said["instances"] = f"{self.instance_count} x {self.instance_type or 'no instance type'}"
        settings = self.request_settings
        said["requests"] = (
            f"timeout {settings.request_timeout_ms} ms, {settings.max_concurrent_requests_per_instance} "
            f"at a time per instance, queue wait {settings.max_queue_wait_ms} ms"
        )
        for name, probe in (("liveness", self.liveness_probe), ("readiness", self.readiness_probe)):
            said[name] = (
                f"every {probe.period} s after {probe.initial_delay} s, timeout {probe.timeout} s, "
                f"{probe.failure_threshold} failures"
            )
        if self.environment_variables:
            said["variables"] = ", ".join(sorted(self.environment_variables))
        return said

    def secret_references(self) -> dict[str, str]:
        """Environment variables whose value is `${{azureml://...}}` or `${{keyvault:...}}`,
        mapped to the reference inside the braces."""
        refs: dict[str, str] = {}
        for key, value in self.environment_variables.items():
            match = _SECRET.match(value)
            if match:
                refs[key] = match.group(1)
        return refs


def read_deployment(
    node: yaml.Node, file: Path, problems: Problems, *, kubernetes: bool
) -> DeploymentSpec | None:
    reader = Reader(file, problems)
    found = reader.fields(node, "", DEPLOYMENT_KEYS, schema=SCHEMA_LINK)
    if found is None:
        return None
    base = file.parent
    for required in ("name", "endpoint_name"):
        if required not in found:
            reader.error(node, required, "Missing data for required field.")
    kind = "kubernetes" if kubernetes else "managed"
    if "type" in found:
        kind = reader.choice(found["type"], "type", ("managed", "kubernetes")) or kind
    name = read_name(reader, found["name"], "a deployment") if "name" in found else None
    endpoint_name = (
        reader.string(found["endpoint_name"], "endpoint_name") if "endpoint_name" in found else None
    )

    model, model_ref = _model(reader, found.get("model"), base)
    environment, environment_ref = None, None
    if "environment" not in found:
        if model_ref is None and not (model is not None and model.type in ("mlflow_model", "triton_model")):
            reader.error(
                node,
                "environment",
                "Missing data for required field.",
                "an MLflow model (mlflow_model) needs none",
            )
    elif isinstance(found["environment"], yaml.MappingNode):
        environment = read_environment(reader, found["environment"], "environment", base)
    else:
        environment_ref = parse_ref(reader, found["environment"], "environment")

    code = (
        _code_configuration(reader, found["code_configuration"], base)
        if "code_configuration" in found
        else None
    )
    instance_type = _instance_type(reader, found.get("instance_type"), node, kind)
    settings = (
        _request_settings(reader, found["request_settings"], kind)
        if "request_settings" in found
        else RequestSettings()
    )
    spec = DeploymentSpec(
        name=name or "",
        endpoint_name=endpoint_name or "",
        file=file,
        kind=kind,
        model=model,
        model_ref=model_ref,
        environment=environment,
        environment_ref=environment_ref,
        code_configuration=code,
        environment_variables=_environment_variables(reader, found.get("environment_variables")),
        instance_type=instance_type,
        instance_count=_optional_int(reader, found, "instance_count", 1, minimum=1, maximum=MAX_INSTANCES),
        request_settings=settings,
        liveness_probe=_probe(reader, found.get("liveness_probe"), "liveness_probe"),
        readiness_probe=_probe(reader, found.get("readiness_probe"), "readiness_probe"),
        scale_settings=_scale_settings(reader, found.get("scale_settings"), kind),
        app_insights_enabled=_optional_bool(reader, found, "app_insights_enabled"),
        egress_public_network_access=(
            reader.choice(
                found["egress_public_network_access"], "egress_public_network_access", ("enabled", "disabled")
            )
            if "egress_public_network_access" in found
            else None
        )
        or "enabled",
        data_collector=_data_collector(reader, found["data_collector"])
        if "data_collector" in found
        else None,
        model_mount_path=_mount_path(reader, found.get("model_mount_path")),
        private_network_connection=_optional_bool(reader, found, "private_network_connection"),
        resources=_resources(reader, found.get("resources"), kind),
        description=(reader.text(found["description"], "description") or "")
        if "description" in found
        else "",
        tags=reader.string_map(found["tags"], "tags") if "tags" in found else {},
        properties=reader.string_map(found["properties"], "properties") if "properties" in found else {},
        locations=reader.locations,
    )
    _check_code_needed(reader, node, spec)
    _check_workers(reader, found, spec)
    if spec.code_configuration is None and spec.model is not None and spec.model.type == "triton_model":
        reader.warning(
            node,
            "model",
            "a Triton no-code deployment runs in NVIDIA's Triton Inference Server image, which the "
            "workbench does not run yet: `up` says so and the deployment fails; Azure runs it as it is",
        )
    if name is None or endpoint_name is None:
        return None
    return spec


def _model(reader: Reader, node: yaml.Node | None, base: Path) -> tuple[ModelSpec | None, AssetRef | None]:
    if node is None:
        return None, None
    if isinstance(node, yaml.MappingNode):
        return read_model(reader, node, "model", base), None
    return None, parse_ref(reader, node, "model")


def _code_configuration(reader: Reader, node: yaml.Node, base: Path) -> CodeConfiguration | None:
    key = "code_configuration"
    found = reader.fields(node, key, ("code", "scoring_script"))
    if found is None:
        return None
    if "code" not in found:
        reader.error(node, f"{key}.code", "Missing data for required field.")
        return None
    if "scoring_script" not in found:
        reader.error(node, f"{key}.scoring_script", "scoring script can't be empty")
        return None
    code_text = reader.string(found["code"], f"{key}.code")
    script = reader.string(found["scoring_script"], f"{key}.scoring_script")
    if code_text is None or script is None:
        return None
    code = (base / code_text).resolve()
    if not code.is_dir():
        reader.error(found["code"], f"{key}.code", f"code folder '{code_text}' does not exist")
        return None
    config = CodeConfiguration(code, script)
    if not config.script.resolve().is_relative_to(code):
        reader.error(
            found["scoring_script"],
            f"{key}.scoring_script",
            f"scoring script '{script}' is outside the code folder '{code_text}': Azure uploads only "
            "the code folder, so the script would not be there",
            "move the script into the code folder, or make the code folder the one that holds it",
        )
        return None
    if not config.script.is_file():
        siblings = (
            [p.name for p in config.script.parent.glob("*.py")] if config.script.parent.is_dir() else []
        )
        reader.error(
            found["scoring_script"],
            f"{key}.scoring_script",
            f"scoring script '{script}' not found in {code_text}",
            did_you_mean(Path(script).name, siblings),
        )
        return None
    if config.script.suffix == ".py":  # a custom container's script may be R, or anything
        check_scoring_script(config.script, reader.problems)
    return config


def _check_code_needed(reader: Reader, node: yaml.Node, spec: DeploymentSpec) -> None:
    if "code_configuration" in spec.locations or spec.environment is None:
        return  # a bad code_configuration is reported already; a referenced environment later
    if needs_code(spec):
        reader.error(node, "code_configuration", "Missing data for required field.", CODE_HINT)


CODE_HINT = (
    "a scoring script is needed unless the model is an mlflow_model or a triton_model, or the "
    "environment has an inference_config"
)


def needs_code(spec: DeploymentSpec) -> bool:
    """True when nothing could serve: no scoring script, no custom container, no MLflow model."""
    if spec.code_configuration is not None:
        return False
    if spec.environment is not None and spec.environment.is_custom_container:
        return False
    return not (spec.model is not None and spec.model.type in ("mlflow_model", "triton_model"))


def _instance_type(reader: Reader, node: yaml.Node | None, parent: yaml.Node, kind: str) -> str | None:
    if node is None:
        if kind == "managed":
            reader.error(
                parent, "instance_type", "Missing data for required field.", "for example Standard_DS3_v2"
            )
        return None
    name = reader.string(node, "instance_type")
    if name is None or kind != "managed":
        return name
    sku = find_sku(name)
    if sku is None:
        reader.warning(
            node,
            "instance_type",
            f"unknown instance type '{name}'",
            did_you_mean(name, [s.name for s in SKUS.values()]),
        )
    elif sku.name.lower() in TOO_SMALL:
        reader.warning(
            node,
            "instance_type",
            f"{sku.name} may be too small for compute resources. "
            "Minimum recommended compute SKU is Standard_DS3_v2",
        )
    return sku.name if sku else name


def _check_workers(reader: Reader, found: dict[str, yaml.Node], spec: DeploymentSpec) -> None:
    """Azure runs one inference-server worker unless WORKER_COUNT says otherwise, whatever the
    router admits: requests beyond the first wait inside the instance. Its docs advise matching them."""
    concurrency = spec.request_settings.max_concurrent_requests_per_instance
    if concurrency > 1 and "WORKER_COUNT" not in spec.environment_variables and spec.code_configuration:
        key = "request_settings.max_concurrent_requests_per_instance"
        reader.warning(
            found["request_settings"],
            key,
            f"{concurrency} requests are admitted per instance, but the inference server runs one worker "
            "(WORKER_COUNT defaults to 1, here as on Azure): the others wait inside the instance",
            f'add WORKER_COUNT: "{concurrency}" to environment_variables to serve them in parallel',
        )


def _request_settings(reader: Reader, node: yaml.Node, kind: str) -> RequestSettings:
    key = "request_settings"
    names = ("request_timeout_ms", "max_concurrent_requests_per_instance", "max_queue_wait_ms")
    found = reader.fields(node, key, names)
    if found is None:
        return RequestSettings()
    defaults = RequestSettings()
    timeout = defaults.request_timeout_ms
    if "request_timeout_ms" in found:
        timeout = (
            reader.integer(
                found["request_timeout_ms"],
                f"{key}.request_timeout_ms",
                minimum=1,
                maximum=MAX_REQUEST_TIMEOUT_MS[kind],
            )
            or timeout
        )
    concurrency = defaults.max_concurrent_requests_per_instance
    if "max_concurrent_requests_per_instance" in found:
        concurrency = (
            reader.integer(
                found["max_concurrent_requests_per_instance"],
                f"{key}.max_concurrent_requests_per_instance",
                minimum=1,
            )
            or concurrency
        )
    queue_wait = defaults.max_queue_wait_ms
    if "max_queue_wait_ms" in found:
        reader.warning(
            found["max_queue_wait_ms"],
            f"{key}.max_queue_wait_ms",
            "max_queue_wait_ms is deprecated",
            "raise request_timeout_ms instead",
        )
        queue_wait = (
            reader.integer(found["max_queue_wait_ms"], f"{key}.max_queue_wait_ms", minimum=0) or queue_wait
        )
    return RequestSettings(timeout, concurrency, queue_wait)


def _probe(reader: Reader, node: yaml.Node | None, key: str) -> ProbeSettings:
    defaults = ProbeSettings()
    if node is None:
        return defaults
    names = ("initial_delay", "period", "timeout", "success_threshold", "failure_threshold")
    found = reader.fields(node, key, names)
    if found is None:
        return defaults
    values = {
        name: reader.integer(found[name], join(key, name), minimum=1) if name in found else None
        for name in names
    }
    if key == "liveness_probe" and values["success_threshold"] not in (None, 1):
        reader.error(found["success_threshold"], f"{key}.success_threshold", "must be 1 for a liveness probe")
    return ProbeSettings(**{name: value or getattr(defaults, name) for name, value in values.items()})


def _scale_settings(reader: Reader, node: yaml.Node | None, kind: str) -> ScaleSettings:
    if node is None:
        return ScaleSettings()
    key = "scale_settings"
    names = ("type", "min_instances", "max_instances", "target_utilization_percentage", "polling_interval")
    found = reader.fields(node, key, names)
    if found is None:
        return ScaleSettings()
    scale_type = "default"
    if "type" in found:
        scale_type = (
            reader.choice(found["type"], f"{key}.type", ("default", "target_utilization"), snake_case=True)
            or scale_type
        )
    if scale_type == "target_utilization" and kind == "managed":
        reader.error(
            found["type"],
            f"{key}.type",
            "ManagedOnlineEndpoint supports DefaultScaleSettings only.",
            "managed endpoints scale with Azure Monitor autoscale",
        )
    numbers = {n: reader.integer(found[n], join(key, n), minimum=0) for n in names[1:] if n in found}
    if scale_type == "default" and numbers:
        first = next(iter(numbers))
        reader.error(found[first], join(key, first), "only target_utilization scale settings take limits")
    return ScaleSettings(scale_type, **numbers)


def _environment_variables(reader: Reader, node: yaml.Node | None) -> dict[str, str]:
    if node is None:
        return {}
    values = reader.string_map(node, "environment_variables")
    for name, value in values.items():
        if value.startswith("${{") and not _SECRET.match(value):
            reader.problems.warning(
                reader.where(join("environment_variables", name)),
                join("environment_variables", name),
                "looks like a secret reference but is not one Azure resolves",
                "use ${{azureml://connections/<name>/...}} or ${{keyvault:https://<vault>.vault.azure.net/secrets/<name>}}",
            )
    return values


def _data_collector(reader: Reader, node: yaml.Node) -> DataCollector | None:
    key = "data_collector"
    found = reader.fields(
        node, key, ("sampling_rate", "rolling_rate", "collections", "request_logging", "destination")
    )
    if found is None:
        return None
    rate = 1.0
    if "sampling_rate" in found:
        value = reader.number(found["sampling_rate"], f"{key}.sampling_rate")
        if value is not None and not 0.0 <= value <= 1.0:
            reader.error(
                found["sampling_rate"],
                f"{key}.sampling_rate",
                "Sampling rate must be an number in range (0.0-1.0)",
            )
        elif value is not None:
            rate = value
    rolling = "hour"
    if "rolling_rate" in found:
        rolling = (
            reader.choice(
                found["rolling_rate"], f"{key}.rolling_rate", ("minute", "hour", "day", "month", "year")
            )
            or rolling
        )
    collections: list[DataCollection] = []
    if "collections" in found:
        for name, entry in reader.entries(found["collections"], f"{key}.collections"):
            path = f"{key}.collections.{name}"
            fields = reader.fields(entry, path, ("enabled", "data", "client_id"))
            if fields is None:
                continue
            enabled = reader.boolean(fields["enabled"], f"{path}.enabled") if "enabled" in fields else False
            client = (
                reader.string(fields["client_id"], f"{path}.client_id") if "client_id" in fields else None
            )
            if "data" in fields:
                reader.fields(fields["data"], f"{path}.data", ("name", "path", "version"))
            collections.append(DataCollection(name, bool(enabled), client))
    headers: list[str] = []
    if "request_logging" in found:
        logging = reader.fields(found["request_logging"], f"{key}.request_logging", ("capture_headers",))
        if logging and "capture_headers" in logging:
            headers = reader.string_list(logging["capture_headers"], f"{key}.request_logging.capture_headers")
    return DataCollector(rate, rolling, tuple(collections), tuple(headers))


def _mount_path(reader: Reader, node: yaml.Node | None) -> str | None:
    if node is None:
        return None
    path = reader.string(node, "model_mount_path")
    if path is not None and not path.startswith("/"):
        reader.error(node, "model_mount_path", f"must be an absolute Linux path, got '{path}'")
        return None
    if path is not None:
        reader.warning(
            node,
            "model_mount_path",
            "applied by the Docker runtime (the model at <path>/<name>/<version>, AZUREML_MODEL_DIR "
            "says so); a process instance finds it where AZUREML_MODEL_DIR says instead",
        )
    return path


def _resources(reader: Reader, node: yaml.Node | None, kind: str) -> dict[str, dict[str, str]]:
    if node is None:
        return {}
    if kind == "managed":
        reader.error(
            node,
            "resources",
            "resources is for Kubernetes deployments",
            "managed deployments are sized by instance_type",
        )
        return {}
    found = reader.fields(node, "resources", ("requests", "limits"))
    if found is None:
        return {}
    if found:
        reader.warning(
            node,
            "resources",
            "requests and limits are not applied locally: a process has no limits, a container only "
            "those of an instance_type",
        )
    return {name: reader.string_map(value, f"resources.{name}") for name, value in found.items()}


def _optional_int(
    reader: Reader, found: dict[str, yaml.Node], key: str, default: int, *, minimum: int, maximum: int
) -> int:
    if key not in found:
        return default
    value = reader.integer(found[key], key, minimum=minimum, maximum=maximum)
    return default if value is None else value


def _optional_bool(reader: Reader, found: dict[str, yaml.Node], key: str) -> bool:
    return bool(reader.boolean(found[key], key)) if key in found else False
