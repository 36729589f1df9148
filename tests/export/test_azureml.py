"""`workbench export azureml` checked by Azure's own loaders: every exported file loads with
`azure-ai-ml` and says what the project says, with `--set` applied, paths that still lead to the
project's files, traffic left to the last command, and deploy.sh in Azure's safe-rollout order.

azure-ai-ml lives in a venv of its own (`.ci/run` makes it first: `python -m tests.warm`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.azlocal.harness import shim
from tests.conftest import QUICKSTART, run_workbench
from tests.engine.harness import copy_project
from tests.server.harness import cached_venv
from workbench.spec import load_project
from workbench.spec.overrides import parse_overrides

AZURE_AI_ML = ["azure-ai-ml==1.35.2"]
LOAD = """
import json, sys
from pathlib import Path
from azure.ai.ml import load_online_deployment, load_online_endpoint
folder = Path(sys.argv[1])
endpoint = load_online_endpoint(folder / "endpoint.yml")
out = {"endpoint": {"name": endpoint.name, "auth_mode": endpoint.auth_mode,
                    "traffic": dict(endpoint.traffic or {}),
                    "mirror": dict(endpoint.mirror_traffic or {})}}
for name in ("blue", "green"):
    d = load_online_deployment(folder / f"{name}-deployment.yml")
    out[name] = {
        "endpoint_name": d.endpoint_name, "instance_type": d.instance_type,
        "instance_count": d.instance_count,
        "code": str((folder / d.code_configuration.code).resolve()),
        "script": d.code_configuration.scoring_script,
        "model": str((folder / d.model.path).resolve()),
        "conda": d.environment.conda_file,  # the SDK reads the file it names: its content
        "image": d.environment.image,
    }
print(json.dumps(out))
"""


def azure_ai_ml() -> Path:
    return cached_venv("azure-ai-ml-1.35.2", AZURE_AI_ML) / "bin" / "python"


@pytest.mark.timeout(900)
def test_exported_files_load_with_azure_ai_ml_and_say_what_the_project_says(tmp_path: Path) -> None:
    folder = copy_project(QUICKSTART, tmp_path / "quickstart")
    endpoint_file = folder / "endpoint.yml"
    endpoint_file.write_text(endpoint_file.read_text() + "mirror_traffic:\n  green: 0\n")
    out = tmp_path / "out"
    exported = run_workbench("export", "azureml", "--out", str(out), "--set", "instance_count=3", cwd=folder)
    assert exported.returncode == 0, exported.stderr
    loaded = subprocess.run(
        [str(azure_ai_ml()), "-c", LOAD, str(out / "quickstart")], capture_output=True, text=True, check=False
    )
    assert loaded.returncode == 0, loaded.stderr
    cloud = json.loads(loaded.stdout.strip().splitlines()[-1])

    project = load_project(folder, parse_overrides(["instance_count=3"])).raise_for_errors()
    (endpoint,) = project.endpoints
    assert cloud["endpoint"] == {"name": "quickstart", "auth_mode": "key", "traffic": {}, "mirror": {}}
    for deployment in endpoint.deployments:
        seen = cloud[deployment.name]
        assert seen["endpoint_name"] == "quickstart"
        assert seen["instance_type"] == deployment.instance_type
        assert seen["instance_count"] == 3  # --set, as `az ml ... --set` would
        assert deployment.code_configuration is not None
        assert seen["code"] == str(deployment.code_configuration.code.resolve())
        assert seen["script"] == deployment.code_configuration.scoring_script
        assert deployment.model is not None
        assert seen["model"] == str(deployment.model.path.resolve())
        assert deployment.environment is not None
        assert deployment.environment.conda_file is not None
        assert seen["conda"] == yaml.safe_load(deployment.environment.conda_file.path.read_text())
        assert seen["image"] == deployment.environment.image

    script = (out / "deploy.sh").read_text().splitlines()
    commands = [line for line in script if line.startswith(("create_or_update ", "traffic ", "mirror "))]
    assert commands == [
        "create_or_update online-endpoint quickstart/endpoint.yml -n quickstart",
        "create_or_update online-deployment quickstart/blue-deployment.yml -n blue -e quickstart",
        "create_or_update online-deployment quickstart/green-deployment.yml -n green -e quickstart",
        "traffic quickstart 'blue=90 green=10'",
        "mirror quickstart green=0",
    ]
    assert subprocess.run(["bash", "-n", str(out / "deploy.sh")], check=False).returncode == 0
    assert not any("workbench.yaml" in line for line in script)
    assert not any(str(folder) in line or str(tmp_path) in line for line in script), "no path of this machine"
    assert not any("az configure" in line for line in script), "az's own defaults stay the user's"


def test_assets_the_deployments_name_are_created_first_and_load(tmp_path: Path) -> None:
    folder = copy_project(QUICKSTART, tmp_path / "quickstart")
    schema = "$schema: https://azuremlschemas.azureedge.net/latest/model.schema.json\n"
    (folder / "model.yml").write_text(f"{schema}name: diabetes\nversion: 1\npath: model-1/model\n")
    blue = folder / "blue-deployment.yml"
    blue.write_text(
        blue.read_text().replace("model:\n  path: model-1/model\n", "model: azureml:diabetes:1\n")
    )
    assert "azureml:diabetes:1" in blue.read_text()
    out = tmp_path / "out"
    exported = run_workbench("export", "azureml", "--out", str(out), cwd=folder)
    assert exported.returncode == 0, exported.stderr
    commands = [line for line in (out / "deploy.sh").read_text().splitlines() if "az ml model create" in line]
    # before the deployment that names it, unless that version exists (versions are immutable)
    assert (
        commands[0]
        == 'exists model show -n diabetes -v 1 || az ml model create -f assets/model.yml "${where[@]}"'
    )

    assert "model: azureml:diabetes:1" in (out / "quickstart" / "blue-deployment.yml").read_text()
    check = (
        "import sys\nfrom pathlib import Path\nfrom azure.ai.ml import load_model\n"
        "m = load_model(sys.argv[1])\nprint(m.name, m.version, (Path(sys.argv[1]).parent / m.path).resolve())"
    )
    loaded = subprocess.run(
        [str(azure_ai_ml()), "-c", check, str(out / "assets" / "model.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["diabetes", "1", str((folder / "model-1" / "model").resolve())]


class DeployScript:
    """The quickstart exported and its deploy.sh run as a user runs it, against azlocal behind
    an `az` shim, with steps of 0 s; `down()` ends the workspace's engine."""

    def __init__(self, tmp_path: Path) -> None:
        self.folder = copy_project(QUICKSTART, tmp_path / "quickstart")
        self.endpoint_file = self.folder / "endpoint.yml"
        self.spec = self.endpoint_file.read_text()
        self.env = {
            **os.environ,
            "PATH": f"{shim(tmp_path / 'bin')}{os.pathsep}{os.environ['PATH']}",
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "AZURE_RESOURCE_GROUP": "rg",
            "AZURE_ML_WORKSPACE": "cloudlike",
            "TRAFFIC_STEP_S": "0",
        }
        self.out = tmp_path / "out"

    def traffic(self, shares: str) -> None:
        """The endpoint YAML's traffic, as `blue: 50\n  green: 50\n`."""
        self.endpoint_file.write_text(self.spec.replace("  blue: 90\n  green: 10\n", shares))

    def deploy(self) -> subprocess.CompletedProcess[str]:
        """deploy.sh as exported from the project as it is now."""
        assert run_workbench("export", "azureml", "--out", str(self.out), cwd=self.folder).returncode == 0
        script = ["bash", str(self.out / "deploy.sh")]
        return subprocess.run(script, env=self.env, capture_output=True, text=True, timeout=600, check=False)

    def down(self) -> None:
        run_workbench("down", "--workspace", "cloudlike", env=self.env)


