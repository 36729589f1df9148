"""Online endpoints: managed and Kubernetes (docs/azure.md, "Endpoints")."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from workbench.errors import WorkbenchError
from workbench.spec.names import read_name
from workbench.spec.problems import Location, Problems
from workbench.spec.reader import Reader, join

ENDPOINT_KEYS = (
    "$schema", "name", "description", "tags", "auth_mode", "traffic", "mirror_traffic",
    "identity", "public_network_access", "properties", "compute", "kind",
)  # fmt: skip
SCHEMA_LINK = "https://aka.ms/ml-cli-v2-endpoint-online-yaml-reference"


class AuthMode(str, enum.Enum):
    KEY = "key"
    AML_TOKEN = "aml_token"
    AAD_TOKEN = "aad_token"


@dataclass(frozen=True)
class Identity:
    type: str = "system_assigned"
    user_assigned_identities: tuple[str, ...] = ()


@dataclass(frozen=True)
class EndpointSpec:
    name: str
    file: Path
    kind: str = "managed"
    """"managed" or "kubernetes"."""
    auth_mode: AuthMode = AuthMode.KEY
    traffic: Mapping[str, int] = field(default_factory=dict)
    mirror_traffic: Mapping[str, int] = field(default_factory=dict)
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    identity: Identity = Identity()
    public_network_access: str = "enabled"
    properties: Mapping[str, str] = field(default_factory=dict)
    compute: str | None = None
    locations: Mapping[str, Location] = field(default_factory=dict, compare=False, repr=False)

    def where(self, key: str) -> Location:
        return self.locations.get(key, Location(self.file))


def read_endpoint(
    node: yaml.Node, file: Path, problems: Problems, *, kubernetes: bool
) -> EndpointSpec | None:
    reader = Reader(file, problems)
    found = reader.fields(node, "", ENDPOINT_KEYS, schema=SCHEMA_LINK)
    if found is None:
        return None
    if "name" not in found:
        reader.error(node, "name", "Missing data for required field.")
        return None
    name = read_name(reader, found["name"], "an endpoint")
    kind = "kubernetes" if kubernetes or "compute" in found else "managed"
    auth_mode = AuthMode.KEY
    if "auth_mode" in found:
        chosen = reader.choice(found["auth_mode"], "auth_mode", [m.value for m in AuthMode], snake_case=True)
        auth_mode = AuthMode(chosen) if chosen else auth_mode
        if auth_mode is AuthMode.AAD_TOKEN and kind == "kubernetes":
            reader.error(found["auth_mode"], "auth_mode", "aad_token works for managed endpoints only")
    traffic = _percentages(reader, found["traffic"], "traffic") if "traffic" in found else {}
    if traffic and sum(traffic.values()) > 100:
        reader.error(
            found["traffic"], "traffic", "Traffic rule percentages must sum to less than or equal to 100%"
        )
    elif traffic and sum(traffic.values()) not in (0, 100):
        reader.error(
            found["traffic"],
            "traffic",
            f"traffic totals {sum(traffic.values())}%; the service accepts a total of 0 or 100",
        )
    mirror = (
        _percentages(reader, found["mirror_traffic"], "mirror_traffic") if "mirror_traffic" in found else {}
    )
    _check_mirror(reader, found.get("mirror_traffic"), mirror, traffic, kind)
    public = "enabled"
    if "public_network_access" in found:
        public = (
            reader.choice(found["public_network_access"], "public_network_access", ("enabled", "disabled"))
            or public
        )
    if name is None:
        return None
    return EndpointSpec(
        name=name,
        file=file,
        kind=kind,
        auth_mode=auth_mode,
        traffic=traffic,
        mirror_traffic=mirror,
        description=_optional_text(reader, found, "description"),
        tags=reader.string_map(found["tags"], "tags") if "tags" in found else {},
        identity=_identity(reader, found["identity"]) if "identity" in found else Identity(),
        public_network_access=public,
        properties=reader.string_map(found["properties"], "properties") if "properties" in found else {},
        compute=_optional_text(reader, found, "compute") or None,
        locations=reader.locations,
    )


def _percentages(reader: Reader, node: yaml.Node, key: str) -> dict[str, int]:
    values: dict[str, int] = {}
    for deployment, value_node in reader.entries(node, key):
        value = reader.integer(value_node, join(key, deployment), minimum=0, maximum=100)
        if value is not None:
            values[deployment] = value
    return values


def _check_mirror(
    reader: Reader,
    node: yaml.Node | None,
    mirror: Mapping[str, int],
    traffic: Mapping[str, int],
    kind: str,
) -> None:
    """The service's rules: one deployment, at most 50%, never one that has live traffic."""
    if node is None:
        return
    active = {name: share for name, share in mirror.items() if share > 0}
    if active and kind == "kubernetes":
        reader.error(node, "mirror_traffic", "mirror traffic is not supported on Kubernetes endpoints")
    if len(mirror) > 1:
        reader.error(node, "mirror_traffic", "mirror traffic can go to one deployment only")
    for name, share in active.items():
        key = join("mirror_traffic", name)
        if share > 50:
            reader.problems.error(reader.where(key), key, f"mirror traffic is at most 50%, got {share}%")
        if traffic.get(name, 0) > 0:
            reader.problems.error(
                reader.where(key),
                key,
                f"deployment '{name}' has live traffic ({traffic[name]}%) and cannot also "
                "receive mirror traffic",
            )


