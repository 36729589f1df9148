"""A source with fixed data, for snapshot tests of the dashboard: the same screen every run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from workbench.client import Invocation
from workbench.contract import (
    Credentials,
    DebugSession,
    EndpointMetrics,
    MirrorBodies,
    ProcessFigures,
    Shell,
    Telemetry,
)
from workbench.state import (
    DeploymentState,
    EndpointState,
    Event,
    EventKind,
    InstancePhase,
    InstanceState,
    ProvisioningState,
)

T0 = 1_790_000_000.0  # a fixed clock: 2026-09-21 14:13:20 UTC
ROOT = Path("/projects/quickstart")
"""Shown in the title; the same on every machine."""
SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "sample-request.json"


def quickstart() -> list[EndpointState]:
    def deployment(name: str, state: InstancePhase, restarts: int = 0) -> DeploymentState:
        return DeploymentState(
            name=name,
            provisioning_state=ProvisioningState.SUCCEEDED,
            instance_count=1,
            instances=[
                InstanceState(
                    id=f"{name}-0",
                    state=state,
                    url="http://127.0.0.1:5001",
                    pid=100,
                    restarts=restarts,
                    since=T0,
                )
            ],
        )

    return [
        EndpointState(
            name="quickstart",
            auth_mode="key",
            scoring_uri="http://127.0.0.1:18080/score",
            traffic={"blue": 90, "green": 10},
            mirror_traffic={},
            provisioning_state=ProvisioningState.SUCCEEDED,
            deployments=[
                deployment("blue", InstancePhase.READY),
                deployment("green", InstancePhase.READY, 2),
            ],
        )
    ]


def crowded(count: int = 20) -> list[EndpointState]:
    """One endpoint with a long name and `count` deployments with long names, in every state."""
    phases = list(InstancePhase)
    states = list(ProvisioningState)
    deployments = [
        DeploymentState(
            name=f"deployment-with-a-rather-long-name-{index:02d}",
            provisioning_state=states[index % len(states)],
            instance_count=2,
            instances=[
                InstanceState(
                    id=f"deployment-with-a-rather-long-name-{index:02d}-{n}",
                    state=phases[(index + n) % len(phases)],
                    since=T0 - 3 * n,
                )
                for n in range(2)
            ],
            reason=None,
        )
        for index in range(count)
    ]
    traffic = {d.name: 5 for d in deployments}
    return [
        EndpointState(
            name="an-endpoint-whose-name-is-as-long-as-azure-allows-it-to-be",
            scoring_uri="http://127.0.0.1:18081/score",
            traffic=traffic,
            provisioning_state=ProvisioningState.UPDATING,
            deployments=deployments,
        )
    ]


def timeline(seconds: int, rate: int) -> dict[str, list[Any]]:
    requests = [(rate * (1 + (s % 7))) // 4 for s in range(seconds)]
    return {
        "second": [int(T0) - seconds + s for s in range(seconds)],
        "requests": requests,
        "p50_ms": [0.4 + (s % 5) * 0.05 for s in range(seconds)],
        "p99_ms": [1.0 + (s % 11) * 0.2 for s in range(seconds)],
    }


class FixedSource:
    def __init__(self, endpoints: list[EndpointState], root: Path = ROOT) -> None:
        self.root = root
        self.endpoints = endpoints
        self.actions: list[tuple[Any, ...]] = []
        self.closed = False
        self.log_length = 30
        """How many lines each log has."""
        self.more_log: list[str] = []
        """Lines after those, as a test gives them."""
        self.more_events: list[Event] = []
        """Events after the first three, as a test gives them."""

    def now(self) -> float:
        return T0 + 12

    async def close(self) -> None:
        self.closed = True

    async def status(self) -> list[EndpointState]:
        return self.endpoints

    async def metrics(self, endpoint: str) -> EndpointMetrics:
        return EndpointMetrics.from_json(
            {
                "deployments": {
                    "blue": {
                        "requests": 5400,
                        "statuses": {"200": 5390, "424": 10},
                        "p50_ms": 0.45,
                        "p99_ms": 2.1,
                        "timeline": timeline(120, 40),
                        "by_instance": {"blue-0": 5400},
                    },
                    "green": {
                        "requests": 600,
                        "statuses": {"200": 600},
                        "p50_ms": 0.5,
                        "p99_ms": 2.4,
                        "mirrored": 0,
                        "timeline": timeline(120, 5),
                        "by_instance": {"green-0": 600},
                    },
                },
                "mirror": {
                    "records": 3,
                    "sent": 3,
                    "queued": 0,
                    "in_flight": 0,
                    "dropped": 2,
                    "dropped_why": {"queue full: the mirror deployment does not keep up": 2},
                    "differing": 1,
                    "differing_share": 0.3333,
                    "recent": [
                        {
                            "request_id": f"req-{n}",
                            "live_deployment": "blue",
                            "live_status": 200,
                            "live_ms": 1.2,
                            "live_digest": "a",
                            "mirror_deployment": "green",
                            "mirror_status": 200 if n else 500,
                            "mirror_ms": 1.5,
                            "mirror_digest": "a" if n else "b",
                        }
                        for n in range(3)
                    ],
                },
            }
        )

    async def telemetry(self) -> Telemetry:
        sample = ProcessFigures(cpu_percent=12.5, rss_bytes=150_000_000, processes=1)
        return Telemetry({"quickstart/blue-0": sample, "quickstart/green-0": sample}, [])

    async def events(self) -> AsyncIterator[Event]:
        for n, (subject, message) in enumerate(
            [
                ("quickstart", "Succeeded: endpoint created"),
                ("quickstart/blue", "Succeeded: 1/1 instance(s) ready in 1.2 s"),
                ("quickstart/green", "Succeeded: 1/1 instance(s) ready in 1.2 s"),
            ]
        ):
            yield Event(EventKind.DEPLOYMENT, subject, message, T0 + n)
        for event in self.more_events:
            yield event

    async def logs(self, endpoint: str, deployment: str, container: str, instance: str) -> AsyncIterator[str]:
        for n in range(self.log_length):
            subject = deployment or endpoint
            yield f"2026-09-21 14:13:{n:02d},000 I [100] azmlinfsrv - {container} line {n} of {subject}"
        for line in self.more_log:
            yield line

    async def mirror_bodies(self, endpoint: str, request_id: str) -> MirrorBodies:
        n = int(request_id.rsplit("-", 1)[-1])
        return MirrorBodies(
            request_id, '{"predictions": [11055.98]}', '{"predictions": [11055.98]}' if n else "oops"
        )

    async def credentials(self, endpoint: str) -> Credentials:
        return Credentials(primary_key="not-a-real-key", secondary_key="not-a-real-key-either")

    async def set_faults(self, endpoint: str, deployment: str, faults: dict[str, float]) -> str:
        self.actions.append(("faults", endpoint, deployment, faults))
        return "set"

    async def kill(self, endpoint: str, deployment: str, instance: str) -> None:
        self.actions.append(("kill", endpoint, deployment, instance))

    async def pressure(
        self, endpoint: str, deployment: str, cpu_cores: int, memory_mb: int, seconds: float
    ) -> str:
        self.actions.append(("pressure", endpoint, deployment, cpu_cores, memory_mb, seconds))
        return "applied"

    async def set_traffic(self, endpoint: str, traffic: dict[str, int], mirror: dict[str, int]) -> None:
        self.actions.append(("traffic", endpoint, traffic, mirror))

    async def restart(self, endpoint: str, deployment: str, instance: str) -> None:
        self.actions.append(("restart", endpoint, deployment, instance))

    async def stop_debugging(self, endpoint: str, deployment: str, instance: str) -> None:
        self.actions.append(("stop_debugging", endpoint, deployment, instance))

    async def restart_all(self, endpoint: str, deployment: str) -> None:
        self.actions.append(("restart_all", endpoint, deployment))

    async def reload(self, endpoint: str, deployment: str) -> None:
        self.actions.append(("reload", endpoint, deployment))

    async def scale(self, endpoint: str, deployment: str, instance_count: int) -> None:
        self.actions.append(("scale", endpoint, deployment, instance_count))

    async def shell(self, endpoint: str, deployment: str, instance: str) -> Shell:
        self.actions.append(("shell", endpoint, deployment, instance))
        return Shell(("true",))

    async def debug(self, endpoint: str, deployment: str, instance: str) -> DebugSession:
        self.actions.append(("debug", endpoint, deployment, instance))
        return DebugSession("127.0.0.1", 5678, False, {"name": f"workbench: attach {endpoint}/{instance}"})

    async def invoke(self, endpoint: str, body: bytes, deployment: str | None) -> Invocation:
        return Invocation(
            endpoint=endpoint,
            deployment=deployment,
            status=200,
            served_by=deployment or "blue",
            headers={
                "azureml-model-deployment": deployment or "blue",
                "x-request-id": "00000000-0000-0000-0000-000000000001",
            },
            body="[206.1, 68.1]",
            latency_ms=3.2,
            sent_at=T0,
        )

    def request_files(self) -> list[Path]:
        return [SAMPLE]
