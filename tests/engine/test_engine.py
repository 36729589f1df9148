"""The engine and the process runtime, for real: `workbench up --headless` on real folders."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
from pathlib import Path

import httpx
import joblib
import numpy
import psutil
import pytest

from tests.conftest import QUICKSTART, run_workbench
from tests.engine.harness import (
    ECHO,
    ENDPOINT,
    alive,
    copy_project,
    deployment_yaml,
    engine,
    folder_with,
    folder_with_conda,
    start_engine,
    until,
)
from workbench.client import EngineClient
from workbench.contract import Failure
from workbench.runtimes.cgroups import Cgroups
from workbench.spec import interpreters
from workbench.state import EventSeverity, InstancePhase, ProvisioningState

INIT_RAISES = (
    "def init():\n    raise RuntimeError('model file is corrupt')\n\n\ndef run(data):\n    return data\n"
)


@pytest.mark.slow
def test_quickstart_reaches_succeeded_and_serves_real_predictions(tmp_path: Path) -> None:
    folder = copy_project(QUICKSTART, tmp_path / "quickstart")
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled()
        assert [d.provisioning_state for d in endpoint.deployments] == [ProvisioningState.SUCCEEDED] * 2
        request = json.loads((folder / "sample-request.json").read_text())
        for deployment, model_folder in (("blue", "model-1"), ("green", "model-2")):
            state = endpoint.deployment(deployment)
            assert state is not None
            (instance,) = state.instances
            assert instance.url is not None
            answer = httpx.post(instance.url + "/score", json=request, timeout=30).json()
            model = joblib.load(folder / model_folder / "model" / "sklearn_regression_model.pkl")
            assert answer == model.predict(numpy.array(request["data"])).tolist()
        connection = folder / ".workbench" / "connection.json"
        assert stat.S_IMODE(connection.stat().st_mode) == 0o600
        staged = folder / ".workbench" / "staged" / "quickstart" / "blue" / "g1"
        models = list((staged / "azureml-models").glob("*/1/model/sklearn_regression_model.pkl"))
        assert len(models) == 1
        assert not models[0].is_symlink()
        status = run_workbench("status", "--json", "--project", str(folder))
        assert json.loads(status.stdout)[0]["deployments"][0]["instances"][0]["state"] == "Ready"
        down = run_workbench("down", "--project", str(folder))
        assert down.returncode == 0
        running.process.wait(timeout=30)
    assert "quickstart/blue: Succeeded: 1/1 instance(s) ready" in running.output()


def test_killed_instance_comes_back_with_its_restart_counted(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        (pid,) = running.instance_pids()
        os.kill(pid, signal.SIGKILL)
        (endpoint,) = running.wait_for(
            lambda eps: (
                eps[0].deployments[0].instances[0].restarts == 1
                and eps[0].deployments[0].instances[0].state is InstancePhase.READY
            ),
            timeout=60,
        )
        instance = endpoint.deployments[0].instances[0]
        assert instance.pid != pid
        assert httpx.post(instance.url + "/score", content=b"x").json()["pid"] == instance.pid  # type: ignore[operator]
    assert "tests/blue-0: exited with code -9: killed by SIGKILL" in running.output()
    assert "restarting at once (restart 1)" in running.output()
    log = (folder / ".workbench" / "logs" / "tests" / "blue" / "blue-0" / "inference-server.log").read_text()
    rules = [line for line in log.splitlines() if line.startswith("──── blue-0: start ")]
    assert [rule.split(" at ")[0] for rule in rules] == ["──── blue-0: start 1", "──── blue-0: start 2"]
    assert log.index(rules[1]) > log.index("Server Settings"), "the second run's lines after its rule"


def test_failing_init_ends_failed_with_reason_and_others_unaffected(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        {"echo.py": ECHO, "broken.py": INIT_RAISES},
        {"blue": deployment_yaml("blue", "echo.py"), "red": deployment_yaml("red", "broken.py")},
    )
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(180)
        blue, red = endpoint.deployment("blue"), endpoint.deployment("red")
        assert blue is not None
        assert red is not None
        assert blue.provisioning_state is ProvisioningState.SUCCEEDED
        assert red.provisioning_state is ProvisioningState.FAILED
        assert red.reason is not None
        assert red.reason.startswith(
            "ResourceNotReady: User container has crashed or terminated: exited with code 3"
        )
        assert "RuntimeError: model file is corrupt" in red.reason
        # typed for every client: the project's file (never the staged copy) and init()'s line
        corrupt = Failure(str(folder / "code" / "broken.py"), 2, "RuntimeError", "model file is corrupt")
        assert red.failure == corrupt
        with EngineClient.for_folder(folder) as client:
            said = [
                e for e in client.events() if e.subject == "tests/red" and e.severity is EventSeverity.ERROR
            ]
        failed_event = said[-1]
        assert failed_event.failure == red.failure
        assert blue.failure is None
        assert red.instances[0].state is InstancePhase.FAILED
        assert red.instances[0].restarts == 2
        assert red.instances[0].pid is None  # its process has ended: no pid in status or metrics
        logs = run_workbench("logs", "tests", "red", "--lines", "50", "--project", str(folder))
        assert "User's init function failed" in logs.stdout
        text_status = run_workbench("status", "--project", str(folder)).stdout
        assert "RuntimeError: model file is corrupt" in text_status
        assert f"your code failed at {corrupt.summary()}" in text_status
        assert httpx.post(blue.instances[0].url + "/score", content=b"x").status_code == 200  # type: ignore[operator]


def test_killed_engine_leaves_no_instance_once_up_runs_again(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    with engine(folder, tmp_path) as first:
        first.wait_settled(120)
        orphans = [psutil.Process(pid) for pid in first.instance_pids()]
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait()
        assert all(alive(p) for p in orphans)  # the instance outlived its engine
        first.process = start_engine(folder, first.log)
        running = first
        running.wait_for(
            lambda eps: (
                bool(eps)
                and eps[0].deployments[0].instances[0].pid not in [p.pid for p in orphans]
                and eps[0].deployments[0].provisioning_state is ProvisioningState.SUCCEEDED
            ),
            120,
        )
        until(lambda: not any(alive(p) for p in orphans), 30, lambda: f"orphans left: {orphans}")
    assert "stopped 1 instance(s) left by a previous engine" in first.output()


STUBBORN = (
    "import threading\nimport time\n\n\ndef init():\n"
    "    threading.Thread(target=time.sleep, args=(3600,)).start()  # not a daemon: exit waits for it\n\n\n"
    "def run(data):\n    return {}\n"
)


def test_an_instance_that_outlives_its_sigterm_is_killed_when_the_engine_stops(tmp_path: Path) -> None:
    """The grace after SIGTERM runs out, then SIGKILL: the stop is not cut short by the engine's
    own cancellation of the instance's life (the harness fails on any instance left running)."""
    folder = folder_with(tmp_path, {"score.py": STUBBORN}, {"blue": deployment_yaml("blue", "score.py")})
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(120)
        server = psutil.Process(endpoint.deployments[0].instances[0].pid or 0)
        assert alive(server)
    assert not alive(server)


