"""azlocal as Azure users run it: an `az` on PATH that is azlocal (the shim the README shows),
in a folder laid out as Azure's examples are, with its own workspace and configuration."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import run_workbench

SCORE = """\
import json
import os


def init():
    print("init: model in", os.environ["AZUREML_MODEL_DIR"], flush=True)
    if os.path.exists(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model", "broken")):
        raise RuntimeError("the model is broken")


def run(data):
    return {"model": "{name}", "echo": json.loads(data), "tag": os.environ.get("MODEL_TAG", "")}
"""

DEPLOYMENT = """\
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: {name}
endpoint_name: my-endpoint
model:
  path: ../../{model}/model/
code_configuration:
  code: ../../{model}/onlinescoring/
  scoring_script: score.py
environment:
  image: python:3.11-slim
instance_type: Standard_DS3_v2
instance_count: 1
"""

ENDPOINT = """\
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json
name: my-endpoint
auth_mode: key
"""


def azure_examples(root: Path) -> Path:
    """The files of azureml-examples' cli/ folder that the safe-rollout tutorial uses, with a
    scoring script that needs nothing installed."""
    files = {
        "endpoints/online/managed/saferollout/endpoint.yml": ENDPOINT,
        "endpoints/online/managed/saferollout/blue-deployment.yml": DEPLOYMENT.format(
            name="blue", model="model-1"
        ),
        "endpoints/online/managed/saferollout/green-deployment.yml": DEPLOYMENT.format(
            name="green", model="model-2"
        ),
    }
    for model in ("model-1", "model-2"):
        files[f"endpoints/online/{model}/onlinescoring/score.py"] = SCORE.replace("{name}", model)
        files[f"endpoints/online/{model}/model/weights.txt"] = f"{model} weights\n"
        files[f"endpoints/online/{model}/sample-request.json"] = json.dumps({"data": [[1, 2, 3]]})
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@dataclass
class Az:
    """Runs `az ...` (azlocal behind a shim) in the examples' folder."""

    folder: Path
    env: dict[str, str]
    workspace: str

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["az", *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            pytest.fail(f"az {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
        return done

    def json(self, *args: str) -> object:
        return json.loads(self(*args).stdout)

    def script(self, text: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """A bash script as Azure's examples are written (set -e), run as they are run."""
        return subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + textwrap.dedent(text)],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def workbench(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_workbench(*args, cwd=self.folder, env=self.env)


def shim(folder: Path) -> Path:
    """A folder with an `az` that is azlocal, to put first on PATH (README: scripts)."""
    folder.mkdir(parents=True, exist_ok=True)
    installed = Path(sys.executable).parent / "azlocal"
    command = (
        f'exec "{installed}" "$@"'
        if installed.is_file()
        else f'exec "{sys.executable}" -m workbench.azlocal "$@"'
    )
    az = folder / "az"
    az.write_text(f"#!/bin/sh\n{command}\n")
    az.chmod(0o755)
    return folder
