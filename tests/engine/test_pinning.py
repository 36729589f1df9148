"""An old pin's world kept together, as conda keeps it: scikit-learn pinned to 1.2.2 with numpy
left open builds (numpy from scikit-learn 1.2.2's time, not 2.x) and serves.

The packages come from PyPI into the deployment's environment; `.ci/run` builds the same
environment once first (`python -m tests.warm`), so the test builds it from uv's cache."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.engine.harness import engine, folder_with_conda, key_headers
from workbench.engine.pinning import era, exact_pins, has_open
from workbench.state import ProvisioningState

CONDA = "name: env\ndependencies:\n  - python=3.11\n  - scikit-learn=1.2.2\n  - numpy\n  - pip\n"
PACKAGES = ["scikit-learn==1.2.2.*", "numpy"]
"""What CONDA asks of PyPI."""
SCRIPT = """\
import numpy
import sklearn
from sklearn.linear_model import LinearRegression


def init():
    global model
    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0])


def run(data):
    return {"numpy": numpy.__version__, "sklearn": sklearn.__version__, "y": model.predict([[2.0]]).tolist()}
"""


def test_pins_and_open_packages_are_told_apart() -> None:
    assert exact_pins(["scikit-learn==1.2.2.*", "numpy", "pandas==2.0.3", "torch>=2"]) == {
        "scikit-learn": "1.2.2",
        "pandas": "2.0.3",
    }
    assert has_open(["numpy"])
    assert not has_open(["scikit-learn==1.2.2"])
    assert era(["numpy", "pandas>=2"]) is None  # nothing pinned: nothing to hold
    assert era(["scikit-learn==1.2.2"]) is None  # nothing open


@pytest.mark.timeout(600)
def test_an_old_scikit_learn_pin_with_numpy_left_open_builds_and_serves(tmp_path: Path) -> None:
    folder = folder_with_conda(tmp_path, SCRIPT, CONDA)
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(500)
        assert endpoint.deployments[0].provisioning_state is ProvisioningState.SUCCEEDED, running.output()
        headers = key_headers(folder)
        answer = httpx.post(endpoint.scoring_uri or "", json={}, headers=headers, timeout=30).json()
        assert "resolving the unpinned packages as of 2023-03-09" in running.output()
    assert answer["sklearn"] == "1.2.2"
    assert answer["numpy"].startswith("1."), answer
    assert answer["y"] == pytest.approx([4.0])
