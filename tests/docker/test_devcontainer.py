"""`workbench devcontainer`: the generated devcontainer.json is valid, and starting its image with
its mounts, environment and command through the Docker engine, as VS Code would, serves /score
with the deployment's model; a save on the host is served at once (the server runs --reload)."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import docker
import httpx
import joblib
import numpy
import pytest

from tests.conftest import QUICKSTART, require_docker, run_workbench
from tests.engine.harness import copy_project
from tests.server.harness import free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(900)]
MOUNT = re.compile(r"source=(?P<source>[^,]+),target=(?P<target>[^,]+),type=bind(?P<readonly>,readonly)?")


def test_devcontainer_opens_the_deployment_in_its_own_image(tmp_path: Path) -> None:
    require_docker()
    folder = copy_project(QUICKSTART, tmp_path / "quickstart")
    result = run_workbench("devcontainer", "quickstart", "blue", "--project", str(folder), timeout=600)
    assert result.returncode == 0, result.stderr
    config = json.loads((folder / ".devcontainer" / "devcontainer.json").read_text())
    for key in (
        "name",
        "image",
        "workspaceMount",
        "workspaceFolder",
        "mounts",
        "containerEnv",
        "forwardPorts",
    ):
        assert key in config, key
    assert config["forwardPorts"] == [5001]
    assert config["workspaceFolder"] == "/var/azureml-app/onlinescoring"
    assert config["containerEnv"]["AZUREML_MODEL_DIR"].startswith("/var/azureml-app/azureml-models/")
    assert (
        "WORKER_COUNT" not in config["containerEnv"]
    )  # one worker unless told, as Azure and the engine run it

    def local(text: str) -> str:
        return text.replace("${localWorkspaceFolder}", str(folder))

    volumes = {}
    for mount in [config["workspaceMount"], *config["mounts"]]:
        found = MOUNT.fullmatch(local(mount))
        assert found is not None, mount
        volumes[found["source"]] = {"bind": found["target"], "mode": "ro" if found["readonly"] else "rw"}
    port = free_port()
    client = docker.from_env()
    container = client.containers.run(
        config["image"],
        ["sh", "-c", config["postStartCommand"] + "\nexec sleep 3600"],
        detach=True,
        environment=config["containerEnv"],
        volumes=volumes,
        working_dir=config["workspaceFolder"],
        ports={"5001/tcp": ("127.0.0.1", port)},
        security_opt=[arg.split("=", 1)[1] for arg in config["runArgs"] if arg.startswith("--security-opt")],
        user=f"{os.getuid()}:{os.getgid()}",
    )
    try:
        request = json.loads((folder / "sample-request.json").read_text())
        url = f"http://127.0.0.1:{port}/score"
        answer = _first_answer(url, request, container)
        model = joblib.load(folder / "model-1" / "model" / "sklearn_regression_model.pkl")
        assert answer == pytest.approx(model.predict(numpy.array(request["data"])).tolist())

        score = folder / "onlinescoring" / "score.py"
        score.write_text(
            score.read_text().replace("return result.tolist()", "return {'edited': result.tolist()}")
        )
        deadline = time.monotonic() + 15
        while not isinstance(httpx.post(url, json=request, timeout=10).json(), dict):
            assert time.monotonic() < deadline, container.exec_run(
                "cat /tmp/inference-server.log"
            ).output.decode()
            time.sleep(0.2)
    finally:
        container.remove(force=True)
        client.close()


def _first_answer(url: str, request: object, container: docker.models.containers.Container) -> object:
    deadline = time.monotonic() + 60
    while True:
        try:
            response = httpx.post(url, json=request, timeout=10)
            if response.status_code == 200:
                return response.json()
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(container.exec_run("cat /tmp/inference-server.log").output.decode())
        time.sleep(0.3)
