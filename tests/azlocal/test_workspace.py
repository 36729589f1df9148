"""A local workspace's files: staged as Azure reads them at create time, checked whole before
anything is written, registered assets by version (no engine: workbench/workspace/ alone)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import SpecFolder, deployment, project_files
from workbench.errors import SpecError
from workbench.spec.overrides import parse_overrides
from workbench.workspace import assets
from workbench.workspace.folder import Workspace
from workbench.workspace.staging import stage


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    found = Workspace("test-ws")
    found.create()
    return found


def test_staging_applies_set_and_names_and_makes_local_paths_absolute(spec_folder: SpecFolder) -> None:
    folder = spec_folder(project_files(blue__yml=deployment(extra="environment_variables:\n  A: one\n")))
    staged = stage(
        "deployment",
        folder / "blue.yml",
        parse_overrides(["instance_count=3", "environment_variables.A=two"]),
        fields={"name": "green", "endpoint_name": "endpt-9"},
    )
    data = yaml.safe_load(staged.text)
    assert (data["name"], data["endpoint_name"], data["instance_count"]) == ("green", "endpt-9", 3)
    assert data["environment_variables"] == {"A": "two"}
    assert data["model"]["path"] == str(folder / "model.pkl")
    assert data["code_configuration"]["code"] == str(folder / "src")
    assert data["environment"] == {"image": "python:3.11-slim"}, "an image is not a path"


def test_registered_references_stay_as_they_are(spec_folder: SpecFolder) -> None:
    text = deployment().replace("model:\n  path: model.pkl\n", "model: azureml:my-model:2\n")
    folder = spec_folder({"blue.yml": text})
    assert yaml.safe_load(stage("deployment", folder / "blue.yml").text)["model"] == "azureml:my-model:2"


def test_a_change_with_an_error_writes_nothing_and_points_at_the_users_line(
    workspace: Workspace, spec_folder: SpecFolder
) -> None:
    folder = spec_folder(project_files())
    with workspace.changing() as change:
        change.write(workspace.endpoint_file("my-endpoint"), stage("endpoint", folder / "endpoint.yml"))
    staged = stage(
        "deployment", folder / "blue.yml", parse_overrides(["request_settings.request_timeout_ms=-5"])
    )
    with pytest.raises(SpecError) as raised, workspace.changing() as change:
        change.write(workspace.deployment_file("my-endpoint", "blue"), staged)
    (problem,) = raised.value.problems
    assert problem.format().startswith(f"{folder / 'blue.yml'}:"), problem.format()
    assert "request_settings.request_timeout_ms" in problem.format()
    assert workspace.deployments("my-endpoint") == [], "nothing written"
    assert workspace.endpoints() == ["my-endpoint"]


def test_asset_versions_count_up_and_latest_skips_archived(
    workspace: Workspace, spec_folder: SpecFolder
) -> None:
    folder = spec_folder({"model.pkl": "x", "model.yml": "name: m\npath: model.pkl\n"})
    for expected in ("1", "2"):
        version = assets.next_version(workspace, "model", "m")
        assert version == expected
        with workspace.changing() as change:
            change.write(
                workspace.asset_file("model", "m", version),
                stage("model", folder / "model.yml", fields={"version": version}),
            )
    assert [a.version for a in assets.assets(workspace, "model")] == ["1", "2"]
    with workspace.changing() as change:
        assets.archive(change, assets.find(workspace, "model", "m", "2"))
    assert assets.find(workspace, "model", "m", None).version == "1"
    assert assets.find(workspace, "model", "m", "2").archived, "still there by its version"
    assert assets.next_version(workspace, "model", "m") == "3", "an archived number is not given again"
