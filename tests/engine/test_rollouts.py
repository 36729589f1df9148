"""The engine under edits and faults, end to end through the real engine, router and processes:
edits in a row, states that tell the truth, rollouts that drain under load, nothing leaked."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import psutil

from tests.conftest import run_workbench
from tests.engine.harness import ECHO, ENDPOINT, RunningEngine, alive, deployment_yaml, engine, folder_with
from workbench.client import EngineClient
from workbench.describe import describe
from workbench.state import EndpointState, InstancePhase, ProvisioningState

SLOW_INIT = (
    "import os, time\n\n"
    "def init():\n    time.sleep(float(os.environ.get('INIT_S', '0')))\n\n\n"
    "def run(data):\n    time.sleep(float(os.environ.get('RUN_S', '0')))\n"
    "    return {'pid': os.getpid(), 'colour': os.environ.get('COLOUR')}\n"
)
MAX_REQUESTS = 20_000
MAX_LOAD_S = 120.0


def with_env(colour: str, init_s: float = 0, extra: str = "", run_s: float = 0, workers: int = 1) -> str:
    variables = f"COLOUR: {colour}, INIT_S: '{init_s}', RUN_S: '{run_s}', WORKER_COUNT: '{workers}'"
    return deployment_yaml("blue", "score.py", extra=f"environment_variables: {{{variables}}}\n{extra}")


def events(running: RunningEngine) -> list[str]:
    with EngineClient.for_folder(running.folder) as client:
        return [f"{e.kind} {e.subject}: {e.message}" for e in client.events()]


def wait_for_event(running: RunningEngine, text: str, after: int = 0, timeout: float = 60) -> int:
    """Until an event after the first `after` ones contains `text`; how many events there are."""
    deadline = time.monotonic() + timeout
    while True:
        seen = events(running)
        if any(text in line for line in seen[after:]):
            return len(seen)
        if time.monotonic() > deadline:
            raise TimeoutError(f"no event with {text!r}; last ones: {seen[-8:]}")
        time.sleep(0.05)


def blue(endpoints: list[EndpointState]) -> tuple[ProvisioningState, list[InstancePhase]]:
    deployment = endpoints[0].deployments[0]
    return deployment.provisioning_state, [i.state for i in deployment.instances]


class Load:
    """Clients sending requests through the router, each one after another, bounded in count and
    time; every answer kept."""

    def __init__(self, running: RunningEngine, clients: int = 4) -> None:
        with EngineClient.for_folder(running.folder) as client:
            self.uri = client.status()[0].scoring_uri or ""
            self.key = client.credentials("tests").secret
        self.statuses: list[int] = []
        self.failures: list[str] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def _client(self) -> None:
        deadline = time.monotonic() + MAX_LOAD_S
        headers = {"Authorization": f"Bearer {self.key}", "azureml-model-deployment": "blue"}
        with httpx.Client(timeout=30) as http:
            while not self.stopping.is_set() and len(self.statuses) < MAX_REQUESTS:
                if time.monotonic() > deadline:
                    break
                try:
                    response = http.post(self.uri, json={"data": 1}, headers=headers)
                    self.statuses.append(response.status_code)
                    if response.status_code != 200:
                        self.failures.append(f"{response.status_code} {response.text[:200]}")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))

    def count(self) -> int:
        return len(self.statuses)

    def more(self, requests: int, timeout: float = 60) -> None:
        """Until `requests` more answers arrived."""
        target = self.count() + requests
        deadline = time.monotonic() + timeout
        while self.count() < target:
            assert any(t.is_alive() for t in self.threads), "the load ended early"
            assert time.monotonic() < deadline, f"load stalled at {self.count()}"
            time.sleep(0.01)

    def finish(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(60)


def test_two_edits_in_a_row_leave_exactly_the_instances_asked_for(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"score.py": SLOW_INIT}, {"blue": with_env("red", init_s=1)})
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        (first_pid,) = running.instance_pids()
        first = psutil.Process(first_pid)
        (folder / "blue.yml").write_text(with_env("green", init_s=1))
        running.wait_for(lambda eps: blue(eps)[0] is ProvisioningState.UPDATING)
        (folder / "blue.yml").write_text(with_env("yellow", init_s=1))
        settled = running.wait_for(
            lambda eps: blue(eps) == (ProvisioningState.SUCCEEDED, [InstancePhase.READY]), timeout=120
        )
        instance = settled[0].deployments[0].instances[0]
        assert instance.pid != first_pid
        answer = httpx.post(f"{instance.url}/score", json={}).json()
        assert answer["colour"] == "yellow"
        assert not alive(first)
        assert "Task exception was never retrieved" not in running.output()
        assert "engine-error" not in running.output()


def test_state_stays_updating_until_the_new_generation_is_ready(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"score.py": SLOW_INIT}, {"blue": with_env("red")})
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        (folder / "blue.yml").write_text(with_env("green", init_s=3))
        # the new instance is starting (its init() takes 3 s) while the old one serves
        during = running.wait_for(lambda eps: InstancePhase.STARTING in blue(eps)[1])
        assert blue(during)[0] is ProvisioningState.UPDATING
        assert InstancePhase.READY in blue(during)[1]
        settled = running.wait_settled(120)
        assert blue(settled) == (ProvisioningState.SUCCEEDED, [InstancePhase.READY])
        seen = events(running)
        updating = next(i for i, e in enumerate(seen) if "Updating" in e)
        succeeded = next(i for i, e in enumerate(seen) if "Succeeded" in e and i > updating)
        ready = [i for i, e in enumerate(seen) if "tests/blue-1" in e or "blue-1" in e]
        assert succeeded > updating
        assert "1/1 instance(s) ready" in seen[succeeded]
        assert all(i < succeeded for i in ready if "ready" in seen[i]), seen


def test_a_failed_deployment_that_is_updated_shows_updating_not_the_old_failure(tmp_path: Path) -> None:
    broken = "def init():\n    raise RuntimeError('no model')\n\n\ndef run(data):\n    return data\n"
    folder = folder_with(tmp_path, {"score.py": broken}, {"blue": with_env("red")})
    with engine(folder, tmp_path) as running:
        failed = running.wait_settled(120)
        assert blue(failed)[0] is ProvisioningState.FAILED
        (folder / "code" / "score.py").write_text(SLOW_INIT)
        (folder / "blue.yml").write_text(with_env("green", init_s=2))
        during = running.wait_for(lambda eps: blue(eps)[0] is ProvisioningState.UPDATING)
        assert during[0].deployments[0].reason is None
        settled = running.wait_settled(120)
        assert blue(settled) == (ProvisioningState.SUCCEEDED, [InstancePhase.READY])


def test_a_comment_only_edit_touches_no_instance(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"score.py": ECHO}, {"blue": deployment_yaml("blue", "score.py")})
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        pids = running.instance_pids()
        seen = len(events(running))
        text = (folder / "blue.yml").read_text()
        (folder / "blue.yml").write_text("# the production model, reviewed\n" + text.replace("\n", "\n\n", 1))
        wait_for_event(running, "reconciled: no deployment changed", after=seen)
        assert running.instance_pids() == pids
        assert blue(running.status()) == (ProvisioningState.SUCCEEDED, [InstancePhase.READY])


def test_a_deployment_added_while_running_reloads_on_a_code_edit(tmp_path: Path) -> None:
    versioned = "def init():\n    pass\n\n\ndef run(data):\n    return {{'version': {v}}}\n"
    folder = folder_with(
        tmp_path, {"score.py": versioned.format(v=1)}, {"blue": deployment_yaml("blue", "score.py")}
    )
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        (folder / "green.yml").write_text(deployment_yaml("green", "score.py"))
        settled = running.wait_for(
            lambda eps: (
                len(eps[0].deployments) == 2
                and all(d.provisioning_state is ProvisioningState.SUCCEEDED for d in eps[0].deployments)
            ),
            timeout=120,
        )
        green = next(d for d in settled[0].deployments if d.name == "green")
        url = green.instances[0].url
        assert httpx.post(f"{url}/score", json={}).json() == {"version": 1}
        (folder / "code" / "score.py").write_text(versioned.format(v=2))
        wait_for_event(running, "tests/green-0: reloaded in")
        assert httpx.post(f"{url}/score", json={}).json() == {"version": 2}


def test_killing_an_instance_parent_leaves_none_of_its_workers(tmp_path: Path) -> None:
    two_workers = (
        "request_settings: {max_concurrent_requests_per_instance: 2}\n"
        'environment_variables: {WORKER_COUNT: "2"}\n'
    )
    folder = folder_with(
        tmp_path, {"score.py": ECHO}, {"blue": deployment_yaml("blue", "score.py", extra=two_workers)}
    )
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        (parent,) = running.instance_pids()
        workers = psutil.Process(parent).children(recursive=True)
        assert len(workers) >= 2
        os.kill(parent, signal.SIGKILL)
        running.wait_for(lambda eps: eps[0].deployments[0].instances[0].restarts == 1)
        for worker in workers:  # gone with their parent, not answering on its port any more
            worker.wait(timeout=30)
        running.wait_for(lambda eps: blue(eps)[1] == [InstancePhase.READY])
        (new_parent,) = running.instance_pids()
        new_workers = psutil.Process(new_parent).children(recursive=True)
        assert len(new_workers) >= 2
        stopped = run_workbench("down", "--project", str(folder), timeout=90)
        assert stopped.returncode == 0, stopped.stderr
    survivors = [w.pid for w in [*workers, *new_workers] if alive(w)]
    assert survivors == []


def test_rollout_scale_down_and_restart_fail_no_request_under_load(tmp_path: Path) -> None:
    busy = "instance_count: 2\nrequest_settings: {max_concurrent_requests_per_instance: 4}\n"
    folder = folder_with(
        tmp_path, {"score.py": SLOW_INIT}, {"blue": with_env("red", extra=busy, run_s=0.2, workers=4)}
    )
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        load = Load(running)
        load.start()
        try:
            load.more(20)
            # a rolling replace after a real change
            # init() takes 1.5 s from here: the restart below has a hand-over to see
            (folder / "blue.yml").write_text(with_env("green", 1.5, extra=busy, run_s=0.2, workers=4))
            running.wait_for(lambda eps: blue(eps)[0] is ProvisioningState.UPDATING)
            running.wait_settled(120)
            load.more(20)
            # a scale down
            with EngineClient.for_folder(folder) as client:
                client.scale("tests", "blue", 1)
            running.wait_for(
                lambda eps: blue(eps) == (ProvisioningState.SUCCEEDED, [InstancePhase.READY]), timeout=60
            )
            load.more(20)
            # a restart from the CLI of the one instance left
            (instance,) = running.status()[0].deployments[0].instances
            restarted = run_workbench("restart", "tests", "blue", "--instance", instance.id, cwd=folder)
            assert restarted.returncode == 0, restarted.stderr
            # while the new process starts, the old one serves: 1/1 ready, and said so
            (handing_over,) = running.wait_for(
                lambda eps: eps[0].deployments[0].instances[0].handing_over, 60
            )
            shown = describe(handing_over)
            assert "1/1 ready" in shown, shown
            assert "Starting" in shown
            assert "its previous process serves until this one is ready" in shown
            running.wait_for(
                lambda eps: (
                    eps[0].deployments[0].instances[0].restarts == instance.restarts + 1
                    and blue(eps)[1] == [InstancePhase.READY]
                )
            )
            load.more(20)
        finally:
            load.finish()
        assert load.failures == []
        assert load.count() >= 80


def test_traffic_names_are_compared_without_case_as_azure_does(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"score.py": ECHO}, {"blue": deployment_yaml("blue", "score.py")})
    (folder / "endpoint.yml").write_text(ENDPOINT.format(name="tests") + "traffic:\n  Blue: 100\n")
    assert run_workbench("validate", str(folder)).returncode == 0
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(120)
        assert endpoint.traffic == {"blue": 100}
        with EngineClient.for_folder(folder) as client:
            key = client.credentials("tests").secret
        answer = httpx.post(endpoint.scoring_uri or "", json={}, headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200, answer.text
        assert answer.headers["azureml-model-deployment"] == "blue"


def test_a_deployment_that_takes_traffic_is_not_deleted(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        {"score.py": ECHO},
        {"blue": deployment_yaml("blue", "score.py"), "green": deployment_yaml("green", "score.py")},
    )
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        with EngineClient.for_folder(folder) as client:
            client.set_traffic("tests", {"blue": 100}, None)
            (folder / "blue.yml").unlink()
            running.wait_for_output("tests/blue: not deleted: it still takes 100% of the traffic")
            (endpoint,) = running.status()
            assert {d.name for d in endpoint.deployments} == {"blue", "green"}
            assert endpoint.traffic == {"blue": 100}
            client.set_traffic("tests", {"green": 100}, None)  # now blue may go
        running.wait_for(lambda eps: [d.name for d in eps[0].deployments] == ["green"])
        running.wait_for_output("reconciled: delete tests/blue")


def test_a_failed_deployment_comes_back_once_its_cause_is_fixed(tmp_path: Path) -> None:
    broken = "def init():\n    raise RuntimeError('no model')\n\n\ndef run(data):\n    return data\n"
    secret = "environment_variables:\n  KEY: ${{azureml://connections/c/credentials/key}}\n"
    folder = folder_with(
        tmp_path,
        {"score.py": broken, "ok.py": ECHO},
        {
            "blue": deployment_yaml("blue", "score.py"),
            "green": deployment_yaml("green", "ok.py", extra=secret),
        },
    )
    with engine(folder, tmp_path) as running:
        settled = running.wait_settled(120)
        assert {d.name: d.provisioning_state for d in settled[0].deployments} == {
            "blue": ProvisioningState.FAILED,
            "green": ProvisioningState.FAILED,
        }
        # the fix for blue is in its code: saved, reloaded, and the instance that gave up starts again
        (folder / "code" / "score.py").write_text(ECHO)
        # the fix for green is a value for its secret: the engine tries it again
        (folder / "workbench.yaml").write_text(
            "secrets:\n  azureml://connections/c/credentials/key: s3cret\n"
        )
        running.wait_for(
            lambda eps: all(d.provisioning_state is ProvisioningState.SUCCEEDED for d in eps[0].deployments),
            timeout=120,
        )
