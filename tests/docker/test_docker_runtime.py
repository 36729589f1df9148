"""The Docker runtime with the real Docker engine: the quickstart in containers, answering
through the router as with processes; nothing rebuilt or left behind; reload in place with the
code mounted; the instance type's memory limit; containers of a killed engine removed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import joblib
import numpy
import pytest
from docker.models.containers import Container

from tests.conftest import QUICKSTART, require_docker, run_workbench
from tests.engine.harness import (
    ENDPOINT,
    RunningEngine,
    copy_project,
    deployment_yaml,
    engine,
    folder_with,
    until,
)
from tests.engine.test_actions import Client, save_like_an_editor
from workbench.client import EngineClient
from workbench.state import InstancePhase, ProvisioningState
from workbench.telemetry.gpu import missing_gpu

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(900)]
PROJECT_LABEL = "workbench.project"
INSTANCE_LABEL = "workbench.instance"


@pytest.fixture
def client() -> Iterator[docker.DockerClient]:
    require_docker()
    connection = docker.from_env()
    try:
        yield connection
    finally:
        connection.close()


def containers_of(client: docker.DockerClient, folder: Path) -> list[Container]:
    return list(client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={folder.resolve()}"}))


def build_output(folder: Path) -> dict[str, str]:
    logs = folder / ".workbench" / "logs" / "quickstart"
    return {p.parent.name: p.read_text() for p in sorted(logs.glob("*/build.log"))}


def built_since(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """What each deployment's build log says since `before`, except that its image was cached."""
    assert after.keys() == before.keys()
    added = [line for name, text in after.items() for line in text.removeprefix(before[name]).splitlines()]
    assert all(text.startswith(before[name]) for name, text in after.items()), "the logs only grew"
    return [
        line for line in added if "from the cache; nothing to build" not in line and "packages:" not in line
    ]


def succeeded(running: RunningEngine, timeout: float) -> None:
    (endpoint,) = running.wait_settled(timeout)
    states = {d.name: d.provisioning_state for d in endpoint.deployments}
    assert set(states.values()) == {ProvisioningState.SUCCEEDED}, f"{states}\n{running.output()}"


def test_quickstart_runs_in_containers_like_azure(client: docker.DockerClient, tmp_path: Path) -> None:
    folder = copy_project(QUICKSTART, tmp_path / "quickstart")
    request = (folder / "sample-request.json").read_bytes()
    with engine(folder, tmp_path, runtime="docker") as running:
        succeeded(running, 600)  # the first run builds the image
        with EngineClient.for_folder(folder) as control:
            for deployment, model_folder in (("blue", "model-1"), ("green", "model-2")):
                answer = control.invoke("quickstart", request, deployment)
                assert answer.status == 200, answer.body
                assert answer.served_by == deployment
                model = joblib.load(folder / model_folder / "model" / "sklearn_regression_model.pkl")
                expected = model.predict(numpy.array(json.loads(request)["data"])).tolist()
                assert json.loads(answer.body) == pytest.approx(expected)
        for container in containers_of(client, folder):
            config, host = container.attrs["Config"], container.attrs["HostConfig"]
            assert config["User"] == "65534:65534"
            assert host["CapDrop"] == ["ALL"]
            assert host["SecurityOpt"] == ["no-new-privileges"]
            assert host["Memory"] == 14 * 2**30  # Standard_DS3_v2
            assert all(b["HostIp"] == "127.0.0.1" for binds in host["PortBindings"].values() for b in binds)
            environment = dict(item.split("=", 1) for item in config["Env"])
            assert environment["AZUREML_MODEL_DIR"].startswith("/var/azureml-app/azureml-models/")
            assert environment["AML_APP_ROOT"] == "/var/azureml-app/onlinescoring"
        logs = folder / ".workbench" / "logs" / "quickstart"
        for deployment in ("blue", "green"):
            initializer = (logs / deployment / "storage-initializer.log").read_text()
            assert f"Running in container quickstart.{deployment}.storage-initializer" in initializer
            assert "Model staged: 1 file(s)" in initializer
            assert "Code staged: " in initializer
            assert (
                "Users's init has completed"
                in (logs / deployment / f"{deployment}-0" / "inference-server.log").read_text()
            )
        built = build_output(folder)
    assert containers_of(client, folder) == [], "workbench down / stop leaves no container"

    with engine(folder, tmp_path, runtime="docker") as running:
        succeeded(running, 60)
        assert "building" not in running.output()
    assert built_since(built, build_output(folder)) == [], "nothing was built the second time"