def test_yaml_changes_are_reconciled(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        (first_pid,) = running.instance_pids()
        (folder / "endpoint.yml").write_text(ENDPOINT.format(name="tests") + "traffic:\n  blue: 100\n")
        running.wait_for(lambda eps: eps[0].traffic == {"blue": 100}, 30)
        assert running.instance_pids() == [first_pid]  # traffic only: no instance touched
        (folder / "blue.yml").write_text(deployment_yaml("blue", "echo.py", extra="instance_count: 2\n"))
        running.wait_for(
            lambda eps: (
                sum(i.state is InstancePhase.READY for i in eps[0].deployments[0].instances) == 2
                and eps[0].deployments[0].provisioning_state is ProvisioningState.SUCCEEDED
            ),
            60,
        )
        assert first_pid in running.instance_pids()  # scaling keeps the running instance
        (folder / "blue.yml").write_text(
            deployment_yaml(
                "blue", "echo.py", extra="instance_count: 2\nenvironment_variables:\n  COLOUR: teal\n"
            )
        )
        (endpoint,) = running.wait_for(
            lambda eps: (
                len(eps[0].deployments[0].instances) == 2
                and all(
                    i.state is InstancePhase.READY and i.pid != first_pid
                    for i in eps[0].deployments[0].instances
                )
                and eps[0].deployments[0].provisioning_state is ProvisioningState.SUCCEEDED
            ),
            60,
        )
        answer = httpx.post(endpoint.deployments[0].instances[0].url + "/score", content=b"x").json()  # type: ignore[operator]
        assert answer["env"] == "teal"
        pids = running.instance_pids()
        (folder / "blue.yml").write_text("name: blue\nendpoint_name: tests\ninstance_count: [broken\n")
        running.wait_for_output("changed but has errors; nothing changed")
        assert running.instance_pids() == pids  # a broken spec changes nothing


def test_second_engine_for_the_same_folder_is_refused(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        second = run_workbench("up", "--headless", str(folder), timeout=60)
    assert second.returncode == 3
    assert "an engine is already running for" in second.stderr


def test_missing_secret_fails_the_deployment_with_secrets_injection_error(tmp_path: Path) -> None:
    extra = "environment_variables:\n  KEY: ${{azureml://connections/c/credentials/key}}\n"
    folder = folder_with(
        tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py", extra=extra)}
    )
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(120)
    assert endpoint.deployments[0].provisioning_state is ProvisioningState.FAILED
    assert (endpoint.deployments[0].reason or "").startswith("SecretsInjectionError")


def test_a_triton_no_code_deployment_fails_saying_why_once(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {})
    (folder / "models" / "m").mkdir(parents=True)
    (folder / "models" / "m" / "config.pbtxt").write_text('name: "m"\n')
    (folder / "blue.yml").write_text(
        "name: blue\nendpoint_name: tests\ninstance_type: Standard_DS3_v2\n"
        "model: {path: models, type: triton_model}\n"
    )
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(120)
        with EngineClient.for_folder(folder) as client:
            said = [e.message for e in client.events() if "Triton" in e.message]
    deployment = endpoint.deployments[0]
    assert deployment.provisioning_state is ProvisioningState.FAILED
    reason = deployment.reason or ""
    assert "a Triton no-code deployment needs NVIDIA's Triton Inference Server image" in reason
    assert said
    assert "tests/blue:" not in reason + "".join(said), "whoever shows it names the deployment, once"


FAILING_RUN = """def init():
    pass


def run(data):
    return 1 / 0
"""


def test_a_run_that_raises_is_counted_and_named_at_the_users_line(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"boom.py": FAILING_RUN}, {"blue": deployment_yaml("blue", "boom.py")})
    with engine(folder, tmp_path) as running, EngineClient.for_folder(folder) as client:
        running.wait_settled(120)
        for _ in range(2):
            assert client.invoke("tests", b'{"data": 1}', "blue").status == 424
        running.wait_for(lambda eps: eps[0].deployments[0].last_scoring_error is not None, timeout=30)
        running.wait_for(lambda eps: eps[0].deployments[0].scoring_errors == 2, timeout=30)
        deployment = running.status()[0].deployments[0]
        status = run_workbench("status", "--project", str(folder))
    failure = deployment.last_scoring_error
    assert failure is not None
    assert (failure.file, failure.line, failure.error) == (
        str(folder / "code" / "boom.py"),
        6,
        "ZeroDivisionError",
    )
    assert "run() last failed at" in status.stdout
    assert f"{folder}/code/boom.py:6: ZeroDivisionError" in status.stdout, (
        "the user's file, never the staged copy"
    )


def test_control_api_needs_its_token(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    with engine(folder, tmp_path) as running:
        url = json.loads((folder / ".workbench" / "connection.json").read_text())["url"]
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(url + "/v1/status").status_code == 401
        assert httpx.get(url + "/v1/status", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert running.status() is not None


def test_status_without_an_engine_says_how_to_start_one(tmp_path: Path) -> None:
    result = run_workbench("status", "--project", str(tmp_path))
    assert result.returncode == 1
    assert "no engine is running for" in result.stderr
    assert "workbench up" in result.stderr


def test_commands_outside_a_project_find_the_one_engine_running_and_list_several(tmp_path: Path) -> None:
    """A user who ran `workbench up examples/quickstart` from the repository root is not told "no
    engine is running for ." by the next command; with two engines, both are named."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    first = folder_with(tmp_path / "a", {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    with engine(first, tmp_path):
        until(lambda: run_workbench("status", "--json", cwd=elsewhere).returncode == 0)
        (endpoint,) = json.loads(run_workbench("status", "--json", cwd=elsewhere).stdout)
        assert endpoint["name"] == "tests"
        named = run_workbench("status", "--project", str(elsewhere), cwd=elsewhere)
        assert named.returncode == 1  # a folder named with --project means that folder
        second = folder_with(tmp_path / "b", {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
        with engine(second, tmp_path):
            until(lambda: run_workbench("status", cwd=elsewhere).returncode == 1)
            both = run_workbench("status", cwd=elsewhere)
    assert "2 run elsewhere; name one with --project" in both.stderr
    assert str(first.resolve()) in both.stderr
    assert str(second.resolve()) in both.stderr


def test_a_connection_file_whose_pid_another_program_holds_now_blocks_nothing(tmp_path: Path) -> None:
    """An engine is its pid and its start time: a crashed engine's pid reused by another program
    (here a sleep that started after the engine did) is not taken for the engine."""
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    stranger = subprocess.Popen(["sleep", "300"])
    try:
        connection = folder / ".workbench" / "connection.json"
        connection.parent.mkdir(parents=True)
        left = {"url": "http://127.0.0.1:9", "token": "t", "pid": stranger.pid, "started": 1.0}
        connection.write_text(json.dumps(left))
        asked = run_workbench("status", "--project", str(folder))
        assert asked.returncode == 1
        assert "ended without cleaning up" in asked.stderr
        with engine(folder, tmp_path) as running:
            (endpoint,) = running.wait_settled(120)
            assert endpoint.deployments[0].provisioning_state is ProvisioningState.SUCCEEDED
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_a_corrupt_state_file_stops_up_and_the_keys_come_back_from_the_good_copy(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        keys = json.loads(run_workbench("credentials", "tests", "--json", "--project", str(folder)).stdout)
    state = folder / ".workbench" / "state.json"
    cut = state.read_text()[:40]
    state.write_text(cut)  # cut short, as a crash of a careless writer leaves it
    refused = run_workbench("up", "--headless", str(folder), timeout=60)
    assert refused.returncode == 3
    assert f"{state} does not parse" in refused.stderr
    assert f"`cp {state}.good {state}` restores it" in refused.stderr
    assert state.read_text() == cut  # left as it was, not replaced by a fresh state
    subprocess.run(["cp", f"{state}.good", str(state)], check=True)
    with engine(folder, tmp_path) as restarted:
        restarted.wait_settled(120)
        again = json.loads(run_workbench("credentials", "tests", "--json", "--project", str(folder)).stdout)
    assert again == keys


def test_sigusr1_makes_the_engine_say_what_each_task_waits_on(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        said = running.stuck()
        assert "--- task reconcile" in said
        assert running.process.poll() is None  # said, and still serving
        assert running.status()[0].deployments[0].provisioning_state is ProvisioningState.SUCCEEDED


def test_event_stream_and_log_follow(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(120)
        with EngineClient.for_folder(folder) as client:
            events = [e.line() for e in client.events(follow=False)]
            assert any("tests/blue: Succeeded: 1/1 instance(s) ready" in line for line in events)
            url = endpoint.deployments[0].instances[0].url
            lines = client.logs("tests", "blue", lines=1, follow=True)
            assert next(lines)  # the last line already written
            httpx.post(f"{url}/score", content=b"followed")
            followed = next(line for line in lines if "POST /score" in line)
            assert " 200 " in followed
            lines.close()  # type: ignore[attr-defined]
            for _ in range(3):  # the follower has gone: what the engine writes next goes nowhere
                httpx.post(f"{url}/score", content=b"after")
            client.reconcile("written after the follower left")
            running.wait_for_output("reconciled")
        assert "Traceback" not in running.output()  # a client leaving is not an error


def test_up_detach_returns_once_serving_and_down_stops_it(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"score.py": ECHO}, {"blue": deployment_yaml("blue", "score.py")})
    result = run_workbench("up", "--detach", str(folder), timeout=120)
    connection = folder / ".workbench" / "connection.json"
    try:
        assert result.returncode == 0, result.stderr
        assert "tests/blue: Succeeded (1/1 ready)" in result.stdout
        assert re.search(r"endpoint tests ready at http://127\.0\.0\.1:\d+/score", result.stdout)
        assert "`workbench down --project" in result.stderr
        engine_process = psutil.Process(int(json.loads(connection.read_text())["pid"]))
        with EngineClient.for_folder(folder) as client:  # still serving after the command returned
            (endpoint,) = client.status()
            assert endpoint.deployments[0].instances[0].state is InstancePhase.READY
    finally:
        stopped = run_workbench("down", "--project", str(folder), timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    assert not connection.exists()
    assert not alive(engine_process)


def test_an_allocation_past_the_instance_type_is_stopped_before_it_answers(tmp_path: Path) -> None:
    """With control groups (root here), the kernel stops the allocation itself: run() never
    answers 200 with 3.8 GB in a 3.5 GiB instance, and the restart says OOMKilled."""
    cgroups = Cgroups.find()
    if cgroups is None:
        if os.environ.get("WORKBENCH_CI") == "1":
            pytest.fail("no control groups this engine may make, and CI must run every test")
        pytest.skip("no control groups this process may make (root, or a delegated subtree)")
    script = (
        "def init():\n    pass\n\n\n"
        "def run(data):\n    held = [b'x' * 2**27 for _ in range(29)]  # 3.9 GB, 128 MiB at a time\n"
        "    return len(held)\n"
    )
    small = deployment_yaml("blue", "score.py").replace("Standard_DS3_v2", "Standard_DS1_v2")
    folder = folder_with(tmp_path, {"score.py": script}, {"blue": small})
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(120)
        instance = endpoint.deployments[0].instances[0]
        with pytest.raises(httpx.HTTPError):  # the connection ends with the process: no answer
            httpx.post(f"{instance.url}/score", json={}, timeout=120)
        running.wait_for_output("OOMKilled: the instance went over its memory limit (3.5 GiB", 60)
        running.wait_for(lambda eps: eps[0].deployments[0].instances[0].state is InstancePhase.READY, 120)
    assert f"memory and CPUs by {cgroups.describe}" in running.output()


def test_a_process_over_its_instance_types_memory_is_oom_killed(tmp_path: Path) -> None:
    script = (
        "def init():\n    global model\n"
        "    model = [b'x' * 2**27 for _ in range(40)]  # 5 GiB, 128 MiB at a time; the SKU has 3.5\n\n\n"
        "def run(data):\n    return len(model)\n"
    )
    small = deployment_yaml("blue", "score.py").replace("Standard_DS3_v2", "Standard_DS1_v2")
    folder = folder_with(tmp_path, {"score.py": script}, {"blue": small})
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(300)
    (deployment,) = endpoint.deployments
    assert deployment.provisioning_state is ProvisioningState.FAILED
    assert "OOMKilled: the instance went over its memory limit" in (deployment.reason or "")
    assert "killed by SIGKILL" in (deployment.reason or "")


def test_up_detach_fails_with_the_reasons_when_a_deployment_failed(tmp_path: Path) -> None:
    broken = "def init():\n    raise RuntimeError('no model here')\n\n\ndef run(data):\n    return data\n"
    folder = folder_with(tmp_path, {"score.py": broken}, {"blue": deployment_yaml("blue", "score.py")})
    try:
        result = run_workbench("up", "--detach", str(folder), timeout=180)
        assert result.returncode == 3, result.stderr
        assert "1 deployment(s) failed" in result.stderr
        assert "tests/blue: ResourceNotReady" in result.stderr
        assert "no model here" in result.stderr
        assert "endpoint tests at http://127.0.0.1:" in result.stdout
        assert "no deployment serves" in result.stdout
    finally:
        stopped = run_workbench("down", "--project", str(folder), timeout=60)
    assert stopped.returncode == 0, stopped.stderr


def test_up_with_a_named_file_runs_that_file_and_reloads_only_it(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        {"score.py": ECHO},
        {
            "blue": deployment_yaml("blue", "score.py"),
            "blue-experimental": deployment_yaml("blue", "missing.py"),  # an alternative, broken
        },
    )
    assert run_workbench("validate", str(folder)).returncode == 2
    try:
        result = run_workbench("up", "--detach", str(folder / "blue.yml"), timeout=180)
        assert result.returncode == 0, result.stderr
        (folder / "blue.yml").write_text(deployment_yaml("blue", "score.py", extra="instance_count: 2\n"))
        with EngineClient.for_folder(folder) as client:
            until(lambda: len(client.status()[0].deployments[0].instances) == 2, 60)
            events = [e.message for e in client.events()]
    finally:
        stopped = run_workbench("down", "--project", str(folder), timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    assert not any("has errors" in e for e in events), events


def test_a_failed_environment_build_is_azures_image_build_failure(tmp_path: Path) -> None:
    conda = "name: env\ndependencies:\n  - pip\n  - pip:\n      - workbench-no-such-package-anywhere==0.0.1\n"
    folder = folder_with_conda(tmp_path, ECHO, conda)
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(180)
    (deployment,) = endpoint.deployments
    assert deployment.provisioning_state is ProvisioningState.FAILED
    assert (deployment.reason or "").startswith("ImageBuildFailure: environment build failed")
    assert "workbench-no-such-package-anywhere" in (deployment.reason or "")


def test_an_endpoint_without_traffic_says_how_and_up_all_traffic_gives_it(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"score.py": ECHO}, {"blue": deployment_yaml("blue", "score.py")})
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        running.wait_for_output("no deployment has traffic")
        assert "`workbench traffic tests blue=100`" in running.output()
    try:
        result = run_workbench("up", "--detach", "--all-traffic", "blue", str(folder), timeout=180)
        assert result.returncode == 0, result.stderr
        with EngineClient.for_folder(folder) as client:
            until(lambda: client.status()[0].traffic == {"blue": 100}, 30)
            (endpoint,) = client.status()
            key = client.credentials("tests").secret
        answer = httpx.post(endpoint.scoring_uri or "", json={}, headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200, answer.text
        assert answer.headers["azureml-model-deployment"] == "blue"
        status = run_workbench("status", "--project", str(folder))
        assert "traffic: blue=100; the YAML says traffic none (a change made here holds" in status.stdout, (
            "the split in force is not endpoint.yml's: said"
        )
    finally:
        stopped = run_workbench("down", "--project", str(folder), timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    with engine(folder, tmp_path) as again:  # the saved split outlives the run: said, not silent
        again.wait_for_output("saved by an earlier `workbench traffic` or `--all-traffic`")
        assert "traffic blue=100; mirror none: saved" in again.output()
        assert (
            "instead of the YAML's none; mirror none until the endpoint YAML's traffic changes"
            in again.output()
        )
    unknown = run_workbench("up", "--detach", "--all-traffic", "purple", str(folder), timeout=60)
    assert unknown.returncode == 3
    assert "no endpoint has a deployment of that name" in unknown.stderr


OTHER_PYTHON = next((v for v in ("3.10", "3.12", "3.9") if interpreters.find_python(v)), None)
"""A Python this machine has besides the workbench's own (pyenv's, here)."""


@pytest.mark.skipif(OTHER_PYTHON is None, reason="no other Python installed")
def test_the_python_a_conda_file_asks_for_runs_the_instance(tmp_path: Path) -> None:
    script = "import sys\n\ndef init():\n    pass\n\n\ndef run(data):\n    return {'python': sys.version}\n"
    folder = folder_with_conda(
        tmp_path, script, f"name: env\ndependencies:\n  - python={OTHER_PYTHON}\n  - pip\n"
    )
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(180)
        instance = endpoint.deployments[0].instances[0]
        answer = httpx.post(f"{instance.url}/score", json={}, timeout=30).json()
    assert answer["python"].startswith(f"{OTHER_PYTHON}.")


def test_up_set_applies_and_keeps_applying_on_reload(tmp_path: Path) -> None:
    text = deployment_yaml("blue", "score.py").replace("endpoint_name: tests", "endpoint_name: <ENDPOINT>")
    folder = folder_with(tmp_path, {"score.py": ECHO}, {"blue": text})
    sets = ["--set", "endpoint_name=tests", "--set", "instance_count=2"]
    try:
        result = run_workbench("up", "--detach", *sets, str(folder), timeout=180)
        assert result.returncode == 0, result.stderr
        with EngineClient.for_folder(folder) as client:
            assert len(client.status()[0].deployments[0].instances) == 2
            seen = len(list(client.events()))
            (folder / "blue.yml").write_text("# a comment\n" + text)  # reloaded with the same --set
            until(lambda: any("reconciled" in e.message for e in list(client.events())[seen:]), 60)
            events = [e.message for e in list(client.events())[seen:]]
            assert len(client.status()[0].deployments[0].instances) == 2
    finally:
        stopped = run_workbench("down", "--project", str(folder), timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    assert "reconciled: no deployment changed" in events, events


def test_entry_script_is_the_name_azure_sets_and_the_path_the_server_makes_of_it(tmp_path: Path) -> None:
    """Checklist 36, 37 and 53: Azure's variables, the user's winning over them, and the storage
    initializer's log read back by `workbench logs`."""
    script = (
        "import os\n\nSEEN = {}\n\ndef init():\n    SEEN['init'] = os.environ['AZUREML_ENTRY_SCRIPT']\n\n\n"
        "def run(data):\n    return SEEN\n"
    )
    mine = "environment_variables:\n  SERVICE_NAME: mine\n"
    folder = folder_with(
        tmp_path, {"score.py": script}, {"blue": deployment_yaml("blue", "score.py", extra=mine)}
    )
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(120)
        (instance,) = endpoint.deployments[0].instances
        assert instance.pid is not None
        environment = psutil.Process(instance.pid).environ()
        answer = httpx.post(f"{instance.url}/score", json={}, timeout=30).json()
        staging = run_workbench("logs", "tests", "blue", "--container", "storage-initializer", cwd=folder)
    assert environment["AZUREML_ENTRY_SCRIPT"] == "score.py"  # as Azure's container gets it
    assert environment["SERVICE_NAME"] == "mine"  # the deployment's variables win
    assert answer["init"].startswith("/")
    assert answer["init"].endswith("/score.py")  # azmlinfsrv's realpath
    assert staging.returncode == 0, staging.stderr
    assert "storage-initializer" in staging.stdout


def test_a_hung_process_fails_liveness_and_is_restarted_with_that_cause(tmp_path: Path) -> None:
    probe = "liveness_probe:\n  period: 1\n  timeout: 1\n  failure_threshold: 2\n  initial_delay: 1\n"
    folder = folder_with(
        tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py", extra=probe)}
    )
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        (pid,) = running.instance_pids()
        os.kill(pid, signal.SIGSTOP)  # alive, but answers nothing: only the probe can tell
        running.wait_for_output("liveness probe failed 2 times; restarting")
        running.wait_for(
            lambda eps: (
                eps[0].deployments[0].instances[0].restarts == 1
                and eps[0].deployments[0].instances[0].state is InstancePhase.READY
            ),
            timeout=120,
        )
    assert "code -15" not in running.output()