@pytest.mark.timeout(900)
def test_deploy_sh_runs_against_azlocal_again_after_a_change_moving_traffic_in_steps(tmp_path: Path) -> None:
    """deploy.sh as `az` runs it (azlocal behind the shim): created the first time, updated the
    second, the new share reached through a mirror stage and a small share, each gated on the
    deployment's state; az's configuration untouched."""
    script = DeployScript(tmp_path)
    script.traffic("  blue: 100\n")
    try:
        first = script.deploy()
        assert first.returncode == 0, first.stdout + first.stderr
        assert first.stdout.splitlines() == [
            "quickstart/endpoint.yml: created",
            "quickstart/blue-deployment.yml: created",
            "quickstart/green-deployment.yml: created",
            "quickstart: traffic blue=100",
        ]

        script.traffic("  blue: 50\n  green: 50\n")
        second = script.deploy()
        assert second.returncode == 0, second.stdout + second.stderr
        assert second.stdout.splitlines() == [
            "quickstart/endpoint.yml: updated",
            "quickstart/blue-deployment.yml: updated",
            "quickstart/green-deployment.yml: updated",
            "quickstart: mirror traffic green=10",
            "quickstart: mirror traffic green=0",
            "quickstart: traffic blue=90 green=10",
            "quickstart: traffic blue=50 green=50",
        ]
        shown = subprocess.run(
            [
                "az",
                "ml",
                "online-endpoint",
                "show",
                "-n",
                "quickstart",
                "-w",
                "cloudlike",
                "--query",
                "traffic",
            ],
            env=script.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert json.loads(shown.stdout) == {"blue": 50, "green": 50}
        assert not (tmp_path / "config" / "endpoint-workbench" / "azlocal.json").exists(), (
            "no az defaults set"
        )
    finally:
        script.down()


@pytest.mark.timeout(900)
def test_deploy_sh_takes_the_steps_of_the_rollout_plan_in_workbench_yaml(tmp_path: Path) -> None:
    """blue serves; the YAML moves everything to green: the plan's mirror stage, then each of its
    shares, blue keeping the rest, then green alone."""
    script = DeployScript(tmp_path)
    script.traffic("  blue: 100\n")
    plan = "endpoints:\n  quickstart:\n    rollout: {steps: [20, 50, 100], mirror_first: 5, interval: 30}\n"
    (script.folder / "workbench.yaml").write_text(plan)
    try:
        first = script.deploy()
        assert first.returncode == 0, first.stdout + first.stderr
        assert first.stdout.splitlines()[-1] == "quickstart: traffic blue=100", "no live traffic: at once"

        script.traffic("  blue: 0\n  green: 100\n")
        second = script.deploy()
        assert second.returncode == 0, second.stdout + second.stderr
        assert second.stdout.splitlines()[3:] == [
            "quickstart: mirror traffic green=5",
            "quickstart: mirror traffic green=0",
            "quickstart: traffic blue=80 green=20",
            "quickstart: traffic blue=50 green=50",
            "quickstart: traffic blue=0 green=100",
        ]
        written = (script.out / "deploy.sh").read_text()
        assert "pause 30" in written, "the plan's interval, where TRAFFIC_STEP_S is not set"
        assert "its requests failing at most 1%" in written

        third = script.deploy()  # again, green serving: nothing to step through
        assert third.stdout.splitlines()[3:] == ["quickstart: traffic blue=0 green=100"]
    finally:
        script.down()
