"""The engine's figures in Prometheus' text format (`GET /metrics` on the control API, with its
token), named after Azure Monitor's metrics for online endpoints and deployments:

    azureml_online_endpoint_requests_total          RequestsPerMinute (as a counter: rate() it)
    azureml_online_endpoint_request_latency_ms      RequestLatency (a histogram)
    azureml_online_endpoint_mirrored_requests_total  the mirror's copies
    azureml_online_deployment_capacity               DeploymentCapacity (instances asked for)
    azureml_online_deployment_ready_instances        instances that serve
    azureml_online_deployment_cpu_utilization_percentage   CpuUtilizationPercentage, per instance
    azureml_online_deployment_memory_bytes           memory in use, per instance
    azureml_online_endpoint_connections_active       ConnectionsActive
    azureml_online_endpoint_connections_total        NewConnectionsPerSecond (as a counter)
    azureml_online_endpoint_network_bytes_total      NetworkBytes, by direction (in, out)
    azureml_online_deployment_gpu_utilization_percentage   GpuUtilizationPercentage, per GPU
    azureml_online_deployment_gpu_memory_used_bytes  GPU memory in use (GpuMemoryUtilization's numerator)

Labelled by endpoint, deployment (and instance, and status code). Figures count from the
engine's start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from workbench.contract import GpuFigures, Network, ProcessFigures
from workbench.router.endpoint import HISTOGRAM_BOUNDS_MS, DeploymentFigures
from workbench.state import EndpointState, InstancePhase

PREFIX = "azureml_online_"


def exposition(
    endpoints: Iterable[EndpointState],
    figures: Mapping[str, Mapping[str, DeploymentFigures]],
    instances: Mapping[tuple[str, str, str], ProcessFigures],
    networks: Mapping[str, Network] | None = None,
    gpus: Sequence[GpuFigures] = (),
) -> str:
    """`figures`: endpoint -> deployment -> the router's figures; `instances`: (endpoint,
    deployment, instance) -> CPU and memory; `networks`: endpoint -> its scoring port's
    connections and bytes; `gpus`: the machine's GPUs."""
    out = _Text()
    out.family("endpoint_requests_total", "counter", "Requests answered, by status code (RequestsPerMinute).")
    for endpoint, deployments in figures.items():
        for deployment, figure in deployments.items():
            for status, count in sorted(figure.statuses.items()):
                out.sample(
                    "endpoint_requests_total",
                    count,
                    endpoint=endpoint,
                    deployment=deployment,
                    status_code=str(status),
                )
    out.family(
        "endpoint_request_latency_ms", "histogram", "Latency through the router, in ms (RequestLatency)."
    )
    for endpoint, deployments in figures.items():
        for deployment, figure in deployments.items():
            cumulative = 0
            for bound, count in zip((*HISTOGRAM_BOUNDS_MS, "+Inf"), figure.histogram, strict=True):
                cumulative += count
                out.sample(
                    "endpoint_request_latency_ms_bucket",
                    cumulative,
                    endpoint=endpoint,
                    deployment=deployment,
                    le=str(bound),
                )
            out.sample(
                "endpoint_request_latency_ms_sum",
                round(figure.latency_sum_ms, 3),
                endpoint=endpoint,
                deployment=deployment,
            )
            out.sample(
                "endpoint_request_latency_ms_count", figure.requests, endpoint=endpoint, deployment=deployment
            )
    out.family("endpoint_mirrored_requests_total", "counter", "Copies sent to the mirror deployment.")
    for endpoint, deployments in figures.items():
        for deployment, figure in deployments.items():
            if figure.mirrored:
                out.sample(
                    "endpoint_mirrored_requests_total",
                    figure.mirrored,
                    endpoint=endpoint,
                    deployment=deployment,
                )
    out.family("deployment_capacity", "gauge", "Instances asked for (DeploymentCapacity).")
    out.family("deployment_ready_instances", "gauge", "Instances that serve.")
    for state in endpoints:
        for running in state.deployments:
            labels = {"endpoint": state.name, "deployment": running.name}
            out.sample("deployment_capacity", running.instance_count, **labels)
            ready = sum(1 for i in running.instances if i.state is InstancePhase.READY)
            out.sample("deployment_ready_instances", ready, **labels)
    out.family(
        "deployment_cpu_utilization_percentage", "gauge", "CPU of an instance's processes, % of one core."
    )
    out.family("deployment_memory_bytes", "gauge", "Resident memory of an instance's processes.")
    for (endpoint, deployment, instance), process in sorted(instances.items()):
        labels = {"endpoint": endpoint, "deployment": deployment, "instance": instance}
        out.sample("deployment_cpu_utilization_percentage", round(process.cpu_percent, 1), **labels)
        out.sample("deployment_memory_bytes", process.rss_bytes, **labels)
    networks = dict(sorted((networks or {}).items()))
    out.family("endpoint_connections_active", "gauge", "Client connections open now (ConnectionsActive).")
    for endpoint, network in networks.items():
        out.sample("endpoint_connections_active", network.connections_active, endpoint=endpoint)
    out.family(
        "endpoint_connections_total", "counter", "Client connections accepted (NewConnectionsPerSecond)."
    )
    for endpoint, network in networks.items():
        out.sample("endpoint_connections_total", network.connections_total, endpoint=endpoint)
    out.family("endpoint_network_bytes_total", "counter", "Bytes from and to clients (NetworkBytes).")
    for endpoint, network in networks.items():
        out.sample("endpoint_network_bytes_total", network.bytes_in, endpoint=endpoint, direction="in")
        out.sample("endpoint_network_bytes_total", network.bytes_out, endpoint=endpoint, direction="out")
    for family, help_text, value in (
        ("gpu_utilization_percentage", "GPU use (GpuUtilizationPercentage).", "utilization_percent"),
        ("gpu_memory_used_bytes", "GPU memory in use.", "memory_used_bytes"),
        ("gpu_memory_total_bytes", "GPU memory in all.", "memory_total_bytes"),
    ):
        out.family(f"deployment_{family}", "gauge", help_text)
        for gpu in gpus:
            out.sample(f"deployment_{family}", getattr(gpu, value), gpu=str(gpu.index), name=gpu.name)
    return out.text()


class _Text:
    """Families in the order declared, each with its samples in one group (as the text format
    requires), whatever order the samples come in."""

    def __init__(self) -> None:
        self._families: dict[str, list[str]] = {}

    def family(self, name: str, kind: str, help_text: str) -> None:
        self._families[name] = [f"# HELP {PREFIX}{name} {help_text}", f"# TYPE {PREFIX}{name} {kind}"]

    def sample(self, name: str, value: float, /, **labels: str) -> None:
        family = max((f for f in self._families if name.startswith(f)), key=len)  # _bucket, _sum, _count
        shown = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        self._families[family].append(f"{PREFIX}{name}{{{shown}}} {value}")

    def text(self) -> str:
        return "\n".join(line for lines in self._families.values() for line in lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