def _identity(reader: Reader, node: yaml.Node) -> Identity:
    found = reader.fields(node, "identity", ("type", "user_assigned_identities", "principal_id", "tenant_id"))
    if found is None:
        return Identity()
    kind = "system_assigned"
    if "type" in found:
        kind = (
            reader.choice(
                found["type"], "identity.type", ("system_assigned", "user_assigned", "none"), snake_case=True
            )
            or kind
        )
    ids: list[str] = []
    if "user_assigned_identities" in found:
        key = "identity.user_assigned_identities"
        items = reader.items(found["user_assigned_identities"], key)
        for index, item in enumerate(items):
            entry = reader.fields(
                item, f"{key}[{index}]", ("resource_id", "client_id", "principal_id", "object_id")
            )
            if entry and "resource_id" in entry:
                rid = reader.string(entry["resource_id"], f"{key}[{index}].resource_id")
                if rid:
                    ids.append(rid)
        if len(items) > 1:
            reader.error(
                found["user_assigned_identities"], key, "Only 1 user assigned identity is currently supported"
            )
    return Identity(kind, tuple(ids))


def _optional_text(reader: Reader, found: dict[str, yaml.Node], key: str) -> str:
    return (reader.text(found[key], key) or "") if key in found else ""


def spelled_as(shares: Mapping[str, int], deployments: Iterable[str]) -> dict[str, int]:
    """`shares` with each deployment name spelled as the deployment spells it: Azure compares
    traffic names without case (its SDK lower-cases them), so `Blue: 100` routes to `blue`."""
    spelling = {name.lower(): name for name in deployments}
    return {spelling.get(name.lower(), name): share for name, share in shares.items()}


def traffic_rules(traffic: Mapping[str, int], mirror: Mapping[str, int], deployments: set[str]) -> list[str]:
    """The traffic and mirror rules of the YAML and the service, for a change made at run time
    (`workbench traffic`): every broken rule as a message."""
    problems: list[str] = []
    for name, share in {**traffic, **mirror}.items():
        if name not in deployments:
            problems.append(f"deployment '{name}' does not exist (known: {', '.join(sorted(deployments))})")
        if not 0 <= share <= 100:
            problems.append(f"{name}: {share}% is not between 0 and 100")
    total = sum(traffic.values())
    if total > 100:
        problems.append("Traffic rule percentages must sum to less than or equal to 100%")
    elif traffic and total not in (0, 100):
        problems.append(f"traffic totals {total}%; the service accepts a total of 0 or 100")
    active = {name: share for name, share in mirror.items() if share > 0}
    if len(mirror) > 1:
        problems.append("mirror traffic can go to one deployment only")
    for name, share in active.items():
        if share > 50:
            problems.append(f"mirror traffic is at most 50%, got {share}%")
        if traffic.get(name, 0) > 0:
            problems.append(
                f"deployment '{name}' has live traffic ({traffic[name]}%) and cannot also receive "
                "mirror traffic"
            )
    return problems


def parse_shares(items: Iterable[str]) -> dict[str, int]:
    """`blue=90 green=10` as separate words, or as one quoted word as `az ml online-endpoint
    update --traffic` takes it."""
    shares: dict[str, int] = {}
    for item in (word for given in items for word in given.split()):
        name, _, value = item.partition("=")
        if not name or not value.strip().lstrip("-").isdigit():
            raise WorkbenchError(f"expected DEPLOYMENT=PERCENT, got '{item}'")
        shares[name.strip()] = int(value)
    return shares
