"""Data collection through Azure's own package: azureml-ai-monitoring's Collector in a scoring
script, its payloads in `.workbench/collected/` laid out as Azure stores them.

The package and pandas come from PyPI into the deployment's environment; `.ci/run` builds the
same environment once first (`python -m tests.warm`), so the test builds it from uv's cache."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import run_workbench
from tests.engine.harness import deployment_yaml, engine, folder_with, folder_with_conda, key_headers, until
from workbench.state import ProvisioningState

PACKAGES = ["azureml-ai-monitoring==1.0.0", "pandas"]
CONDA = "name: env\ndependencies:\n  - pip\n  - pip:\n" + "".join(f"      - {p}\n" for p in PACKAGES)
SCRIPT = """\
import json

import pandas as pd
from azureml.ai.monitoring import Collector


def init():
    global inputs
    inputs = Collector(name="model_inputs")


def run(data):
    frame = pd.DataFrame(json.loads(data)["data"])
    inputs.collect(frame)
    return {"rows": len(frame)}
"""
COLLECTOR = """data_collector:
  collections:
    model_inputs:
      enabled: 'True'
"""


@pytest.mark.timeout(600)
def test_a_collector_in_init_writes_json_lines_where_azure_would(tmp_path: Path) -> None:
    folder = folder_with_conda(tmp_path, SCRIPT, CONDA, extra=COLLECTOR)
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(500)
        assert endpoint.deployments[0].provisioning_state is ProvisioningState.SUCCEEDED, running.output()
        headers = key_headers(folder)
        rows = {"data": [{"a": 1, "b": 2.5}, {"a": 3, "b": 4.5}]}
        answer = httpx.post(endpoint.scoring_uri or "", json=rows, headers=headers, timeout=30)
        assert answer.json() == {"rows": 2}
        collected = folder / ".workbench" / "collected" / "tests" / "blue" / "model_inputs"
        # the package sends from a worker thread of its own
        until(lambda: bool(list(collected.rglob("*.jsonl"))), 60, running.output)
    (file,) = collected.rglob("*.jsonl")
    assert len(file.relative_to(collected).parts) == 5  # yyyy/MM/dd/HH/data.jsonl: hourly rolling
    (line,) = file.read_text().splitlines()
    event = json.loads(line)
    assert event["type"] == "azureml.inference.model_inputs"
    assert event["data"] == rows["data"]
    assert event["source"] == "/onlineEndpoints/tests/deployments/blue"
    shown = run_workbench("collected", "tests", "blue", "model_inputs", cwd=folder)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["data"] == rows["data"]


def test_request_and_response_collections_need_no_code(tmp_path: Path) -> None:
    collector = """data_collector:
  collections:
    request:
      enabled: 'True'
    response:
      enabled: 'True'
"""
    echo = "import json\n\ndef init():\n    pass\n\n\ndef run(data):\n    return {'got': json.loads(data)}\n"
    folder = folder_with(
        tmp_path, {"score.py": echo}, {"blue": deployment_yaml("blue", "score.py", extra=collector)}
    )
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(120)
        answer = httpx.post(
            endpoint.scoring_uri or "", json={"x": 1}, headers=key_headers(folder), timeout=30
        )
        assert answer.status_code == 200, answer.text
        request_id = answer.headers["x-request-id"]
        root = folder / ".workbench" / "collected" / "tests" / "blue"
        until(lambda: len(list(root.rglob("*.jsonl"))) == 2, 60, running.output)
    request = json.loads(next((root / "request").rglob("*.jsonl")).read_text())
    response = json.loads(next((root / "response").rglob("*.jsonl")).read_text())
    assert request["data"] == {"x": 1}
    assert request["type"] == "azureml.inference.request"
    assert response["data"] == {"got": {"x": 1}}
    assert response["type"] == "azureml.inference.response"
    assert request["correlationid"] == response["correlationid"] == request_id
