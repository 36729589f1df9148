"""Issue 8's loop on the quickstart itself, on both runtimes: while a client sends requests
through the router, editing score.py changes the answers with no failed request; a syntax error
keeps the old answers and is reported with file and line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import QUICKSTART, require_docker
from tests.engine.harness import copy_project, engine
from tests.engine.test_actions import save_like_an_editor
from workbench.client import EngineClient


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["process", pytest.param("docker", marks=pytest.mark.docker)])
@pytest.mark.timeout(900)
def test_editing_the_quickstart_changes_answers_with_no_failed_request(runtime: str, tmp_path: Path) -> None:
    if runtime == "docker":
        require_docker()
    folder = copy_project(QUICKSTART, tmp_path / "quickstart")
    request = (folder / "sample-request.json").read_bytes()
    score = folder / "onlinescoring" / "score.py"
    original = score.read_text()
    with engine(folder, tmp_path, runtime=runtime) as running, EngineClient.for_folder(folder) as client:
        running.wait_settled(600)
        answers: list[object] = []
        failures: list[str] = []

        def ask(deployment: str) -> object:
            answer = client.invoke("quickstart", request, deployment)
            if answer.status != 200:
                failures.append(f"{answer.status} {answer.body}")
            answers.append(json.loads(answer.body))
            return answers[-1]

        def until(check: object, timeout: float = 20) -> None:
            deadline = time.monotonic() + timeout
            while not all(check(ask(d)) for d in ("blue", "green")):  # type: ignore[operator]
                assert time.monotonic() < deadline, answers[-2:]

        until(lambda a: isinstance(a, list))
        save_like_an_editor(
            score, original.replace("return result.tolist()", "return {'predictions': result.tolist()}")
        )
        until(lambda a: isinstance(a, dict) and "predictions" in a)
        save_like_an_editor(score, original.replace("def run(raw_data):", "def run(raw_data)"))  # broken
        running.wait_for(
            lambda eps: all("reload failed" in (d.last_reload or "") for d in eps[0].deployments), 30
        )
        for _ in range(5):
            assert all(isinstance(ask(d), dict) for d in ("blue", "green")), "the old code keeps answering"
        (endpoint,) = running.status()
        for deployment in endpoint.deployments:
            assert "score.py:18: SyntaxError" in (deployment.last_reload or "")
        assert failures == []
        log = (
            folder / ".workbench" / "logs" / "quickstart" / "blue" / "blue-0" / "inference-server.log"
        ).read_text()
        assert "Reload failed" in log
        assert "score.py" in log
