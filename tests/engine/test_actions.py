"""What the dashboard asks of a running engine, through the real control API: code reloads in
place (edits picked up by the watcher), restart, scale, telemetry; and the pieces under them."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import httpx
import pytest

from tests.conftest import run_workbench
from tests.engine.harness import RunningEngine, deployment_yaml, engine, folder_with, until
from workbench.client import EngineClient
from workbench.engine.blobs import BlobStore
from workbench.engine.storage import refresh, stage
from workbench.errors import EngineError
from workbench.router.endpoint import PerSecond
from workbench.spec import load_project
from workbench.state import InstancePhase

VERSIONED = "def init():\n    pass\n\n\ndef run(data):\n    return {{'version': {version}}}\n"


def versioned_folder(tmp_path: Path) -> Path:
    return folder_with(
        tmp_path,
        {"score.py": VERSIONED.format(version=1), "helper.py": "X = 1\n"},
        {"blue": deployment_yaml("blue", "score.py")},
    )


def save_like_an_editor(path: Path, text: str) -> None:
    """Write a new file and rename it over the old one, as most editors save."""
    fresh = path.with_name(path.name + ".tmp-save")
    fresh.write_text(text)
    os.replace(fresh, path)


class Client(threading.Thread):
    """Sends requests through the router, one after another, and keeps every answer."""

    def __init__(self, running: RunningEngine) -> None:
        super().__init__(daemon=True)
        with EngineClient.for_folder(running.folder) as client:
            self.uri = client.status()[0].scoring_uri or ""
            self.key = client.credentials("tests").secret
        self.answers: list[object] = []
        self.failures: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}", "azureml-model-deployment": "blue"}
        with httpx.Client(timeout=10) as http:
            while not self.stopping.is_set():
                try:
                    response = http.post(self.uri, json={"data": 1}, headers=headers)
                except Exception as exc:
                    self.failures.append(repr(exc))
                    continue
                if response.status_code == 200:
                    self.answers.append(response.json())
                else:
                    self.failures.append(f"{response.status_code} {response.text}")

    def wait_for(self, answer: object, timeout: float = 15) -> None:
        until(
            lambda: bool(self.answers) and self.answers[-1] == answer,
            timeout,
            lambda: f"never answered {answer}; last: {self.answers[-1:]}; failures: {self.failures[-3:]}",
        )


def events(running: RunningEngine) -> list[str]:
    with EngineClient.for_folder(running.folder) as client:
        return [f"{e.kind} {e.subject}: {e.message}" for e in client.events()]


def test_editing_the_code_reloads_it_in_place_with_no_failed_request(tmp_path: Path) -> None:
    folder = versioned_folder(tmp_path)
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        (pid,) = running.instance_pids()
        client = Client(running)
        client.start()
        try:
            client.wait_for({"version": 1})
            for version in (2, 3):
                save_like_an_editor(folder / "code" / "score.py", VERSIONED.format(version=version))
                client.wait_for({"version": version})
            # a broken edit: the old code keeps answering and the failure names file and line
            save_like_an_editor(folder / "code" / "score.py", "def init():\n    pass\n\ndef run(data)\n")
            running.wait_for(
                lambda eps: "reload failed" in (eps[0].deployments[0].last_reload or ""), timeout=15
            )
            answered = len(client.answers)
            until(lambda: len(client.answers) > answered + 10, 30)  # answers after the failed reload
            assert client.answers[answered:][-1] == {"version": 3}
        finally:
            client.stopping.set()
            client.join(10)
        assert client.failures == []
        assert len(client.answers) > 50
        assert running.instance_pids() == [pid], "reloaded in place, not restarted"
        (endpoint,) = running.status()
        assert endpoint.deployments[0].instances[0].restarts == 0
        failure = endpoint.deployments[0].last_reload or ""
        assert "score.py:4: SyntaxError" in failure
        typed = endpoint.deployments[0].failure
        assert typed is not None
        assert (typed.file, typed.line, typed.error) == (str(folder / "code" / "score.py"), 4, "SyntaxError")
        seen = events(running)
        assert any(e.startswith("instance tests/blue-0: reloaded in") for e in seen)  # each instance
        assert any(e.startswith("reload tests/blue: reloaded in") for e in seen)  # one per save
        failed = [e for e in seen if e.startswith("reload-failed tests/blue:")]
        assert len(failed) == 1
        assert f"{folder}/code/score.py:4" in failed[0]  # the user's file, not the staged copy
        assert "(in 1 of 1 instance(s))" in failed[0]
        save_like_an_editor(folder / "code" / "score.py", VERSIONED.format(version=4))  # the fix
        running.wait_for(lambda eps: eps[0].deployments[0].failure is None, timeout=15)
        assert running.status()[0].deployments[0].reloads >= 4  # finished reloads, counted: 2, 3, broken, fix


def test_the_watcher_and_promote_asking_for_the_same_edit_reload_it_once(tmp_path: Path) -> None:
    """A promote activates a release (the watcher sees the files) and then asks for the reload
    itself: the second finds nothing new and reloads nothing; a reload asked by hand still does."""
    folder = versioned_folder(tmp_path)
    with engine(folder, tmp_path) as running, EngineClient.for_folder(folder) as control:
        running.wait_settled(120)
        before = running.status()[0].deployments[0].reloads

        def reloads_past(count: int) -> None:
            running.wait_for(lambda eps: eps[0].deployments[0].reloads > count, timeout=30)

        def staged() -> int:
            return sum(1 for e in events(running) if e.startswith("reload tests/blue: model and code staged"))

        save_like_an_editor(folder / "code" / "score.py", VERSIONED.format(version=2))
        reloads_past(before)
        control.reload("tests", "blue", if_changed=True)  # as promote asks, after the watcher
        reloads_past(before + 1)
        assert staged() == 1
        control.reload("tests", "blue")  # `workbench reload` by hand: it reloads all the same
        reloads_past(before + 2)
        assert staged() == 2


def test_restart_scale_and_telemetry(tmp_path: Path) -> None:
    folder = versioned_folder(tmp_path)
    with engine(folder, tmp_path) as running, EngineClient.for_folder(folder) as client:
        running.wait_settled(120)
        client.scale("tests", "blue", 2)
        running.wait_for(
            lambda eps: [i.state for i in eps[0].deployments[0].instances] == [InstancePhase.READY] * 2, 60
        )
        telemetry = client.telemetry()
        assert set(telemetry.instances) == {"tests/blue-0", "tests/blue-1"}
        assert all(sample.rss_bytes > 10_000_000 for sample in telemetry.instances.values())
        assert telemetry.gpus == []  # no GPU on this machine: an answer, not an error

        before = {i.id: i.pid for i in running.status()[0].deployments[0].instances}
        client.restart("tests", "blue", "blue-1")
        running.wait_for(
            lambda eps: (
                (i := eps[0].deployments[0].instances[1]).restarts == 1 and i.state is InstancePhase.READY
            ),
            60,
        )
        after = {i.id: i.pid for i in running.status()[0].deployments[0].instances}
        assert after["blue-0"] == before["blue-0"]
        assert after["blue-1"] != before["blue-1"]

        rolled = run_workbench("restart", "tests", "blue", "--all", "--project", str(folder))  # each in turn
        assert rolled.returncode == 0, rolled.stderr
        running.wait_for_output("rolling restart done", 120)
        (endpoint,) = running.status()
        assert [(i.restarts, i.state) for i in endpoint.deployments[0].instances] == [
            (1, InstancePhase.READY),
            (2, InstancePhase.READY),
        ]

        client.scale("tests", "blue", 1)
        running.wait_for(lambda eps: len(eps[0].deployments[0].instances) == 1, 60)

        with pytest.raises(EngineError, match=r"404.*no instance blue-9"):
            client.restart("tests", "blue", "blue-9")
        with pytest.raises(EngineError, match=r"404.*does not exist"):
            client.reload("tests", "purple")
        with pytest.raises(EngineError, match=r"400.*from 1 to 50"):
            client.scale("tests", "blue", 0)


def test_refresh_updates_files_in_place_and_keeps_the_folder(tmp_path: Path) -> None:
    folder = versioned_folder(tmp_path)
    project = load_project(folder)
    spec = project.endpoints[0].deployments[0]
    target, log = tmp_path / "staged", tmp_path / "storage.log"
    blobs = BlobStore(tmp_path / "blobs")
    stage(spec, target, log, blobs)
    app = target / "code"
    identity = app.stat().st_ino
    save_like_an_editor(folder / "code" / "score.py", VERSIONED.format(version=2))  # a new inode
    (folder / "code" / "helper.py").unlink()
    (folder / "code" / "new.py").write_text("Y = 2\n")
    assert refresh(spec, target, log, blobs) == 3
    assert (app / "score.py").read_text() == VERSIONED.format(version=2)
    assert not (app / "helper.py").exists()
    assert (app / "new.py").read_text() == "Y = 2\n"
    assert app.stat().st_ino == identity, "the servers' working folder is the same folder"
    assert refresh(spec, target, log, blobs) == 0
    assert "Model and code refreshed" in log.read_text()


def test_timeline_summarises_each_second() -> None:
    now = [1000.2]
    timeline = PerSecond(clock=lambda: now[0])
    for latency in (1.0, 2.0, 3.0, 100.0):
        timeline.add(latency)
    now[0] = 1001.1
    timeline.add_mirrored()  # a mirror target's second: copies, no live request
    timeline.add_mirrored()
    now[0] = 1003.5  # a quiet second between
    timeline.add(5.0)
    seconds = timeline.summary()
    assert seconds.second == [1000, 1001, 1002]
    assert seconds.requests == [4, 0, 0]
    assert seconds.p50_ms == [3.0, None, None]
    assert seconds.p99_ms == [100.0, None, None]
    assert seconds.mirrored == [0, 2, 0]


MODEL_SCRIPT = (
    "import os\n\n\n"
    "def init():\n"
    "    global model\n"
    "    model = open(os.path.join(os.environ['AZUREML_MODEL_DIR'], 'model', 'weights.txt')).read()\n\n\n"
    "def run(data):\n"
    "    return {{'model': model, 'run': {run}}}\n"
)


def test_a_model_edit_runs_init_again_and_a_run_edit_keeps_it(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        {"score.py": MODEL_SCRIPT.format(run=1)},
        {"blue": deployment_yaml("blue", "score.py", extra="model:\n  path: model\n")},
    )
    (folder / "model").mkdir()
    (folder / "model" / "weights.txt").write_text("first")
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        client = Client(running)
        client.start()
        try:
            client.wait_for({"model": "first", "run": 1})
            save_like_an_editor(folder / "code" / "score.py", MODEL_SCRIPT.format(run=2))
            client.wait_for({"model": "first", "run": 2})
            save_like_an_editor(folder / "model" / "weights.txt", "second")
            client.wait_for({"model": "second", "run": 2})
        finally:
            client.stopping.set()
            client.join(10)
        assert client.failures == []
        reloads = [e for e in events(running) if e.startswith("instance tests/blue-0: reloaded")]
        assert "init() kept: model" in reloads[0]
        assert "(init " in reloads[1]
        assert "weights.txt" in reloads[1]
