"""MLflow no-code deployments: a model saved by MLflow, deployed with no scoring script and no
environment, served with the scoring script and environment generated from the model, in
Azure's input formats.

The model's packages come from PyPI; `.ci/run` builds the same environment first
(`python -m tests.warm`), so the test builds it from uv's cache."""

from __future__ import annotations

import warnings
from pathlib import Path

import httpx
import pytest

from tests.engine.harness import ENDPOINT, engine
from workbench.client import EngineClient
from workbench.state import ProvisioningState

DEPLOYMENT = """name: blue
endpoint_name: tests
model:
  name: regression
  version: 1
  path: model
  type: mlflow_model
instance_type: Standard_DS3_v2
"""


def save_model(folder: Path) -> Path:
    """An MLflow model of y = 2x, saved as MLflow saves one."""
    import mlflow.sklearn  # noqa: PLC0415 (heavy: only where a model is saved)
    from sklearn.linear_model import LinearRegression  # noqa: PLC0415

    model = LinearRegression().fit([[0.0], [1.0], [2.0]], [0.0, 2.0, 4.0])
    path = folder / "model"
    with warnings.catch_warnings():  # MLflow's own advice on type hints, not the test's business
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(model, str(path), serialization_format="cloudpickle")
    return path


@pytest.mark.timeout(600)
def test_an_mlflow_model_serves_without_code_or_environment(tmp_path: Path) -> None:
    folder = tmp_path / "tests"
    folder.mkdir()
    save_model(folder)
    (folder / "endpoint.yml").write_text(ENDPOINT.format(name="tests") + "traffic:\n  blue: 100\n")
    (folder / "blue.yml").write_text(DEPLOYMENT)
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(500)
        assert endpoint.deployments[0].provisioning_state is ProvisioningState.SUCCEEDED, running.output()
        with EngineClient.for_folder(folder) as client:
            key = client.credentials("tests")["primaryKey"]
        headers = {"Authorization": f"Bearer {key}"}

        def score(body: object) -> object:
            answer = httpx.post(endpoint.scoring_uri or "", json=body, headers=headers, timeout=30)
            assert answer.status_code == 200, answer.text
            return answer.json()

        split = {"input_data": {"columns": [0], "index": [0, 1], "data": [[3.0], [4.0]]}}
        assert score(split) == pytest.approx([6.0, 8.0])
        assert score({"input_data": [[5.0]]}) == pytest.approx([10.0])
        assert "MLflow no-code deployment: scoring script generated" in running.output()
