"""`workbench rollout` against a real engine and its router: a new deployment that fails a third
of its requests is rolled back at its first step, with the figure and the threshold; a good one
reaches 100%; Ctrl-C puts the traffic back. The rollout sends its own traffic (a rehearsal)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, run_workbench
from tests.engine.harness import ECHO, deployment_yaml, engine, folder_with, start_engine, until
from workbench.canary import RolloutPlan
from workbench.client import EngineClient
from workbench.errors import WorkbenchError

FLAKY = (
    "calls = 0\n\ndef init():\n    pass\n\n\ndef run(data):\n    global calls\n    calls += 1\n"
    "    if calls % 3 == 0:\n        raise ValueError('one request in three fails')\n    return 'ok'\n"
)


ROOMY = "request_settings: {max_concurrent_requests_per_instance: 8}\n"
"""A few requests at once per instance: the rollouts judge failures, and an answer slowed by a busy
machine must not meet Azure's default of one at a time (a 429, which counts as one)."""


def project(tmp_path: Path, green: str) -> Path:
    folder = folder_with(
        tmp_path,
        {"echo.py": ECHO, "green.py": green},
        {
            "blue": deployment_yaml("blue", "echo.py", extra=ROOMY),
            "green": deployment_yaml("green", "green.py", extra=ROOMY),
        },
    )
    (folder / "request.json").write_text(json.dumps({"data": [1]}))
    return folder


def all_to_blue(folder: Path) -> None:
    with EngineClient.for_folder(folder) as client:
        client.set_traffic("tests", {"blue": 100}, None)


