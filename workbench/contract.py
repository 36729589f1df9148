"""The control API's bodies, other than status: typed objects with JSON in and out, shared by
the engine (which writes them), the client (which reads them) and the dashboard.

The JSON keeps the names users and scripts already read: Azure's own for credentials
(`primaryKey`, `accessToken`, epoch seconds), snake_case for the workbench's figures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Failure:
    """User code that failed: where (the project's file and line, never the staged copy), the
    exception's type and its message."""

    file: str
    line: int
    error: str
    message: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def summary(self) -> str:
        """`score.py:21: NameError: name 'x' is not defined`."""
        return (
            f"{self.where}: {self.error}: {self.message}" if self.message else f"{self.where}: {self.error}"
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Failure:
        return cls(
            str(data["file"]), int(data.get("line") or 0), str(data["error"]), str(data.get("message", ""))
        )


def failure_or_none(data: dict[str, Any] | None) -> Failure | None:
    return None if data is None else Failure.from_json(data)


@dataclass(frozen=True)
class Credentials:
    """An endpoint's keys (key auth) or a fresh token (aml_token auth), as `az ml online-endpoint
    get-credentials` prints them."""

    primary_key: str | None = None
    secondary_key: str | None = None
    access_token: str | None = None
    expiry_time_utc: int | None = None
    """Epoch seconds, as Azure's REST API gives them."""
    refresh_after_time_utc: int | None = None

    @property
    def secret(self) -> str:
        """What goes after `Bearer `: the primary key, or the token."""
        return self.primary_key or self.access_token or ""

    @property
    def kind(self) -> str:
        return "primary key" if self.primary_key else "token"

    def to_json(self) -> dict[str, str | int]:
        if self.access_token is not None:
            return {
                "accessToken": self.access_token,
                "tokenType": "Bearer",
                "expiryTimeUtc": self.expiry_time_utc or 0,
                "refreshAfterTimeUtc": self.refresh_after_time_utc or 0,
            }
        return {"primaryKey": self.primary_key or "", "secondaryKey": self.secondary_key or ""}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Credentials:
        if "accessToken" in data:
            return cls(
                access_token=str(data["accessToken"]),
                expiry_time_utc=int(data["expiryTimeUtc"]),
                refresh_after_time_utc=int(data["refreshAfterTimeUtc"]),
            )
        return cls(primary_key=str(data["primaryKey"]), secondary_key=str(data["secondaryKey"]))


@dataclass(frozen=True)
class Shell:
    """How to open a shell inside an instance, in its environment and its folder: a process's
    variables and working folder here, or `docker exec` into its container."""

    argv: tuple[str, ...]
    cwd: str | None = None
    env: dict[str, str] | None = None
    """The instance's variables (None: the caller's own, as for `docker exec`)."""

    def to_json(self) -> dict[str, Any]:
        return {"argv": list(self.argv), "cwd": self.cwd, "env": self.env}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Shell:
        env = data.get("env")
        return cls(
            tuple(str(a) for a in data["argv"]),
            str(data["cwd"]) if data.get("cwd") else None,
            {str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else None,
        )


@dataclass(frozen=True)
class DebugSession:
    """An instance under debugpy: where it listens, whether its init() waits for a debugger, and
    VS Code's attach configuration (in VS Code's own shape), written to `launch_json` unless that
    file is not plain JSON (None: the user adds the configuration)."""

    host: str
    port: int
    wait: bool
    configuration: dict[str, Any]
    launch_json: str | None = None
    remote_port: int | None = None
    """Through promote's SSH tunnel: the port debugpy listens on at the remote host."""

    @property
    def name(self) -> str:
        """The attach configuration's name in VS Code's Run and Debug list."""
        return str(self.configuration["name"])

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.remote_port is None:
            del data["remote_port"]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DebugSession:
        remote = data.get("remote_port")
        return cls(
            str(data["host"]),
            int(data["port"]),
            bool(data.get("wait", False)),
            dict(data["configuration"]),
            str(data["launch_json"]) if data.get("launch_json") else None,
            int(remote) if remote is not None else None,
        )


@dataclass(frozen=True)
class Timeline:
    """Per complete second, oldest first: requests, p50 and p99 latency (None: no request), and
    mirrored copies sent (a mirror target's load, which its live requests do not show)."""

    second: list[int] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    p50_ms: list[float | None] = field(default_factory=list)
    p99_ms: list[float | None] = field(default_factory=list)
    mirrored: list[int] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Timeline:
        return cls(
            [int(s) for s in data.get("second", [])],
            [int(r) for r in data.get("requests", [])],
            [_float_or_none(v) for v in data.get("p50_ms", [])],
            [_float_or_none(v) for v in data.get("p99_ms", [])],
            [int(m) for m in data.get("mirrored", [])],
        )


@dataclass(frozen=True)
class DeploymentMetrics:
    """What the router measured of one deployment since the engine started."""

    requests: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    """Count per status code (as a string, as in JSON)."""
    p50_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    histogram_le_ms: list[float | str] = field(default_factory=list)
    """Upper bounds of the latency histogram's buckets, the last "+Inf"."""
    histogram_counts: list[int] = field(default_factory=list)
    mirrored: int = 0
    mirror_statuses: dict[str, int] = field(default_factory=dict)
    timeline: Timeline = field(default_factory=Timeline)
    by_instance: dict[str, int] = field(default_factory=dict)
    """Requests each instance (by id) answered."""

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "statuses": self.statuses,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "mean_ms": self.mean_ms,
            "latency_histogram_ms": {"le": self.histogram_le_ms, "counts": self.histogram_counts},
            "mirrored": self.mirrored,
            "mirror_statuses": self.mirror_statuses,
            "timeline": asdict(self.timeline),
            "by_instance": self.by_instance,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeploymentMetrics:
        histogram = data.get("latency_histogram_ms") or {}
        return cls(
            requests=int(data.get("requests", 0)),
            statuses={str(k): int(v) for k, v in (data.get("statuses") or {}).items()},
            p50_ms=_float_or_none(data.get("p50_ms")),
            p99_ms=_float_or_none(data.get("p99_ms")),
            mean_ms=_float_or_none(data.get("mean_ms")),
            histogram_le_ms=list(histogram.get("le", [])),
            histogram_counts=[int(c) for c in histogram.get("counts", [])],
            mirrored=int(data.get("mirrored", 0)),
            mirror_statuses={str(k): int(v) for k, v in (data.get("mirror_statuses") or {}).items()},
            timeline=Timeline.from_json(data.get("timeline") or {}),
            by_instance={str(k): int(v) for k, v in (data.get("by_instance") or {}).items()},
        )


@dataclass(frozen=True)
class MirrorRecord:
    """One mirrored request: the live answer and the mirror's, by status, time and body digest."""

    request_id: str
    live_deployment: str
    live_status: int
    live_ms: float
    live_digest: str
    mirror_deployment: str
    mirror_status: int | None
    mirror_ms: float | None
    mirror_digest: str | None

    @property
    def verdict(self) -> str:
        """ "pending", "same" or "differs"."""
        if self.mirror_status is None:
            return "pending"
        same = self.mirror_status == self.live_status and self.mirror_digest == self.live_digest
        return "same" if same else "differs"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MirrorRecord:
        mirror_status = data.get("mirror_status")
        return cls(
            str(data["request_id"]),
            str(data["live_deployment"]),
            int(data["live_status"]),
            float(data["live_ms"]),
            str(data["live_digest"]),
            str(data["mirror_deployment"]),
            None if mirror_status is None else int(mirror_status),
            _float_or_none(data.get("mirror_ms")),
            None if data.get("mirror_digest") is None else str(data["mirror_digest"]),
        )


@dataclass(frozen=True)
class MirrorBodies:
    """The live and the mirror answer to one mirrored request (each cut at a few KB; the mirror's
    None when it gave none)."""

    request_id: str
    live: str
    mirror: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MirrorBodies:
        mirror = data.get("mirror")
        return cls(str(data["request_id"]), str(data["live"]), None if mirror is None else str(mirror))


@dataclass(frozen=True)
class MirrorSummary:
    """The mirror's counts (every copy sent, queued, in flight or dropped, with why) and its most
    recent records."""

    records: int = 0
    sent: int = 0
    queued: int = 0
    in_flight: int = 0
    dropped: int = 0
    dropped_why: dict[str, int] = field(default_factory=dict)
    differing: int = 0
    differing_share: float | None = None
    recent: list[MirrorRecord] = field(default_factory=list)
    differed: dict[str, int] = field(default_factory=dict)
    """Per mirror target, every copy whose answer differed since the router started (the
    counts above are of the recent records only)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MirrorSummary:
        return cls(
            records=int(data.get("records", 0)),
            sent=int(data.get("sent", 0)),
            queued=int(data.get("queued", 0)),
            in_flight=int(data.get("in_flight", 0)),
            dropped=int(data.get("dropped", 0)),
            dropped_why={str(k): int(v) for k, v in (data.get("dropped_why") or {}).items()},
            differing=int(data.get("differing", 0)),
            differing_share=_float_or_none(data.get("differing_share")),
            recent=[MirrorRecord.from_json(r) for r in data.get("recent") or []],
            differed={str(k): int(v) for k, v in (data.get("differed") or {}).items()},
        )


@dataclass(frozen=True)
class Network:
    """The endpoint's scoring port since the engine started (Azure's ConnectionsActive,
    NewConnectionsPerSecond and NetworkBytes)."""

    connections_active: int = 0
    connections_total: int = 0
    bytes_in: int = 0
    bytes_out: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Network:
        return cls(
            **{
                k: int(data.get(k, 0))
                for k in ("connections_active", "connections_total", "bytes_in", "bytes_out")
            }
        )


@dataclass(frozen=True)
class EndpointMetrics:
    deployments: dict[str, DeploymentMetrics] = field(default_factory=dict)
    mirror: MirrorSummary = field(default_factory=MirrorSummary)
    network: Network = field(default_factory=Network)

    def to_json(self) -> dict[str, Any]:
        return {
            "deployments": {name: figures.to_json() for name, figures in self.deployments.items()},
            "mirror": self.mirror.to_json(),
            "network": asdict(self.network),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EndpointMetrics:
        return cls(
            {str(k): DeploymentMetrics.from_json(v) for k, v in (data.get("deployments") or {}).items()},
            MirrorSummary.from_json(data.get("mirror") or {}),
            Network.from_json(data.get("network") or {}),
        )


@dataclass(frozen=True)
class ProcessFigures:
    """One instance, counted with its worker processes."""

    cpu_percent: float
    """Of one core: 200 means two cores busy."""
    rss_bytes: int
    processes: int


@dataclass(frozen=True)
class GpuFigures:
    index: int
    name: str
    utilization_percent: int
    memory_used_bytes: int
    memory_total_bytes: int


@dataclass(frozen=True)
class Telemetry:
    instances: dict[str, ProcessFigures] = field(default_factory=dict)
    """By "endpoint/instance id" (blue-0)."""
    gpus: list[GpuFigures] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Telemetry:
        return cls(
            {str(k): ProcessFigures(**v) for k, v in (data.get("instances") or {}).items()},
            [GpuFigures(**g) for g in data.get("gpus") or []],
        )


@dataclass(frozen=True)
class Recording:
    """Where an endpoint's requests are recorded, how many so far, and whether it goes on."""

    file: str
    requests: int
    recording: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Recording:
        return cls(str(data["file"]), int(data["requests"]), bool(data["recording"]))


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)
