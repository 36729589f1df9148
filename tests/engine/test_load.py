"""`workbench load`: the schedule an open model sends on, and a real run through a real endpoint
whose counts match the router's and whose latencies are never below the router's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_workbench
from tests.engine.harness import ECHO, deployment_yaml, engine, folder_with
from workbench.cli.load import plot
from workbench.client import EngineClient
from workbench.loadgen import LoadPlan

REQUESTS = 40


def test_the_schedule_is_open_bounded_and_ramps() -> None:
    steady = LoadPlan(uri="http://127.0.0.1:1/score", headers={}, body=b"", rate=10, duration_s=2)
    assert len(steady.schedule()) == 20
    assert steady.schedule()[:3] == pytest.approx([0.0, 0.1, 0.2])
    capped = LoadPlan(uri="http://127.0.0.1:1/score", headers={}, body=b"", rate=10, duration_s=2, requests=5)
    assert len(capped.schedule()) == 5
    ramp = LoadPlan(uri="http://127.0.0.1:1/score", headers={}, body=b"", rate=10, ramp_to=30, duration_s=2)
    gaps = [b - a for a, b in zip(ramp.schedule(), ramp.schedule()[1:], strict=False)]
    assert gaps[0] > gaps[-1]  # sooner and sooner as the rate climbs
    assert 20 * 2 * 0.9 < len(ramp.schedule()) < 20 * 2 * 1.1  # the ramp's mean rate, 20 a second
    with pytest.raises(ValueError, match="--rate"):
        LoadPlan(uri="u", headers={}, body=b"", rate=0)


def test_a_load_run_counts_what_the_router_counts(tmp_path: Path) -> None:
    # Room for a few at once: at 50 a second, one answer slower than 20 ms (a busy machine) would
    # otherwise meet Azure's default of one request per instance, and its 429
    roomy = "request_settings: {max_concurrent_requests_per_instance: 8}\n"
    deployment = deployment_yaml("blue", "echo.py", extra=roomy)
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment})
    (folder / "request.json").write_text('{"data": [1, 2, 3]}')
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        result = run_workbench(
            "load", "tests", "--request-file", "request.json", "--rate", "50", "--requests", str(REQUESTS),
            "--deployment", "blue", "--json", "--project", str(folder), cwd=folder, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        with EngineClient.for_folder(folder) as client:
            router = client.metrics("tests").deployments["blue"]
        shown = run_workbench(
            "load", "tests", "--request-file", "request.json", "--rate", "50", "--requests", "20",
            "--project", str(folder), cwd=folder, timeout=120,
        )  # fmt: skip
        assert shown.returncode == 0, shown.stderr
    assert sum(second["answered"] for second in summary["per_second"]) == REQUESTS
    assert "answered/s │" in shown.stdout  # the run, plotted in the terminal
    assert "p99 ms │" in shown.stdout
    assert summary["requests"] == REQUESTS
    assert summary["statuses"] == {"200": REQUESTS}
    assert summary["deployments"] == {"blue": REQUESTS}
    assert router.statuses == {"200": REQUESTS}  # the router saw every one, and no other
    assert router.by_instance == {"blue-0": REQUESTS}  # and which instance answered it
    # each request's latency at the client includes its time in the router: no percentile is lower
    assert summary["latency_ms"]["p50"] >= (router.p50_ms or 0)
    assert summary["latency_ms"]["max"] >= (router.p99_ms or 0)


def test_the_plot_scales_each_row_and_bins_latencies() -> None:
    seconds: list[dict[str, float | int | None]] = [
        {"second": s, "answered": a, "p50_ms": 1.0, "p99_ms": p} for s, a, p in ((0, 10, 2.0), (1, 20, 8.0))
    ]
    lines = plot(seconds, [0.5, 0.7, 3.0, 20_000.0])
    assert lines[0] == "answered/s │▄█│ max 20.0"
    assert lines[1] == "    p99 ms │▂█│ max 8.0"
    assert "    ≤ 1 ms │" + "█" * 40 + " 2" in lines
    assert "    ≤ 5 ms │" + "█" * 20 + " 1" in lines
    assert "> 10000 ms │" + "█" * 20 + " 1" in lines
