"""Observed state: what the engine sees of endpoints, deployments and instances, in Azure's words.

Plain data with JSON in and out, shared by the engine (which fills it) and its clients (the CLI,
the TUI), which read it from the control API.
"""

from __future__ import annotations

import enum
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.contract import Failure, failure_or_none


class ProvisioningState(str, enum.Enum):
    CREATING = "Creating"
    UPDATING = "Updating"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    DELETING = "Deleting"


class InstancePhase(str, enum.Enum):
    STARTING = "Starting"
    READY = "Ready"
    DRAINING = "Draining"
    """Out of the route table, finishing the requests it had; then it stops."""
    UNREADY = "Unready"
    CRASHED = "Crashed"
    FAILED = "Failed"
    STOPPED = "Stopped"


@dataclass
class InstanceState:
    id: str
    state: InstancePhase = InstancePhase.STARTING
    url: str | None = None
    pid: int | None = None
    restarts: int = 0
    exit_code: int | None = None
    debug_port: int | None = None
    """Where debugpy listens (127.0.0.1) while the instance runs under the debugger."""
    since: float = field(default_factory=time.time)
    """When it entered its phase (epoch seconds): "Starting 12s"."""
    handing_over: bool = False
    """Restarting while its previous process still serves, until the new one is ready."""

    @property
    def serves(self) -> bool:
        """Ready, or its previous process serves while it restarts: counted as ready."""
        return self.state is InstancePhase.READY or self.handing_over

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "state" and getattr(self, "state", value) is not value:
            object.__setattr__(self, "since", time.time())  # a new phase starts now
        object.__setattr__(self, name, value)


@dataclass
class DeploymentState:
    name: str
    provisioning_state: ProvisioningState = ProvisioningState.CREATING
    instance_count: int = 1
    instances: list[InstanceState] = field(default_factory=list)
    reason: str | None = None
    """Why the deployment failed, in Azure's words, with the last lines of the log."""
    last_reload: str | None = None
    """The last code reload: how long it took, or why it failed, with the file and line."""
    failure: Failure | None = None
    """Where the user's code last failed (a failed start or reload), until a fix loads."""
    reloads: int = 0
    """Code reloads finished (whatever their outcome) since the engine started: a client that asked
    for one knows it is done when this grows."""
    faults: str | None = None
    """Faults injected on purpose (`workbench fault`), in words; None when there are none."""
    scaled: str | None = None
    """A scale override in force (`workbench scale`, autoscale), in words; None when the YAML's
    instance_count holds."""
    autoscale: str | None = None
    """The autoscale settings it follows (workbench.yaml, `az monitor autoscale`), in words."""
    scoring_errors: int = 0
    """Requests its run() failed (answered 424) since the engine started."""
    last_scoring_error: Failure | None = None
    """Where run() last failed: the project's file and line, from the instance's traceback."""
    spec: dict[str, str] = field(default_factory=dict)
    """What its YAML says, in words (DeploymentSpec.summary): file and line, model, code, ..."""


@dataclass
class EndpointState:
    name: str
    auth_mode: str = "key"
    scoring_uri: str | None = None
    traffic: dict[str, int] = field(default_factory=dict)
    mirror_traffic: dict[str, int] = field(default_factory=dict)
    provisioning_state: ProvisioningState = ProvisioningState.CREATING
    deployments: list[DeploymentState] = field(default_factory=list)
    limits: str = ""
    """Which endpoint-wide limits apply: Azure's (emulated) or none, in words."""
    traffic_override: str | None = None
    """Where the split in force differs from the endpoint's YAML: what the YAML says, and who set
    the one in force (`workbench traffic`, `--all-traffic`, the dashboard); None when they agree."""

    def deployment(self, name: str) -> DeploymentState | None:
        return next((d for d in self.deployments if d.name == name), None)


