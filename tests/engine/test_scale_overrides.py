"""`workbench scale` holds, as Azure's safe-rollout tutorial needs it to (blue scaled to 2 before
green comes, then traffic moves): across a traffic change, a comment saved in the YAML, a reload
and an engine restart; a new `instance_count` in the YAML replaces it. Real engine, real
processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_workbench
from tests.engine.harness import ECHO, RunningEngine, deployment_yaml, engine, folder_with, until
from workbench.state import InstancePhase

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def ready(running: RunningEngine) -> int:
    (endpoint,) = running.status()
    blue = endpoint.deployment("blue")
    assert blue is not None
    return sum(1 for i in blue.instances if i.state == InstancePhase.READY)


def reconciled_after(running: RunningEngine, action: object) -> str:
    """What the reconcile loop did after `action` (a callable): its next "reconciled:" line."""
    before = running.output().count("reconciled: ")
    assert callable(action)
    action()
    until(lambda: running.output().count("reconciled: ") > before, 60, running.output)
    return running.output().split("reconciled: ")[before + 1].splitlines()[0]


def test_scale_holds_across_traffic_a_comment_and_a_restart_and_yields_to_the_yaml(tmp_path: Path) -> None:
    blue = deployment_yaml("blue", "echo.py", extra="instance_count: 1\n")
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": blue})
    endpoint_yml = folder / "endpoint.yml"
    endpoint_yml.write_text(endpoint_yml.read_text() + "traffic:\n  blue: 100\n")
    blue_yml = next(p for p in folder.glob("*.yml") if "name: blue" in p.read_text())
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        scaled = run_workbench("scale", "tests", "blue", "2", "--project", str(folder))
        assert scaled.returncode == 0, scaled.stderr
        running.wait_for(lambda eps: ready(running) == 2, 120)

        moved = run_workbench("traffic", "tests", "blue=100", "--project", str(folder))
        assert moved.returncode == 0, moved.stderr
        running.wait_for_output("traffic of tests changed; reconciling")
        running.wait_settled(60)
        assert ready(running) == 2

        said = reconciled_after(running, lambda: blue_yml.write_text(blue_yml.read_text() + "# a comment\n"))
        assert said == "no deployment changed"
        assert ready(running) == 2
        status = json.loads(run_workbench("status", "--json", "--project", str(folder)).stdout)
        assert status[0]["deployments"][0]["instance_count"] == 2
        assert status[0]["deployments"][0]["scaled"] == "2 instance(s) by override; the YAML says 1"
        said = run_workbench("status", "--project", str(folder)).stdout
        assert "scaled: 2 instance(s) by override; the YAML says 1" in said

    with engine(folder, tmp_path) as restarted:  # the override is saved with the keys
        restarted.wait_for(lambda eps: ready(restarted) == 2, 120)
        said = reconciled_after(
            restarted,
            lambda: blue_yml.write_text(
                blue_yml.read_text().replace("instance_count: 1", "instance_count: 3")
            ),
        )
        assert said == "scale tests/blue to 3"
        restarted.wait_for(lambda eps: ready(restarted) == 3, 120)
    saved = json.loads((folder / ".workbench" / "state.json").read_text())
    assert saved["endpoints"]["tests"]["scales"] == {}  # the YAML's new count replaced it
