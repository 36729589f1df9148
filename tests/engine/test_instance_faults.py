"""Instance faults on purpose (`workbench fault --kill`, `--cpu-pressure`, `--memory-pressure`):
a killed instance is handled as any crash, and pressure made inside an instance shows in its own
figures, in status and in events, then ends by itself."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_workbench
from tests.engine.harness import ECHO, deployment_yaml, engine, folder_with, until
from workbench.client import EngineClient
from workbench.state import InstancePhase

MB = 2**20


def test_a_killed_instance_restarts_as_after_a_crash(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        (pid,) = running.instance_pids()
        killed = run_workbench("fault", "tests", "blue", "--kill", "--project", str(folder))
        assert killed.returncode == 0, killed.stderr
        assert "tests/blue-0: killed" in killed.stderr

        def back() -> bool:
            (instance,) = running.status()[0].deployments[0].instances
            return instance.restarts == 1 and instance.state is InstancePhase.READY

        until(back, 120, lambda: str(running.status()))
        assert running.instance_pids() != [pid]
        with EngineClient.for_folder(folder) as client:
            said = [f"{e.subject}: {e.message}" for e in client.events()]
        assert "tests/blue-0: killed on purpose (workbench fault --kill)" in said
        crashed = "tests/blue-0: exited with code -9: killed on purpose (workbench fault --kill)"
        assert any(s.startswith(crashed) and "restarting at once" in s for s in said), said
        assert not any("out of memory" in s for s in said), "a deliberate kill gets no guess"


def test_pressure_shows_in_the_instances_figures_and_ends_by_itself(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    with engine(folder, tmp_path) as running, EngineClient.for_folder(folder) as client:
        running.wait_settled(120)
        applied = run_workbench(
            "fault", "tests", "blue", "--cpu-pressure", "1", "--memory-pressure", "200",
            "--seconds", "12", "--project", str(folder),
        )  # fmt: skip
        assert applied.returncode == 0, applied.stderr
        status = run_workbench("status", "--project", str(folder)).stdout
        assert "pressure: 1 busy core(s) and 200 MB held in blue-0 for 12 s" in status

        def pressed() -> bool:
            sample = client.telemetry().instances.get("tests/blue-0")
            return sample is not None and sample.cpu_percent > 25 and sample.rss_bytes > 200 * MB

        until(pressed, 10, lambda: str(client.telemetry()))  # counted as the instance's own use, in time
        running.wait_for(lambda eps: eps[0].deployments[0].faults is None, 90)
        said = [e.message for e in client.events() if e.subject == "tests/blue"]
        assert any(m.startswith("pressure over: ") for m in said), said
        refused = run_workbench("fault", "tests", "blue", "--cpu-pressure", "999", "--project", str(folder))
        assert refused.returncode == 1
        assert "cpu_cores is from 0 to" in refused.stderr
