"""`workbench.yaml`: the local-only settings that Azure's YAML has no place for.

    runtime: process            # or docker; the default for every deployment
    base_image: workbench-base:py3.11
    build: {pass_proxy: true, ca_bundle: /etc/ssl/certs/ca-certificates.crt}
    endpoints:
      my-endpoint:
        port: 18080
        limits: azure             # emulate Azure's endpoint-wide limits (default: none)
        rollout: {steps: [10, 50, 100], interval: 30, max_p99_ms: 200}  # spec/rollout.py
        auth: none                # no key or token, as Azure's local mode (default: the YAML's auth_mode)
        deployments:
          blue: {runtime: docker, gpus: all, server: azmlinfsrv, reuse_init: false, memory_limit: true}
    secrets:
      azureml://connections/my-conn/credentials/key: {env: MY_CONN_KEY}
    remotes:
      staging:
        host: me@staging          # anything `ssh` accepts: user@host, a ~/.ssh/config alias
        port: 2222                # optional, as `ssh -p`
        path: endpoints/my-project  # where the project lives there (relative to the home folder)
        runtime: docker           # the remote engine's runtime (default docker)
        address: 127.0.0.1        # where scoring URIs listen there (default loopback; others get TLS)
        tls_cert: /etc/ssl/me.pem  # with tls_key: the certificate there (else a self-signed one)
        ssh_options: [-F, ~/.ssh/staging.conf]  # more `ssh` options, as given

The Azure files are never rewritten: everything local lives here.
"""

from __future__ import annotations

import ipaddress
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from workbench.spec.autoscale import Autoscale, read_autoscale
from workbench.spec.faults import Faults, read_faults
from workbench.spec.problems import Location, Problems
from workbench.spec.reader import Reader, join
from workbench.spec.rollout import RolloutSettings, read_rollout
from workbench.spec.source import read_yaml

FILE_NAMES = ("workbench.yaml", "workbench.yml")
RUNTIMES = ("process", "docker")
SERVERS = ("workbench", "azmlinfsrv")
LIMITS = ("none", "azure")
AUTH = ("endpoint", "none")
_TOP_KEYS = ("runtime", "base_image", "build", "endpoints", "secrets", "remotes")


@dataclass(frozen=True)
class GpuRequest:
    """`all`, a count, or explicit device ids."""

    count: int | None = None
    device_ids: tuple[str, ...] = ()

    @property
    def all(self) -> bool:
        return self.count is None and not self.device_ids


@dataclass(frozen=True)
class DeploymentSettings:
    runtime: str | None = None
    gpus: GpuRequest | None = None
    server: str = "workbench"
    reuse_init: bool = True
    """A reload that changed neither init() nor the model keeps what init() built."""
    memory_limit: bool = True
    """The instance type's memory is enforced for processes too (OOMKilled past it), as in
    Docker and on Azure; false lifts it on this machine."""
    autoscale: Autoscale | None = field(default=None, compare=False)
    """Not part of what shapes an instance: changing the rules restarts nothing. Azure Monitor's
    autoscale rules for the deployment (spec/autoscale.py)."""
    faults: Faults | None = field(default=None, compare=False)
    """Injected into the deployment's requests by the router (spec/faults.py); changing them
    restarts nothing."""


@dataclass(frozen=True)
class EndpointSettings:
    port: int | None = None
    deployments: Mapping[str, DeploymentSettings] = field(default_factory=dict)
    limits: str = "none"
    """"azure": requests per second, active requests and bandwidth throttled at Azure's numbers."""
    auth: str = "endpoint"
    """"none": no key or token asked, as Azure's local mode (`az ml ... --local`); "endpoint":
    the endpoint YAML's auth_mode."""
    rollout: RolloutSettings | None = field(default=None, compare=False)
    """How a deployment is given its traffic in judged steps (spec/rollout.py); changing it
    restarts nothing."""


@dataclass(frozen=True)
class SecretValue:
    """A secret's value, given literally or read from an environment variable at start."""

    literal: str | None = field(default=None, repr=False)
    env: str | None = None


@dataclass(frozen=True)
class BuildSettings:
    pass_proxy: bool = False
    ca_bundle: Path | None = None


@dataclass(frozen=True)
class RemoteHost:
    """A host that `workbench promote NAME` runs the project on, reached with the system `ssh`."""

    name: str
    host: str
    port: int | None = None
    path: str = ""
    """The project's folder there, relative to the remote user's home unless absolute."""
    runtime: str = "docker"
    address: str = "127.0.0.1"
    """Where scoring URIs listen there; any address but loopback is served with TLS."""
    tls_cert: str | None = None
    tls_key: str | None = None
    """Their certificate and key on the remote host (else a self-signed one, made there)."""
    ssh_options: tuple[str, ...] = ()
    keep_releases: int = 5

    @property
    def folder(self) -> str:
        return self.path or f".workbench-remote/{self.name}"