class _Word(str, enum.Enum):
    """An enumeration whose members read as their words in text (f"{kind}" is "reload")."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class EventKind(_Word):
    """What an event is about; a client told of a kind it does not know reads OTHER."""

    ENGINE = "engine"
    ENGINE_ERROR = "engine-error"
    """The engine met a bug of its own (said with where, for a report)."""
    SPEC = "spec"
    """The project's files: read, reconciled, or refused with the problem."""
    ENDPOINT = "endpoint"
    DEPLOYMENT = "deployment"
    INSTANCE = "instance"
    BUILD = "build"
    RELOAD = "reload"
    """A deployment's code or model reloaded in place: what a save waits for."""
    RELOAD_FAILED = "reload-failed"
    SCORING_ERROR = "scoring-error"
    """run() raised for a request (a 424)."""
    AUTOSCALE = "autoscale"
    ROLLOUT = "rollout"
    """A canary rollout's steps, its judgements and its end (`workbench rollout`)."""
    DEBUG = "debug"
    OTHER = "other"


class EventSeverity(_Word):
    INFO = "info"
    WARNING = "warning"
    """Something went wrong and is being handled: a restart."""
    ERROR = "error"
    """It needs the user: a failed deployment, a failed reload, a broken spec."""


@dataclass
class Event:
    """Something that happened, with its cause: "blue/0 restarted: exited with code 1"."""

    kind: EventKind
    subject: str
    message: str
    time: float = field(default_factory=time.time)
    severity: EventSeverity = EventSeverity.INFO
    failure: Failure | None = None
    """Where the user's code failed, when that is what happened."""

    def line(self) -> str:
        stamp = time.strftime("%H:%M:%S", time.gmtime(self.time))  # UTC, as the logs: one clock
        return f"{stamp} {self.subject}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "kind": self.kind.value, "severity": self.severity.value}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        kinds = {k.value: k for k in EventKind}
        severities = {s.value: s for s in EventSeverity}
        return cls(
            kinds.get(str(data["kind"]), EventKind.OTHER),
            str(data["subject"]),
            str(data["message"]),
            float(data["time"]),
            severities.get(str(data.get("severity", "info")), EventSeverity.INFO),
            failure_or_none(data.get("failure")),
        )


def endpoints_to_json(endpoints: list[EndpointState]) -> list[dict[str, Any]]:
    return [_plain(asdict(e)) for e in endpoints]


def endpoints_from_json(data: list[dict[str, Any]]) -> list[EndpointState]:
    endpoints: list[EndpointState] = []
    for item in data:
        deployments = [
            DeploymentState(
                name=d["name"],
                provisioning_state=ProvisioningState(d["provisioning_state"]),
                instance_count=int(d["instance_count"]),
                instances=[
                    InstanceState(
                        id=i["id"],
                        state=InstancePhase(i["state"]),
                        url=i["url"],
                        pid=i["pid"],
                        restarts=int(i["restarts"]),
                        exit_code=i["exit_code"],
                        debug_port=i.get("debug_port"),
                        since=float(i.get("since", time.time())),
                        handing_over=bool(i.get("handing_over", False)),
                    )
                    for i in d["instances"]
                ],
                reason=d["reason"],
                last_reload=d.get("last_reload"),
                failure=failure_or_none(d.get("failure")),
                reloads=int(d.get("reloads", 0)),
                faults=d.get("faults"),
                scaled=d.get("scaled"),
                autoscale=d.get("autoscale"),
                scoring_errors=int(d.get("scoring_errors", 0)),
                last_scoring_error=failure_or_none(d.get("last_scoring_error")),
                spec={str(k): str(v) for k, v in (d.get("spec") or {}).items()},
            )
            for d in item["deployments"]
        ]
        endpoints.append(
            EndpointState(
                name=item["name"],
                auth_mode=item["auth_mode"],
                scoring_uri=item["scoring_uri"],
                traffic=dict(item["traffic"]),
                mirror_traffic=dict(item["mirror_traffic"]),
                provisioning_state=ProvisioningState(item["provisioning_state"]),
                deployments=deployments,
                limits=item.get("limits", ""),
                traffic_override=item.get("traffic_override"),
            )
        )
    return endpoints


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