def test_code_edits_reload_in_place_under_load(client: docker.DockerClient, tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        {"score.py": "def init():\n    pass\n\n\ndef run(data):\n    return {'version': 1}\n"},
        {"blue": deployment_yaml("blue", "score.py")},
    )
    (folder / "endpoint.yml").write_text(ENDPOINT.format(name="tests") + "traffic: {blue: 100}\n")
    with engine(folder, tmp_path, runtime="docker") as running:
        succeeded(running, 600)
        (container,) = containers_of(client, folder)
        load = Client(running)
        load.start()
        try:
            load.wait_for({"version": 1})
            for version in (2, 3):
                save_like_an_editor(
                    folder / "code" / "score.py",
                    f"def init():\n    pass\n\n\ndef run(data):\n    return {{'version': {version}}}\n",
                )
                load.wait_for({"version": version})
        finally:
            load.stopping.set()
            load.join(10)
        assert load.failures == []
        assert [c.id for c in containers_of(client, folder)] == [container.id], (
            "reloaded in place, not replaced"
        )
        # pressure from inside the container counts as the instance's own use
        pressed = run_workbench(
            "fault", "tests", "blue", "--cpu-pressure", "1", "--seconds", "40", "--project", str(folder)
        )
        assert pressed.returncode == 0, pressed.stderr
        with EngineClient.for_folder(folder) as engine_client:

            def busy() -> bool:
                sample = engine_client.telemetry().instances.get("tests/blue-0")
                return sample is not None and sample.cpu_percent > 25

            until(busy, 35, lambda: str(engine_client.telemetry()))
        # a killed container is handled as any crash: a new one, ready again
        killed = run_workbench("fault", "tests", "blue", "--kill", "--project", str(folder))
        assert killed.returncode == 0, killed.stderr
        running.wait_for(
            lambda eps: (
                eps[0].deployments[0].instances[0].restarts == 1
                and eps[0].deployments[0].instances[0].state is InstancePhase.READY
            ),
            300,
        )
        assert [c.id for c in containers_of(client, folder)] != [container.id]


