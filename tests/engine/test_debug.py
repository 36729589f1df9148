"""`workbench debug` through a real engine and a real Debug Adapter Protocol client: attach as
VS Code would with the written configuration, stop at a breakpoint in run() on a request sent
through the router, and get the answer after continuing, with no 408 and no restart."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import require_docker, run_workbench
from tests.dap import DapClient
from tests.engine.harness import ENDPOINT, deployment_yaml, engine, folder_with
from workbench.client import EngineClient
from workbench.state import InstancePhase

SCRIPT = 'def init():\n    pass\n\n\ndef run(data):\n    answer = {"echo": data}\n    return answer\n'
BREAKPOINT_LINE = 6


@pytest.mark.parametrize(
    "runtime", ["process", pytest.param("docker", marks=[pytest.mark.docker, pytest.mark.slow])]
)
@pytest.mark.timeout(600)
def test_breakpoint_in_run_holds_a_routed_request_without_408_or_restart(
    runtime: str, tmp_path: Path
) -> None:
    if runtime == "docker":
        require_docker()
    folder = folder_with(
        tmp_path,
        {"score.py": SCRIPT},
        {"blue": deployment_yaml("blue", "score.py", extra="request_settings: {request_timeout_ms: 1000}\n")},
    )
    (folder / "endpoint.yml").write_text(ENDPOINT.format(name="tests") + "traffic: {blue: 100}\n")
    with engine(folder, tmp_path, runtime=runtime) as running:
        running.wait_settled(120)
        result = run_workbench("debug", "tests", "blue", "--json", "--project", str(folder))
        assert result.returncode == 0, result.stderr
        session = json.loads(result.stdout)
        configuration = session["configuration"]
        assert configuration["connect"] == {"host": "127.0.0.1", "port": session["port"]}
        (mapping,) = configuration["pathMappings"]
        assert mapping["localRoot"] == str((folder / "code").resolve())
        if runtime == "docker":
            assert mapping["remoteRoot"] == "/var/azureml-app/code"  # where the container sees it
        launch = json.loads((folder / ".vscode" / "launch.json").read_text())
        assert configuration in launch["configurations"]

        def debugging(eps: list) -> bool:  # type: ignore[type-arg]
            instance = eps[0].deployments[0].instances[0]
            return instance.debug_port == session["port"] and instance.state is InstancePhase.READY

        (endpoint,) = running.wait_for(debugging, 60)
        restarts = endpoint.deployments[0].instances[0].restarts
        with EngineClient.for_folder(folder) as client:
            key = client.credentials("tests").secret
        dap = DapClient(session["port"])
        try:
            dap.attach(
                path_mappings=configuration["pathMappings"],
                breakpoints={str(folder / "code" / "score.py"): [BREAKPOINT_LINE]},
            )
            answers: list[httpx.Response] = []
            sender = threading.Thread(
                target=lambda: answers.append(
                    httpx.post(
                        endpoint.scoring_uri or "",
                        json=21,
                        headers={"Authorization": f"Bearer {key}"},
                        timeout=60,
                    )
                )
            )
            sender.start()
            stopped = dap.wait_for("event", "stopped")
            assert stopped["body"]["reason"] == "breakpoint"
            dap.send("stackTrace", threadId=stopped["body"]["threadId"], levels=1)
            (frame,) = dap.wait_for("response", "stackTrace")["body"]["stackFrames"]
            assert frame["name"] == "run"
            assert frame["line"] == BREAKPOINT_LINE
            assert frame["source"]["path"] == str(folder / "code" / "score.py")  # mapped back to the host
            time.sleep(2.5)  # well past request_timeout_ms (1 s): no 408 for a request at a breakpoint
            assert answers == []
            dap.send("continue", threadId=stopped["body"]["threadId"])
            sender.join(30)
        finally:
            dap.close()
        assert answers[0].status_code == 200, answers[0].text
        assert answers[0].json() == {"echo": "21"}
        instance = running.status()[0].deployments[0].instances[0]
        assert instance.restarts == restarts
        assert instance.state is InstancePhase.READY

        result = run_workbench("debug", "tests", "blue", "--stop", "--project", str(folder))
        assert result.returncode == 0, result.stderr
        running.wait_for(
            lambda eps: (
                eps[0].deployments[0].instances[0].debug_port is None
                and eps[0].deployments[0].instances[0].state is InstancePhase.READY
            ),
            60,
        )