@dataclass(frozen=True)
class LocalSettings:
    file: Path | None = None
    runtime: str = "process"
    base_image: str | None = None
    build: BuildSettings = BuildSettings()
    endpoints: Mapping[str, EndpointSettings] = field(default_factory=dict)
    secrets: Mapping[str, SecretValue] = field(default_factory=dict)
    remotes: Mapping[str, RemoteHost] = field(default_factory=dict)
    locations: Mapping[str, Location] = field(default_factory=dict, compare=False, repr=False)

    def where(self, key: str) -> Location:
        return self.locations.get(key, Location(self.file or Path(FILE_NAMES[0])))

    def deployment(self, endpoint: str, deployment: str) -> DeploymentSettings:
        settings = self.endpoints.get(endpoint, EndpointSettings()).deployments.get(deployment)
        return settings or DeploymentSettings()

    def runtime_for(self, endpoint: str, deployment: str) -> str:
        return self.deployment(endpoint, deployment).runtime or self.runtime


def is_loopback(address: str) -> bool:
    """Whether a listen address is this machine's loopback (127.0.0.0/8, ::1, localhost)."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def read_local_settings(path: Path, problems: Problems) -> LocalSettings:
    root = read_yaml(path, problems, what="workbench settings")
    if root is None:
        return LocalSettings(file=path)
    reader = Reader(path, problems)
    found = reader.fields(root, "", _TOP_KEYS, schema="docs/workbench-yaml.md")
    if found is None:
        return LocalSettings(file=path)
    runtime = reader.choice(found["runtime"], "runtime", RUNTIMES) if "runtime" in found else None
    secrets = _secrets(reader, found["secrets"]) if "secrets" in found else {}
    if any(s.literal is not None for s in secrets.values()):
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            reader.warning(
                found["secrets"],
                "secrets",
                f"file holds secret values and others can read it (mode {stat.S_IMODE(mode):o})",
                f"chmod 600 {path.name}, or use {{env: NAME}} values",
            )
    return LocalSettings(
        file=path,
        runtime=runtime or "process",
        base_image=reader.string(found["base_image"], "base_image") if "base_image" in found else None,
        build=_build(reader, found["build"], path.parent) if "build" in found else BuildSettings(),
        endpoints=_endpoints(reader, found["endpoints"]) if "endpoints" in found else {},
        secrets=secrets,
        remotes=_remotes(reader, found["remotes"]) if "remotes" in found else {},
        locations=reader.locations,
    )


def _endpoints(reader: Reader, node: yaml.Node) -> dict[str, EndpointSettings]:
    endpoints: dict[str, EndpointSettings] = {}
    for name, entry in reader.entries(node, "endpoints"):
        key = join("endpoints", name)
        found = reader.fields(entry, key, ("port", "deployments", "limits", "auth", "rollout"))
        if found is None:
            continue
        port = (
            reader.integer(found["port"], f"{key}.port", minimum=1024, maximum=65535)
            if "port" in found
            else None
        )
        deployments: dict[str, DeploymentSettings] = {}
        if "deployments" in found:
            for dep_name, dep_node in reader.entries(found["deployments"], f"{key}.deployments"):
                deployments[dep_name] = _deployment(reader, dep_node, f"{key}.deployments.{dep_name}")
        limits = reader.choice(found["limits"], f"{key}.limits", LIMITS) if "limits" in found else None
        auth = reader.choice(found["auth"], f"{key}.auth", AUTH) if "auth" in found else None
        rollout = read_rollout(reader, found["rollout"], f"{key}.rollout") if "rollout" in found else None
        endpoints[name] = EndpointSettings(port, deployments, limits or "none", auth or "endpoint", rollout)
    return endpoints


def _deployment(reader: Reader, node: yaml.Node, key: str) -> DeploymentSettings:
    found = reader.fields(
        node, key, ("runtime", "gpus", "server", "reuse_init", "memory_limit", "autoscale", "faults")
    )
    if found is None:
        return DeploymentSettings()
    runtime = reader.choice(found["runtime"], f"{key}.runtime", RUNTIMES) if "runtime" in found else None
    server = reader.choice(found["server"], f"{key}.server", SERVERS) if "server" in found else None
    gpus = _gpus(reader, found["gpus"], f"{key}.gpus") if "gpus" in found else None
    reuse_init = reader.boolean(found["reuse_init"], f"{key}.reuse_init") if "reuse_init" in found else None
    limit = reader.boolean(found["memory_limit"], f"{key}.memory_limit") if "memory_limit" in found else None
    autoscale = (
        read_autoscale(reader, found["autoscale"], f"{key}.autoscale") if "autoscale" in found else None
    )
    faults = read_faults(reader, found["faults"], f"{key}.faults") if "faults" in found else None
    return DeploymentSettings(
        runtime,
        gpus,
        server or "workbench",
        True if reuse_init is None else reuse_init,
        True if limit is None else limit,
        autoscale,
        faults,
    )


def _gpus(reader: Reader, node: yaml.Node, key: str) -> GpuRequest | None:
    if isinstance(node, yaml.SequenceNode):
        ids = [reader.text(item, f"{key}[{i}]") for i, item in enumerate(node.value)]
        return GpuRequest(device_ids=tuple(i for i in ids if i is not None))
    value = reader.scalar(node)
    if value == "all":
        return GpuRequest()
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return GpuRequest(count=value)
    reader.error(node, key, "expected 'all', a number of GPUs (1 or more), or a list of device ids")
    return None


def _secrets(reader: Reader, node: yaml.Node) -> dict[str, SecretValue]:
    secrets: dict[str, SecretValue] = {}
    for reference, value_node in reader.entries(node, "secrets"):
        key = join("secrets", reference)
        if not reference.startswith(("azureml://", "keyvault:")):
            reader.problems.error(
                reader.where(key),
                key,
                "secret keys are references: azureml://connections/... or keyvault:https://...",
            )
            continue
        if isinstance(value_node, yaml.MappingNode):
            found = reader.fields(value_node, key, ("env",))
            if found and "env" in found:
                env = reader.string(found["env"], f"{key}.env")
                if env:
                    secrets[reference] = SecretValue(env=env)
            continue
        literal = reader.text(value_node, key)
        if literal is not None:
            secrets[reference] = SecretValue(literal=literal)
    return secrets


def _build(reader: Reader, node: yaml.Node, base: Path) -> BuildSettings:
    found = reader.fields(node, "build", ("pass_proxy", "ca_bundle"))
    if found is None:
        return BuildSettings()
    ca_bundle: Path | None = None
    if "ca_bundle" in found:
        text = reader.string(found["ca_bundle"], "build.ca_bundle")
        if text is not None:
            ca_bundle = (base / text).resolve()
            if not ca_bundle.is_file():
                reader.error(found["ca_bundle"], "build.ca_bundle", f"CA bundle '{text}' does not exist")
                ca_bundle = None
    pass_proxy = (
        bool(reader.boolean(found["pass_proxy"], "build.pass_proxy")) if "pass_proxy" in found else False
    )
    return BuildSettings(pass_proxy, ca_bundle)


def _remotes(reader: Reader, node: yaml.Node) -> dict[str, RemoteHost]:
    remotes: dict[str, RemoteHost] = {}
    for name, entry in reader.entries(node, "remotes"):
        key = join("remotes", name)
        fields = (
            "host", "port", "path", "runtime", "address",
            "tls_cert", "tls_key", "ssh_options", "keep_releases",
        )  # fmt: skip
        found = reader.fields(entry, key, fields)
        if found is None:
            continue
        if "host" not in found:
            reader.error(
                entry, f"{key}.host", "Missing data for required field.", "an `ssh` destination: user@host"
            )
            continue
        host = reader.string(found["host"], f"{key}.host")
        if not host:
            continue
        if host.startswith("-"):
            reader.error(found["host"], f"{key}.host", "a host cannot start with '-'")
            continue
        port = (
            reader.integer(found["port"], f"{key}.port", minimum=1, maximum=65535)
            if "port" in found
            else None
        )
        runtime = reader.choice(found["runtime"], f"{key}.runtime", RUNTIMES) if "runtime" in found else None
        keep = (
            reader.integer(found["keep_releases"], f"{key}.keep_releases", minimum=1, maximum=100)
            if "keep_releases" in found
            else None
        )
        remotes[name] = RemoteHost(
            name,
            host,
            port=port,
            path=(reader.string(found["path"], f"{key}.path") or "") if "path" in found else "",
            runtime=runtime or "docker",
            address=(reader.string(found["address"], f"{key}.address") or "127.0.0.1")
            if "address" in found
            else "127.0.0.1",
            ssh_options=tuple(reader.string_list(found["ssh_options"], f"{key}.ssh_options"))
            if "ssh_options" in found
            else (),
            keep_releases=keep or 5,
            tls_cert=reader.string(found["tls_cert"], f"{key}.tls_cert") if "tls_cert" in found else None,
            tls_key=reader.string(found["tls_key"], f"{key}.tls_key") if "tls_key" in found else None,
        )
    return remotes
