"""`GET /metrics`: the engine's figures in Prometheus' text format, read with prometheus_client's
own parser, matching what the router counted."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO
from tests.engine.harness import ECHO, deployment_yaml, engine, folder_with, key_headers
from workbench.client import EngineClient
from workbench.contract import GpuFigures
from workbench.engine.prometheus import exposition

REQUESTS = 7


def test_metrics_parse_as_prometheus_and_match_the_routers_counts(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(120)
        headers = key_headers(folder)
        for _ in range(REQUESTS):
            assert (
                httpx.post(endpoint.scoring_uri or "", json={}, headers=headers, timeout=30).status_code
                == 200
            )
        assert httpx.post(endpoint.scoring_uri or "", json={}, timeout=30).status_code == 401
        with EngineClient.for_folder(folder) as client:
            metrics = client.metrics("tests")
            counted = metrics.deployments["blue"].statuses
            answer = httpx.get(f"{client.url}/metrics", headers={"Authorization": f"Bearer {client.token}"})
            refused = httpx.get(f"{client.url}/metrics")
    assert refused.status_code == 401  # the control API's token, as everywhere
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}
    requests = {
        s.labels["status_code"]: s.value
        for s in families["azureml_online_endpoint_requests"].samples
        if s.labels["deployment"] == "blue"
    }
    assert requests == {status: float(count) for status, count in counted.items()}
    assert requests["200"] == REQUESTS
    latency = families["azureml_online_endpoint_request_latency_ms"]
    count = next(s.value for s in latency.samples if s.name.endswith("_count"))
    infinite = next(s.value for s in latency.samples if s.labels.get("le") == "+Inf")
    assert count == infinite == REQUESTS
    capacity = families["azureml_online_deployment_capacity"].samples[0]
    assert (capacity.labels["deployment"], capacity.value) == ("blue", 1.0)
    memory = families["azureml_online_deployment_memory_bytes"].samples[0]
    assert memory.labels["instance"] == "blue-0"
    assert memory.value > 0
    # the scoring port: each request above came on a connection of its own
    (accepted,) = families["azureml_online_endpoint_connections"].samples
    assert accepted.value == metrics.network.connections_total == REQUESTS + 1
    sent = {s.labels["direction"]: s.value for s in families["azureml_online_endpoint_network_bytes"].samples}
    assert sent == {"in": metrics.network.bytes_in, "out": metrics.network.bytes_out}
    assert sent["in"] > REQUESTS * len(b"{}")
    assert sent["out"] > REQUESTS * len(b"HTTP/1.1 200 OK")
    assert "azureml_online_endpoint_connections_active" in families


def test_gpus_are_exposed_per_gpu() -> None:
    """What NVML reports (no GPU on this machine: the figures of one as NVML gives them)."""
    h100 = GpuFigures(0, "NVIDIA H100 80GB HBM3", 73, 10 * 2**30, 80 * 2**30)
    families = {f.name: f for f in text_string_to_metric_families(exposition([], {}, {}, {}, [h100]))}
    (use,) = families["azureml_online_deployment_gpu_utilization_percentage"].samples
    assert (use.labels, use.value) == ({"gpu": "0", "name": "NVIDIA H100 80GB HBM3"}, 73.0)
    (used,) = families["azureml_online_deployment_gpu_memory_used_bytes"].samples
    assert used.value == 10 * 2**30


def test_the_grafana_dashboard_asks_only_for_metrics_the_engine_exposes() -> None:
    dashboard = json.loads((REPO / "examples" / "grafana" / "workbench-dashboard.json").read_text())
    asked = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"azureml_online_[a-z_]+", target["expr"])
    }
    exposed = set(re.findall(r"^# TYPE (azureml_online_[a-z_]+) (\w+)", exposition([], {}, {}), re.MULTILINE))
    names = {name for name, _ in exposed}
    histograms = {f"{name}_bucket" for name, kind in exposed if kind == "histogram"}
    assert asked
    assert asked <= names | histograms, asked - names - histograms