def rollout(folder: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """`workbench rollout tests green` with `options`, sending its own requests."""
    return run_workbench(
        "rollout", "tests", "green", *options, "--request-file", "request.json", cwd=folder, timeout=120
    )


def traffic(folder: Path) -> dict[str, int]:
    with EngineClient.for_folder(folder) as client:
        return {k: v for k, v in client.status()[0].traffic.items() if v}


def test_a_deployment_that_fails_a_third_of_its_requests_is_rolled_back_at_its_first_step(
    tmp_path: Path,
) -> None:
    folder = project(tmp_path, FLAKY)
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        all_to_blue(folder)
        rolled = rollout(folder, "--interval", "5", "--rate", "40")
        assert rolled.returncode == 4, rolled.stdout + rolled.stderr
        assert "rolled back: tests/green at 10%:" in rolled.stderr
        assert "% of its requests failed; --max-error-rate is 1%" in rolled.stderr
        assert "tests: traffic back to blue=100, mirror none (step 10% failed)" in rolled.stdout
        assert "green 50%" not in rolled.stdout, "no step after the one that failed"
        assert traffic(folder) == {"blue": 100}
        (written,) = (folder / ".workbench" / "rollouts").glob("tests-green-*.json")
        report = json.loads(written.read_text())
        assert (report["outcome"], report["failed_step"]) == ("rolled back", "10%")
        assert report["steps"][0]["failed"] > 0, "the figures that failed it"


def test_a_good_deployment_reaches_all_of_the_traffic_step_by_step(tmp_path: Path) -> None:
    folder = project(tmp_path, ECHO)
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        all_to_blue(folder)
        rolled = rollout(
            folder, "--steps", "20,100", "--interval", "3", "--mirror-first", "20", "--rate", "10"
        )
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
        said = rolled.stdout
        assert said.index("mirror 20% to green") < said.index("green 20% (blue=80 green=20)")
        assert said.index("green 20% (blue=80 green=20)") < said.index("green 100% (green=100)")
        assert "tests: green takes 100%; blue kept, with no traffic" in said
        table = said.split("step          requests   failed   p99\n", 1)[1]
        rows = [line for line in table.splitlines() if " requests " in line and "% failed" in line]
        assert len(rows) == 3, said  # the mirror stage and two steps, each with its figures
        assert all(" 0.0% failed" in row for row in rows), said
        assert said.count("  judged ") == 3, "each step's figures said as it is judged"
        assert traffic(folder) == {"green": 100}
        written = said.split("report: ", 1)[1].split("\n", 1)[0]  # where the command ran: the project
        report = json.loads((folder / written).read_text())
        assert report["outcome"] == "completed"
        assert [step["step"] for step in report["steps"]] == ["mirror 20%", "20%", "100%"]
        assert report["plan"]["steps"] == [20, 100]


def long_rollout(folder: Path) -> subprocess.Popen[str]:
    """A rollout whose first step lasts ten minutes, under way once green has its 10%."""
    command = ["rollout", "tests", "green", "--interval", "600", "--request-file", "request.json"]
    rollout = subprocess.Popen(
        [sys.executable, "-m", "workbench", *command, "--rate", "10"],
        cwd=folder,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    until(lambda: traffic(folder) == {"blue": 90, "green": 10}, 60)
    return rollout


def test_ctrl_c_puts_the_traffic_back_as_it_was(tmp_path: Path) -> None:
    folder = project(tmp_path, ECHO)
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        all_to_blue(folder)
        rollout = long_rollout(folder)
        rollout.send_signal(signal.SIGINT)
        output, _ = rollout.communicate(timeout=60)
        assert rollout.returncode != 0, output
        assert "tests: traffic back to blue=100, mirror none (interrupted)" in output, output
        assert traffic(folder) == {"blue": 100}


def test_a_slow_deployment_is_rolled_back_on_its_p99(tmp_path: Path) -> None:
    slow = (
        "import time\n\ndef init():\n    pass\n\n\ndef run(data):\n    time.sleep(0.25)\n    return 'late'\n"
    )
    folder = project(tmp_path, slow)
    plan = "endpoints:\n  tests:\n    rollout: {steps: [50, 100], interval: 4, max_p99_ms: 100}\n"
    (folder / "workbench.yaml").write_text(plan)  # the plan written down: no flag but the traffic's
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        all_to_blue(folder)
        rolled = rollout(folder, "--rate", "4")
        assert rolled.returncode == 4, rolled.stdout + rolled.stderr
        assert "rolled back: tests/green at 50%: p99 " in rolled.stderr
        assert "ms; --max-p99-ms is 100" in rolled.stderr
        assert traffic(folder) == {"blue": 100}


def test_a_killed_rollout_has_its_traffic_put_back_by_the_engine_and_one_runs_at_a_time(
    tmp_path: Path,
) -> None:
    """SIGKILL leaves the command no chance to put anything back: the engine, which runs the
    rollout, sees its caller leave and puts the traffic back itself."""
    folder = project(tmp_path, ECHO)
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        all_to_blue(folder)
        rollout = long_rollout(folder)
        try:
            second = run_workbench("rollout", "tests", "green", cwd=folder, timeout=60)
            assert second.returncode != 0
            assert "a rollout of tests is already running: one at a time" in second.stderr
        finally:
            rollout.kill()
            rollout.communicate(timeout=60)
        until(lambda: traffic(folder) == {"blue": 100}, 30, lambda: f"traffic left at {traffic(folder)}")
        running.wait_for_output("traffic back to blue=100, mirror none (caller gone)")


def test_a_mirror_stage_whose_answers_differ_is_rolled_back_before_any_live_traffic(tmp_path: Path) -> None:
    """green answers with its own pid, blue with its: every mirrored answer differs."""
    folder = project(tmp_path, ECHO)
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        all_to_blue(folder)
        options = ("--mirror-first", "50", "--max-diff-rate", "10", "--interval", "5", "--rate", "20")
        rolled = rollout(folder, *options)
        assert rolled.returncode == 4, rolled.stdout + rolled.stderr
        assert "rolled back: tests/green at mirror 50%: 100.0% of its answers differed" in rolled.stderr
        assert "--max-diff-rate is 10%" in rolled.stderr
        assert "green 10%" not in rolled.stdout, "no live traffic after a mirror stage that failed"
        assert traffic(folder) == {"blue": 100}


def test_a_plan_is_checked_where_it_is_made_and_where_it_arrives() -> None:
    assert RolloutPlan.from_json({"endpoint": "tests", "deployment": "green"}).steps == (10, 50, 100)
    with pytest.raises(WorkbenchError, match="--max-diff-rate judges the mirror stage"):
        RolloutPlan("tests", "green", max_diff_rate=5)
    with pytest.raises(WorkbenchError, match="rising shares"):
        RolloutPlan.from_json({"endpoint": "tests", "deployment": "green", "steps": [50, 10]})


def test_an_engine_stopped_mid_rollout_puts_the_traffic_back_before_it_goes(tmp_path: Path) -> None:
    """The traffic a rollout set is saved, as any `workbench traffic`: an engine that stopped with
    a step's split in force would start again with it. It is put back first."""
    folder = project(tmp_path, ECHO)
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        all_to_blue(folder)
        rollout = long_rollout(folder)
        running.process.send_signal(signal.SIGTERM)
        running.process.wait(60)
        output, _ = rollout.communicate(timeout=60)
        assert rollout.returncode == 4, output
        assert "tests: traffic back to blue=100, mirror none (the engine stopped)" in output
        running.process = start_engine(folder, running.log)
        running.wait_settled(120)
        assert traffic(folder) == {"blue": 100}