def test_a_model_too_big_for_its_instance_type_is_oom_killed(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    script = (
        "def init():\n    global model\n    model = b'x' * (5 * 2**30)  # 5 GiB; the SKU has 3.5\n\n\n"
        "def run(data):\n    return len(model)\n"
    )
    folder = folder_with(
        tmp_path,
        {"score.py": script},
        {"blue": deployment_yaml("blue", "score.py").replace("Standard_DS3_v2", "Standard_DS1_v2")},
    )
    with engine(folder, tmp_path, runtime="docker") as running:
        (endpoint,) = running.wait_settled(600)
        (deployment,) = endpoint.deployments
        assert deployment.provisioning_state is ProvisioningState.FAILED
        assert "OOMKilled" in (deployment.reason or "")


def test_containers_of_a_killed_engine_are_removed_by_the_next(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    folder = folder_with(
        tmp_path,
        {"score.py": "def init():\n    pass\n\n\ndef run(data):\n    return data\n"},
        {"blue": deployment_yaml("blue", "score.py")},
    )
    with engine(folder, tmp_path, runtime="docker") as running:
        succeeded(running, 600)
        running.process.send_signal(signal.SIGKILL)
        running.process.wait()
        assert len(containers_of(client, folder)) == 1
        (folder / ".workbench" / "connection.json").unlink()
        with engine(folder, tmp_path, runtime="docker") as second:
            succeeded(second, 60)
            assert "removed 1 container(s) left by a previous engine" in second.output()
            assert len(containers_of(client, folder)) == 1
    assert containers_of(client, folder) == []


def test_a_gpu_instance_type_says_what_is_missing_for_its_gpu(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    """On a machine without what a GPU container needs, the deployment fails before anything is
    built, naming the missing piece and the fix; with all of it, it runs."""
    folder = folder_with(
        tmp_path,
        {"score.py": "def init():\n    pass\n\n\ndef run(data):\n    return data\n"},
        {"blue": deployment_yaml("blue", "score.py").replace("Standard_DS3_v2", "Standard_NC6s_v3")},
    )
    missing = missing_gpu()
    if missing is None and "nvidia" not in (client.info().get("Runtimes") or {}):
        missing = "the Docker engine has no NVIDIA runtime"
    with engine(folder, tmp_path, runtime="docker") as running:
        (endpoint,) = running.wait_settled(600)
        (deployment,) = endpoint.deployments
        if missing is None:
            assert deployment.provisioning_state is ProvisioningState.SUCCEEDED
            return
        assert deployment.provisioning_state is ProvisioningState.FAILED
        reason = deployment.reason or ""
        assert reason.startswith("GPU needed (Standard_NC6s_v3 has 1 GPU(s)) but ")
        assert missing.split(" (")[0] in reason
        assert "install" in reason
        assert containers_of(client, folder) == []


def test_a_deployment_without_outside_network_answers_but_reaches_nothing(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    """The instance is on an internal network only (Docker's isolation rules drop what leaves
    it), with no published port; the router reaches it through its door. Sending traffic out to
    prove the drop would break this project's network rules, so Docker's own settings are what
    is checked."""
    folder = folder_with(
        tmp_path,
        {"score.py": "def init():\n    pass\n\n\ndef run(data):\n    return {'ok': True}\n"},
        {"blue": deployment_yaml("blue", "score.py", extra="egress_public_network_access: disabled\n")},
    )
    (folder / "endpoint.yml").write_text(ENDPOINT.format(name="tests") + "traffic: {blue: 100}\n")
    with engine(folder, tmp_path, runtime="docker") as running:
        succeeded(running, 600)
        with EngineClient.for_folder(folder) as control:
            answer = control.invoke("tests", b"{}")
        assert (answer.status, json.loads(answer.body)) == (200, {"ok": True})
        containers = {c.labels[INSTANCE_LABEL]: c for c in containers_of(client, folder)}
        instance, door = containers["tests.blue.0"], containers["tests.blue.0.door"]
        (network_name,) = instance.attrs["NetworkSettings"]["Networks"]
        assert client.networks.get(network_name).attrs["Internal"] is True
        assert instance.attrs["HostConfig"]["PortBindings"] in (None, {})
        assert set(door.attrs["NetworkSettings"]["Networks"]) == {"bridge", network_name}
        assert door.attrs["HostConfig"]["PortBindings"]["5001/tcp"][0]["HostIp"] == "127.0.0.1"
    assert containers_of(client, folder) == []
    assert client.networks.list(filters={"label": f"{PROJECT_LABEL}={folder.resolve()}"}) == []


BYOC_SERVER = """
import json, os
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.reply(200 if self.path == "/health" else 404, {"path": self.path})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        model_dir = os.environ.get("AZUREML_MODEL_DIR")
        self.reply(200, {"byoc": True, "path": self.path, "got": body.decode(), "model_dir": model_dir,
                         "model_files": sorted(os.listdir(os.path.join(model_dir, "model")))})

    def reply(self, status, answer):
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

HTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
"""


def test_a_custom_container_runs_its_own_server_behind_the_router(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    image = "workbench-test-byoc:1"
    dockerfile = (
        'FROM workbench-base:py3.11\nCOPY server.py /srv/server.py\nCMD ["python3", "/srv/server.py"]\n'
    )
    context = tmp_path / "byoc"
    context.mkdir()
    (context / "Dockerfile").write_text(dockerfile)
    (context / "server.py").write_text(BYOC_SERVER)
    client.images.build(path=str(context), tag=image, rm=True)
    folder = tmp_path / "tests"
    folder.mkdir()
    (folder / "endpoint.yml").write_text(ENDPOINT.format(name="tests") + "traffic: {blue: 100}\n")
    (folder / "model").mkdir()
    (folder / "model" / "weights.bin").write_bytes(b"\0" * 10)
    (folder / "blue.yml").write_text(
        "name: blue\nendpoint_name: tests\ninstance_type: Standard_DS3_v2\n"
        "model: {name: weights, version: 3, path: model}\nmodel_mount_path: /var/tfserving-model-mount\n"
        "environment:\n"
        f"  image: {image}\n"
        "  inference_config:\n"
        "    liveness_route: {port: 8080, path: /health}\n"
        "    readiness_route: {port: 8080, path: /health}\n"
        "    scoring_route: {port: 8080, path: /predict}\n"
    )
    with engine(folder, tmp_path, runtime="docker") as running:
        succeeded(running, 120)
        with EngineClient.for_folder(folder) as control:
            answer = control.invoke("tests", b'{"data": 1}')
        assert answer.status == 200, answer.body
        body = json.loads(answer.body)
        assert body["byoc"] is True
        assert body["path"] == "/predict"
        assert body["got"] == '{"data": 1}'
        assert body["model_dir"] == "/var/tfserving-model-mount/weights/3", (
            "model_mount_path, as Azure mounts it"
        )
        assert body["model_files"] == ["weights.bin"]
        (container,) = containers_of(client, folder)
        assert container.attrs["Config"]["Cmd"] == ["python3", "/srv/server.py"]  # the image's own
        assert container.attrs["HostConfig"]["CapDrop"] == ["ALL"]


def test_each_deployment_runs_on_the_runtime_workbench_yaml_gives_it(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    folder = folder_with(
        tmp_path,
        {"score.py": "import os\n\ndef init():\n    pass\n\n\ndef run(data):\n    return os.getcwd()\n"},
        {"blue": deployment_yaml("blue", "score.py"), "green": deployment_yaml("green", "score.py")},
    )
    (folder / "workbench.yaml").write_text(
        "endpoints:\n  tests:\n    deployments:\n      green: {runtime: docker}\n"
    )
    with engine(folder, tmp_path) as running:
        succeeded(running, 600)
        with EngineClient.for_folder(folder) as control:
            blue = json.loads(control.invoke("tests", b"{}", "blue").body)
            green = json.loads(control.invoke("tests", b"{}", "green").body)
        (endpoint,) = running.status()
        assert endpoint.deployment("blue").instances[0].pid is not None  # type: ignore[union-attr]
        assert blue.startswith(str(folder))  # a process, in the staged folder on the host
        assert green == "/var/azureml-app/code"  # a container, where Azure puts the code
        assert [c.labels[INSTANCE_LABEL] for c in containers_of(client, folder)] == ["tests.green.0"]


def test_a_deployment_can_run_on_the_real_azmlinfsrv(client: docker.DockerClient, tmp_path: Path) -> None:
    """`server: azmlinfsrv`: green runs Microsoft's server in its container and answers as blue
    (the workbench server) does; a code edit restarts it (azmlinfsrv has no in-place reload)."""
    folder = copy_project(QUICKSTART, tmp_path / "quickstart")
    (folder / "workbench.yaml").write_text(
        "runtime: docker\nendpoints:\n  quickstart:\n    deployments:\n      green: {server: azmlinfsrv}\n"
    )
    request = (folder / "sample-request.json").read_bytes()
    with engine(folder, tmp_path) as running:
        succeeded(running, 900)
        containers = {c.labels[INSTANCE_LABEL]: c for c in containers_of(client, folder)}
        assert containers["quickstart.green.0"].attrs["Config"]["Cmd"][0] == "/opt/venv/bin/azmlinfsrv"
        with EngineClient.for_folder(folder) as control:
            green = control.invoke("quickstart", request, "green")
            assert green.status == 200, green.body
            model = joblib.load(folder / "model-2" / "model" / "sklearn_regression_model.pkl")
            expected = model.predict(numpy.array(json.loads(request)["data"])).tolist()
            assert json.loads(green.body) == pytest.approx(expected)
            score = folder / "onlinescoring" / "score.py"
            save_like_an_editor(
                score, score.read_text().replace("return result.tolist()", "return {'edited': 1}")
            )
            deadline = time.monotonic() + 120
            while json.loads(control.invoke("quickstart", request, "green").body) != {"edited": 1}:
                assert time.monotonic() < deadline, running.output()[-2000:]
                time.sleep(0.5)
        assert "azmlinfsrv has no in-place reload" in running.output()


def test_azmlinfsrv_is_refused_outside_a_container(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        {"score.py": "def init():\n    pass\n\n\ndef run(data):\n    return data\n"},
        {"blue": deployment_yaml("blue", "score.py")},
    )
    (folder / "workbench.yaml").write_text(
        "endpoints:\n  tests:\n    deployments:\n      blue: {server: azmlinfsrv}\n"
    )
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(120)
        reason = endpoint.deployments[0].reason or ""
        assert endpoint.deployments[0].provisioning_state is ProvisioningState.FAILED
        assert "listens on every network interface" in reason
        assert "runtime: docker" in reason


def test_a_run_that_writes_to_its_model_fails_in_a_container_too(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    from tests.engine.test_staging import WRITES_ITS_MODEL  # noqa: PLC0415

    folder = folder_with(tmp_path, {"score.py": WRITES_ITS_MODEL}, {})
    (folder / "model.pkl").write_text("x")
    text = deployment_yaml("blue", "score.py", extra="model:\n  path: model.pkl\n")
    (folder / "blue.yml").write_text(text)
    with engine(folder, tmp_path, runtime="docker") as running:
        succeeded(running, 600)
        (endpoint,) = running.status()
        url = endpoint.deployments[0].instances[0].url
        answer = httpx.post(f"{url}/score", json={}, timeout=30).json()
    assert answer["errno"] in (13, 30), answer  # read-only mount (or the file's mode)
    assert (folder / "model.pkl").read_text() == "x"


REGISTRY = "127.0.0.1:5000"


def require_registry() -> None:
    """The local registry `.ci/run` starts; skipped without it, failing in CI."""
    try:
        httpx.get(f"http://{REGISTRY}/v2/", timeout=2).raise_for_status()
    except httpx.HTTPError as exc:
        if os.environ.get("WORKBENCH_CI") == "1":
            pytest.fail(f"no registry on {REGISTRY} ({exc}), and CI must run every test")
        pytest.skip(f"no registry on {REGISTRY}: {exc}")


def test_an_environment_image_is_pulled_and_its_packages_are_used(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    require_registry()
    context = tmp_path / "image"
    context.mkdir()
    (context / "workbench_marker.py").write_text("VALUE = 'from the environment image'\n")
    (context / "Dockerfile").write_text(
        "FROM workbench-base:py3.11\nCOPY workbench_marker.py /usr/lib/python3/dist-packages/\n"
    )
    image = f"{REGISTRY}/workbench-tests/with-marker:{uuid.uuid4().hex[:8]}"
    client.images.build(path=str(context), tag=image, rm=True)
    client.images.push(image)
    client.images.remove(image)  # only the registry has it now
    script = "import workbench_marker\n\n\ndef init():\n    pass\n\n\ndef run(data):\n"
    script += "    return workbench_marker.VALUE\n"
    text = deployment_yaml("blue", "score.py").replace("image: python:3.11-slim", f"image: {image}")
    folder = folder_with(tmp_path, {"score.py": script}, {"blue": text})
    try:
        with engine(folder, tmp_path, runtime="docker") as running:
            succeeded(running, 600)
            (endpoint,) = running.status()
            url = endpoint.deployments[0].instances[0].url
            answer = httpx.post(f"{url}/score", json={}, timeout=30).json()
            assert f"pulling {image}" in running.output()
    finally:
        with contextlib.suppress(docker.errors.DockerException):
            client.images.remove(image)
    assert answer == "from the environment image"
