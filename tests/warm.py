"""What the tests' deployment environments install from PyPI (and the venvs that check their
output: azure-ai-ml), built once before the tests run (`.ci/run` calls `python -m tests.warm`),
so that no test waits on a download: the same builder and the same packages as the tests', in a
scratch cache."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from tests.engine.harness import ENDPOINT
from tests.engine.test_collection import PACKAGES as COLLECTION
from tests.engine.test_engine import OTHER_PYTHON
from tests.engine.test_nocode import DEPLOYMENT, save_model
from tests.engine.test_pinning import PACKAGES as OLD_PINS
from tests.export.test_azureml import azure_ai_ml
from tests.promote.remote_host import ensure_wheelhouse
from workbench.engine import nocode
from workbench.engine.environments import SERVER_NEEDS, EnvironmentBuilder, Requirements
from workbench.spec import load_project
from workbench.spec.interpreters import host_version

ENVIRONMENTS = [
    ("data collection", COLLECTION, host_version()),
    ("an old scikit-learn pin", OLD_PINS, host_version()),
    *([(f"Python {OTHER_PYTHON}", [], OTHER_PYTHON)] if OTHER_PYTHON else []),
]


def mlflow_nocode(folder: Path) -> Requirements:
    """What the MLflow no-code test's environment installs: its model's own requirements."""
    project = folder / "nocode"
    project.mkdir()
    save_model(project)
    (project / "endpoint.yml").write_text(ENDPOINT.format(name="tests"))
    (project / "blue.yml").write_text(DEPLOYMENT)
    return nocode.requirements(load_project(project).raise_for_errors().endpoints[0].deployments[0])


async def warm() -> None:
    with tempfile.TemporaryDirectory() as folder:
        builder = EnvironmentBuilder(Path(folder) / "envs")
        log = Path(folder) / "build.log"
        for what, packages, python in ENVIRONMENTS:
            wanted = Requirements((*SERVER_NEEDS, *packages), python, ())
            await builder.ensure(wanted, log, lambda line: None)
            print(f"tests: the environment for {what} is in uv's cache", flush=True)
        await builder.ensure(mlflow_nocode(Path(folder)), log, lambda line: None)
        print("tests: the environment for an MLflow no-code deployment is in uv's cache", flush=True)
    print(f"tests: azure-ai-ml for the export tests in {azure_ai_ml().parent.parent}", flush=True)
    if os.geteuid() == 0:  # promote's tests run as root only (they add the remote's user)
        print(f"tests: promote's remote host installs from {ensure_wheelhouse()}", flush=True)


if __name__ == "__main__":
    asyncio.run(warm())
