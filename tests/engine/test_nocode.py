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


def save_model(folder: Path, signed: bool = True) -> Path:
    """An MLflow model of y = 2x, saved as MLflow saves one (with a signature: one column `x`)."""
    import mlflow.sklearn  # noqa: PLC0415 (heavy: only where a model is saved)
    import pandas  # noqa: PLC0415
    from mlflow.models import infer_signature  # noqa: PLC0415
    from sklearn.linear_model import LinearRegression  # noqa: PLC0415

    frame = pandas.DataFrame({"x": [0.0, 1.0, 2.0]})
    model = LinearRegression().fit(frame if signed else frame.to_numpy(), [0.0, 2.0, 4.0])
    signature = infer_signature(frame, model.predict(frame)) if signed else None
    path = folder / ("model" if signed else "unsigned")
    with warnings.catch_warnings():  # MLflow's own advice on type hints, not the test's business
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(model, str(path), serialization_format="cloudpickle", signature=signature)
    return path


@pytest.mark.timeout(600)
def test_an_mlflow_model_serves_without_code_or_environment(tmp_path: Path) -> None:
    folder = tmp_path / "tests"
    folder.mkdir()
    save_model(folder)
    save_model(folder, signed=False)
    (folder / "endpoint.yml").write_text(ENDPOINT.format(name="tests") + "traffic:\n  blue: 100\n")
    (folder / "blue.yml").write_text(DEPLOYMENT)
    (folder / "green.yml").write_text(
        DEPLOYMENT.replace("blue", "green").replace("path: model", "path: unsigned")
    )
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(500)
        assert endpoint.deployments[0].provisioning_state is ProvisioningState.SUCCEEDED, running.output()
        with EngineClient.for_folder(folder) as client:
            key = client.credentials("tests").secret
        headers = {"Authorization": f"Bearer {key}"}

        def score(body: object, deployment: str = "blue") -> object:
            pinned = {**headers, "azureml-model-deployment": deployment}
            answer = httpx.post(endpoint.scoring_uri or "", json=body, headers=pinned, timeout=30)
            assert answer.status_code == 200, answer.text
            return answer.json()

        split = {"input_data": {"columns": ["x"], "index": [0, 1], "data": [[3.0], [4.0]]}}
        assert score(split) == pytest.approx([6.0, 8.0])
        assert score({"input_data": {"x": [1.5]}}) == pytest.approx([3.0])
        assert score({"input_data": [[5.0]]}, "green") == pytest.approx([10.0])
        assert score(
            {"input_data": {"columns": [0], "index": [0], "data": [[4.0]]}}, "green"
        ) == pytest.approx([8.0])
        blue = endpoint.deployment("blue")
        assert blue is not None
        assert blue.instances[0].url is not None
        swagger = httpx.get(blue.instances[0].url + "/swagger.json", timeout=30).json()
        documented = swagger["definitions"]["ServiceInput"]
        assert documented["example"] == {"input_data": {"columns": ["x"], "index": [0], "data": [[0.0]]}}
        data = documented["properties"]["input_data"]["properties"]["data"]
        assert data["items"]["items"]["type"] == "number"
        assert "MLflow no-code deployment: scoring script generated" in running.output()
