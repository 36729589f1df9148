"""`.devcontainer/devcontainer.json` for a deployment, from the package's template
(`templates/devcontainer.json`, package data read through importlib.resources, so an installed
wheel has it as a checkout does).

`{{name}}` values are filled in here; `${localWorkspaceFolder}` is VS Code's own variable, so the
written file works wherever the project is checked out.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.spec.deployment import AZURE_APP_ROOT, DeploymentSpec

APP = AZURE_APP_ROOT
TEMPLATE_NAME = "devcontainer.json"


def template() -> dict[str, Any]:
    """The template, as the package holds it."""
    text = resources.files("workbench.dev").joinpath(f"templates/{TEMPLATE_NAME}").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def render(project: Path, endpoint: str, deployment: DeploymentSpec, image: str) -> dict[str, Any]:
    """The template filled in for `deployment` running in `image`."""
    code = deployment.code_configuration
    if code is None:
        raise WorkbenchError(f"{endpoint}/{deployment.name} has no code_configuration: no code to open")
    code_inside = f"{APP}/{code.code.name}"
    script = Path(code.scoring_script)
    values = {
        "endpoint": endpoint,
        "deployment": deployment.name,
        "image": image,
        "code": _relative(code.code, project),
        "code_inside": code_inside,
    }
    document: dict[str, Any] = _fill(template(), values)
    environment = {
        "AML_APP_ROOT": f"{code_inside}/{script.parent.as_posix()}".rstrip("/."),
        "AZUREML_ENTRY_SCRIPT": script.name,
        "PYTHONPATH": "/opt/workbench",
        "SERVICE_NAME": endpoint,
    }
    secrets = set(deployment.secret_references())
    environment.update({k: v for k, v in deployment.environment_variables.items() if k not in secrets})
    if deployment.model is not None:
        model = deployment.model
        model_dir = f"{APP}/azureml-models/{model.name}/{model.version}"
        environment["AZUREML_MODEL_DIR"] = model_dir
        document["mounts"].append(
            f"source=${{localWorkspaceFolder}}/{_relative(model.path, project)},"
            f"target={model_dir}/{model.path.name},type=bind,readonly"
        )
    document["containerEnv"] = environment
    return document


def write(project: Path, document: dict[str, Any]) -> Path:
    path = project / ".devcontainer" / "devcontainer.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, replacement in values.items():
            value = value.replace("{{" + key + "}}", replacement)
        return value
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    return value


def _relative(path: Path, project: Path) -> str:
    try:
        return path.resolve().relative_to(project.resolve()).as_posix()
    except ValueError as exc:
        raise WorkbenchError(
            f"{path} is outside the project folder {project}: a dev container mounts the project only"
        ) from exc
