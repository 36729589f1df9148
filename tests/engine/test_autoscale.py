"""Autoscale as Azure Monitor does it, on a compressed clock (`time_scale: 60`: a minute of
Azure's in a second): a requests-per-minute rule scales out under load and back in once it stops,
each decision an event with its reason; the rules are read and checked like the rest of
workbench.yaml."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from tests.conftest import run_workbench
from tests.engine.harness import ECHO, deployment_yaml, engine, folder_with, key_headers
from workbench.spec import load_project
from workbench.spec.autoscale import seconds

AUTOSCALE = """endpoints:
  tests:
    deployments:
      blue:
        autoscale:
          minimum: 1
          maximum: 2
          time_scale: 60
          rules:
            - {metric: RequestsPerMinute, time_window: PT1M, operator: GreaterThan, threshold: 10,
               direction: Increase, value: 1, cooldown: PT1M}
            - {metric: RequestsPerMinute, time_window: PT2M, operator: LessThan, threshold: 2,
               direction: Decrease, value: 1, cooldown: PT1M}
"""


def test_durations_and_bad_rules_are_read_as_azure_writes_them(tmp_path: Path) -> None:
    assert seconds("PT5M") == 300
    assert seconds("PT1H30M") == 5400
    assert seconds("5 minutes") is None
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    broken = AUTOSCALE.replace("PT2M", "two minutes").replace(
        "RequestsPerMinute, time_window: PT1M", "Rps, time_window: PT1M"
    )
    (folder / "workbench.yaml").write_text(broken)
    problems = [p.format(relative_to=folder) for p in load_project(folder).problems]
    assert any("metric: Value 'Rps' passed is not in set" in p for p in problems), problems
    assert any("'two minutes' is not an ISO 8601 duration like PT5M" in p for p in problems), problems


def test_a_requests_rule_scales_out_under_load_and_back_in_after(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    (folder / "endpoint.yml").write_text((folder / "endpoint.yml").read_text() + "traffic:\n  blue: 100\n")
    (folder / "workbench.yaml").write_text(AUTOSCALE)
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(120)
        headers, stop = key_headers(folder), threading.Event()

        def load() -> None:  # about 40 a second: far above 10 a (compressed) minute
            with httpx.Client(timeout=30) as http:
                while not stop.wait(0.025):
                    http.post(endpoint.scoring_uri or "", json={}, headers=headers)

        sender = threading.Thread(target=load, daemon=True)
        sender.start()
        try:
            running.wait_for_output("autoscale tests/blue 1→2: RequestsPerMinute average", timeout=120)
            running.wait_for(lambda eps: len(eps[0].deployments[0].instances) == 2, timeout=120)
        finally:
            stop.set()
            sender.join(30)
        running.wait_for_output("autoscale tests/blue 2→1: RequestsPerMinute average", timeout=120)
        running.wait_for(lambda eps: len(eps[0].deployments[0].instances) == 1, timeout=120)
    assert "autoscale tests/blue 2→3" not in running.output()  # never past the maximum


def test_a_memory_rule_scales_out_under_memory_pressure(tmp_path: Path) -> None:
    """CpuMemoryUtilizationPercentage: resident memory as a share of the instance type's
    (Standard_DS3_v2: 14 GiB), made to rise with `workbench fault --memory-pressure`."""
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    rules = (
        "            - {metric: CpuMemoryUtilizationPercentage, time_window: PT1M, operator: GreaterThan,\n"
        "               threshold: 4, direction: Increase, value: 1, cooldown: PT5M}\n"
    )
    (folder / "workbench.yaml").write_text(
        AUTOSCALE.split("          rules:\n", maxsplit=1)[0] + "          rules:\n" + rules
    )
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        pressed = run_workbench(
            "fault", "tests", "blue", "--memory-pressure", "1024", "--seconds", "60", "--project", str(folder)
        )
        assert pressed.returncode == 0, pressed.stderr
        running.wait_for_output(
            "autoscale tests/blue 1→2: CpuMemoryUtilizationPercentage average", timeout=60
        )
        running.wait_for(lambda eps: len(eps[0].deployments[0].instances) == 2, timeout=120)
