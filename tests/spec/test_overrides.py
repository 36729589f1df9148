"""`--set KEY=VALUE` as `az ml ... --set`: placeholders filled, values replaced, nested keys made."""

from __future__ import annotations

from tests.conftest import SpecFolder, deployment, project_files, run_workbench
from workbench.spec import load_project
from workbench.spec.overrides import parse_overrides

PLACEHOLDER = deployment().replace("endpoint_name: my-endpoint", "endpoint_name: <ENDPOINT_NAME>")


def test_set_fills_placeholders_and_replaces_values(spec_folder: SpecFolder) -> None:
    folder = spec_folder(project_files(blue__yml=PLACEHOLDER))
    assert not load_project(folder).ok  # the placeholder names no endpoint

    sets = parse_overrides(
        [
            "endpoint_name=my-endpoint",
            "instance_count=3",
            "environment_variables.COLOUR=red",
            "request_settings.request_timeout_ms=9000",
        ]
    )
    project = load_project(folder, sets)

    assert project.ok, [p.format() for p in project.problems]
    (blue,) = project.endpoints[0].deployments
    assert blue.instance_count == 3
    assert blue.environment_variables == {"COLOUR": "red"}
    assert blue.request_settings.request_timeout_ms == 9000
    assert project.overrides == sets


def test_set_goes_to_named_files_only(spec_folder: SpecFolder) -> None:
    folder = spec_folder(project_files())
    sets = parse_overrides(["name=renamed"])

    project = load_project([folder / "endpoint.yml", folder / "blue.yml"], sets)

    # both named files get it: the endpoint and the deployment are both renamed
    assert [e.name for e in project.endpoints] == ["renamed"]
    assert not project.ok  # blue still names my-endpoint


def test_a_malformed_set_is_a_clear_error(spec_folder: SpecFolder) -> None:
    folder = spec_folder(project_files())
    result = run_workbench("validate", str(folder), "--set", "instance_count")
    assert result.returncode == 1
    assert "--set takes KEY=VALUE" in result.stderr
    ok = run_workbench("validate", str(folder), "--set", "instance_count=2")
    assert ok.returncode == 0, ok.stdout
