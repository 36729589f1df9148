from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import QUICKSTART, SpecFolder, deployment, project_files
from tests.engine.harness import copy_project
from workbench.spec import load_project


def messages(folder: Path) -> list[str]:
    return [p.format(relative_to=folder) for p in load_project(folder).problems]


def test_secret_references_are_recognised_and_kept_verbatim(
    spec_folder: SpecFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_KEY", "k")
    monkeypatch.setenv("VAULT_VALUE", "v")
    extra = (
        "environment_variables:\n"
        "  API_KEY: ${{azureml://connections/my-conn/credentials/key}}\n"
        "  VAULT: ${{keyvault:https://v.vault.azure.net/secrets/s/1}}\n"
        "  PLAIN: hello\n"
        "  WORKERS: 4\n"
    )
    settings = (
        "secrets:\n"
        "  azureml://connections/my-conn/credentials/key: {env: MY_KEY}\n"
        "  keyvault:https://v.vault.azure.net/secrets/s/1: {env: VAULT_VALUE}\n"
    )
    endpoint = "name: my-endpoint\nproperties:\n  enforce_access_to_default_secret_stores: enabled\n"
    folder = spec_folder(
        project_files(blue__yml=deployment(extra=extra), workbench__yaml=settings, endpoint__yml=endpoint)
    )

    project = load_project(folder).raise_for_errors()
    assert project.problems == ()  # a value for each, and the endpoint may read the stores
    blue = project.endpoints[0].deployments[0]
    assert blue.environment_variables["API_KEY"] == "${{azureml://connections/my-conn/credentials/key}}"
    assert blue.environment_variables["WORKERS"] == "4"
    assert blue.secret_references() == {
        "API_KEY": "azureml://connections/my-conn/credentials/key",
        "VAULT": "keyvault:https://v.vault.azure.net/secrets/s/1",
    }


def test_a_secret_read_from_an_unset_variable_is_an_error_naming_it(
    spec_folder: SpecFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MY_KEY", raising=False)
    extra = "environment_variables:\n  API_KEY: ${{azureml://connections/c/key}}\n"
    settings = "secrets:\n  azureml://connections/c/key: {env: MY_KEY}\n"
    endpoint = "name: my-endpoint\nproperties:\n  enforce_access_to_default_secret_stores: enabled\n"
    folder = spec_folder(
        project_files(blue__yml=deployment(extra=extra), workbench__yaml=settings, endpoint__yml=endpoint)
    )
    assert messages(folder) == [
        "workbench.yaml:2:33: secrets.azureml://connections/c/key.env: blue's API_KEY reads $MY_KEY, "
        "which is not set here (export MY_KEY=... before `workbench up`)"
    ]
    monkeypatch.setenv("MY_KEY", "set")
    assert messages(folder) == []


def test_secret_reference_without_local_value_is_a_warning(spec_folder: SpecFolder) -> None:
    extra = "environment_variables:\n  API_KEY: ${{azureml://connections/c/target}}\n"
    folder = spec_folder(project_files(blue__yml=deployment(extra=extra)))

    assert messages(folder) == [
        "blue.yml:12:3: environment_variables.API_KEY: warning: secret references need the endpoint "
        "'my-endpoint' to read the secret stores: Azure fails the deployment with SecretsInjectionError "
        "unless the endpoint has `properties: {enforce_access_to_default_secret_stores: enabled}` (with a "
        "system-assigned identity) or its identity was granted the readers' roles",
        "blue.yml:12:3: environment_variables.API_KEY: warning: secret reference "
        "azureml://connections/c/target has no local value "
        "(give one under secrets: in workbench.yaml as {env: NAME})",
    ]


def test_model_and_environment_references_resolve_from_asset_files(spec_folder: SpecFolder) -> None:
    schemas = "$schema: https://azuremlschemas.azureedge.net/latest"
    model_v1 = f"{schemas}/model.schema.json\nname: reg\nversion: 1\npath: model.pkl\n"
    model_v2 = "name: reg\nversion: 2\npath: model_v2.pkl\ntype: custom_model\n"
    env = f"{schemas}/environment.schema.json\nname: env\nversion: 3\nimage: python:3.11-slim\n"
    blue = deployment(environment="environment: azureml:env:3\n").replace(
        "model:\n  path: model.pkl\n", "model: azureml:reg@latest\n"
    )
    green = deployment("green", environment="environment: azureml:env@latest\n").replace(
        "model:\n  path: model.pkl\n", "model: azureml:reg:1\n"
    )
    folder = spec_folder(
        project_files(
            blue__yml=blue,
            green__yml=green,
            model1__yml=model_v1,
            model2__yml=model_v2,
            env__yml=env,
            model_v2__pkl="y",
        )
    )

    project = load_project(folder).raise_for_errors()
    endpoint = project.endpoints[0]
    blue_spec, green_spec = endpoint.deployment("blue"), endpoint.deployment("green")
    assert blue_spec is not None
    assert green_spec is not None
    assert blue_spec.model is not None
    assert blue_spec.model.version == "2"
    assert blue_spec.model.path == folder / "model_v2.pkl"
    assert green_spec.model is not None
    assert green_spec.model.version == "1"
    assert blue_spec.environment is not None
    assert blue_spec.environment.name == "env"
    assert green_spec.environment == blue_spec.environment


def test_unresolved_reference_names_what_is_there(spec_folder: SpecFolder) -> None:
    model = "name: reg\nversion: 1\npath: model.pkl\n"
    blue = deployment().replace("model:\n  path: model.pkl\n", "model: azureml:reg:7\n")
    folder = spec_folder(project_files(blue__yml=blue, model__yml=model))

    assert messages(folder) == [
        "blue.yml:3:1: model: model 'azureml:reg:7' is not defined in this folder "
        "(add a model YAML file with name reg and version 7; found reg:1)"
    ]


def test_registry_reference_cannot_be_resolved_offline(spec_folder: SpecFolder) -> None:
    env = "environment: azureml://registries/azureml/environments/sklearn-1.5/versions/1\n"
    folder = spec_folder(project_files(blue__yml=deployment(environment=env)))

    (problem,) = load_project(folder).problems
    assert problem.key == "environment"
    assert "is not a reference the workbench can resolve offline" in problem.message


def test_custom_container_needs_no_code(spec_folder: SpecFolder) -> None:
    byoc = (
        "name: blue\nendpoint_name: my-endpoint\ninstance_type: Standard_DS3_v2\n"
        "environment:\n  image: my-server:1\n  inference_config:\n"
        "    liveness_route: {port: 8080, path: /health}\n"
        "    readiness_route: {port: 8080, path: /ready}\n"
        "    scoring_route: {port: 8080, path: score}\n"
    )
    folder = spec_folder(project_files(blue__yml=byoc))

    blue = load_project(folder).raise_for_errors().endpoints[0].deployments[0]
    assert blue.environment is not None
    assert blue.environment.inference_config is not None
    assert blue.environment.inference_config.scoring_route.path == "/score"
    assert blue.code_configuration is None


def test_inference_config_needs_all_three_routes(spec_folder: SpecFolder) -> None:
    env = "environment:\n  image: srv:1\n  inference_config:\n    liveness_route: {port: 8080, path: /}\n"
    folder = spec_folder(project_files(blue__yml=deployment(environment=env)))

    assert messages(folder) == [
        "blue.yml:11:5: environment.inference_config.readiness_route: Missing data for required field.",
        "blue.yml:11:5: environment.inference_config.scoring_route: Missing data for required field.",
    ]


def test_deployment_without_code_or_byoc_or_mlflow_is_refused(spec_folder: SpecFolder) -> None:
    text = (
        "name: blue\nendpoint_name: my-endpoint\nmodel: {path: model.pkl}\n"
        "environment: {image: x}\ninstance_type: Standard_DS3_v2\n"
    )
    folder = spec_folder(project_files(blue__yml=text))
    (problem,) = load_project(folder).problems
    assert problem.key == "code_configuration"

    mlflow = text.replace("{path: model.pkl}", "{path: model.pkl, type: mlflow_model}")
    folder = spec_folder(project_files(blue__yml=mlflow))
    assert load_project(folder).problems == ()


def test_small_sku_warns_as_the_sdk_does(spec_folder: SpecFolder) -> None:
    text = deployment().replace("Standard_DS3_v2", "standard_ds2_v2")
    folder = spec_folder(project_files(blue__yml=text))

    (problem,) = load_project(folder).problems
    assert not problem.is_error
    assert problem.message.endswith("Minimum recommended compute SKU is Standard_DS3_v2")


def test_probe_and_request_settings_override_defaults(spec_folder: SpecFolder) -> None:
    extra = (
        "request_settings: {request_timeout_ms: 90000, max_concurrent_requests_per_instance: 4}\n"
        "liveness_probe: {initial_delay: 2, period: 3, failure_threshold: 5}\n"
        "instance_count: 3\negress_public_network_access: disabled\n"
    )
    folder = spec_folder(project_files(blue__yml=deployment(extra=extra)))

    blue = load_project(folder).raise_for_errors().endpoints[0].deployments[0]
    assert blue.request_settings.request_timeout_ms == 90000
    assert blue.request_settings.max_concurrent_requests_per_instance == 4
    assert (blue.liveness_probe.initial_delay, blue.liveness_probe.period, blue.liveness_probe.timeout) == (
        2,
        3,
        2,
    )
    assert blue.liveness_probe.failure_threshold == 5
    assert blue.readiness_probe.initial_delay == 10
    assert blue.instance_count == 3
    assert blue.egress_public_network_access == "disabled"


def test_data_collector_is_read(spec_folder: SpecFolder) -> None:
    extra = (
        "data_collector:\n  sampling_rate: 0.5\n  collections:\n"
        "    model_inputs: {enabled: 'True'}\n    model_outputs: {enabled: 'False'}\n"
        "  request_logging: {capture_headers: [x-user]}\n"
    )
    folder = spec_folder(project_files(blue__yml=deployment(extra=extra)))

    collector = load_project(folder).raise_for_errors().endpoints[0].deployments[0].data_collector
    assert collector is not None
    assert collector.sampling_rate == 0.5
    assert [(c.name, c.enabled) for c in collector.collections] == [
        ("model_inputs", True),
        ("model_outputs", False),
    ]
    assert collector.capture_headers == ("x-user",)


def test_data_collector_sampling_rate_range(spec_folder: SpecFolder) -> None:
    extra = "data_collector:\n  sampling_rate: 1.5\n"
    folder = spec_folder(project_files(blue__yml=deployment(extra=extra)))

    assert messages(folder) == [
        "blue.yml:12:18: data_collector.sampling_rate: Sampling rate must be an number in range (0.0-1.0)"
    ]


def test_explicit_deployment_file_is_checked_against_its_folder(spec_folder: SpecFolder) -> None:
    folder = spec_folder(project_files(green__yml=deployment("green", extra="instance_count: 0\n")))

    project = load_project([folder / "blue.yml"])
    assert project.problems == ()
    # its endpoint comes from the folder; green, in a file not named, is neither run nor checked
    assert [d.name for d in project.endpoints[0].deployments] == ["blue"]


def test_a_scoring_script_outside_the_code_folder_is_an_error(spec_folder: SpecFolder) -> None:
    text = deployment().replace("scoring_script: score.py", "scoring_script: ../outside.py")
    folder = spec_folder(project_files(blue__yml=text, outside__py="def init():\n    pass\n"))

    found = messages(folder)

    assert any(
        "code_configuration.scoring_script: scoring script '../outside.py' is outside the code folder 'src'"
        in m
        for m in found
    ), found
    assert not load_project(folder).ok


def test_a_model_outside_the_project_is_a_warning(spec_folder: SpecFolder, tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-model.pkl"
    outside.write_text("x")
    folder = spec_folder(project_files(blue__yml=deployment().replace("path: model.pkl", f"path: {outside}")))

    project = load_project(folder)

    assert project.ok
    (warning,) = [p for p in project.problems if not p.is_error]
    assert warning.key == "model.path"
    assert "is outside the project folder" in warning.message


def test_spec_files_are_found_whatever_the_case_of_their_suffix(spec_folder: SpecFolder) -> None:
    files = project_files()
    files["BLUE.YAML"] = files.pop("blue.yml")
    folder = spec_folder(files)

    project = load_project(folder).raise_for_errors()

    assert [d.name for d in project.endpoints[0].deployments] == ["blue"]


def test_named_files_are_the_project_and_alternatives_beside_them_are_left_alone(
    spec_folder: SpecFolder,
) -> None:
    files = project_files()
    files["blue-large.yml"] = deployment(extra="instance_count: [broken\n")  # another blue, broken
    folder = spec_folder(files)
    assert not load_project(folder).ok  # the folder as a whole has two blues, one broken

    project = load_project([folder / "endpoint.yml", folder / "blue.yml"])

    assert project.ok, [p.format() for p in project.problems]
    (endpoint,) = project.endpoints
    assert [d.file.name for d in endpoint.deployments] == ["blue.yml"]
    assert project.problems == ()


def test_concurrency_without_workers_is_a_warning_as_on_azure(spec_folder: SpecFolder) -> None:
    busy = "request_settings: {max_concurrent_requests_per_instance: 4}\n"
    folder = spec_folder(project_files(blue__yml=deployment(extra=busy)))
    (warning,) = [p for p in load_project(folder).problems if not p.is_error]
    assert warning.key == "request_settings.max_concurrent_requests_per_instance"
    assert "the inference server runs one worker" in warning.message

    matched = busy + 'environment_variables: {WORKER_COUNT: "4"}\n'
    folder = spec_folder(project_files(blue__yml=deployment(extra=matched)))
    assert load_project(folder).problems == ()


def test_an_r_script_is_not_read_as_python_and_unapplied_keys_are_said(spec_folder: SpecFolder) -> None:
    text = deployment().replace("scoring_script: score.py", "scoring_script: score.R")
    folder = spec_folder(
        project_files(blue__yml=text + "model_mount_path: /var/models\n", src__score__R="library(plumber)\n")
    )
    (folder / "src" / "score.R").write_text("library(plumber)\n#* @post /score\nfunction(req) req$body\n")

    project = load_project(folder)

    assert project.ok, [p.format() for p in project.problems]
    (warning,) = [p for p in project.problems if not p.is_error]
    assert warning.key == "model_mount_path"
    assert "applied by the Docker runtime" in warning.message


def test_no_code_mlflow_and_triton_models_need_no_scoring_script_or_environment(
    spec_folder: SpecFolder,
) -> None:
    def no_code(kind: str) -> str:
        return (
            "name: blue\nendpoint_name: my-endpoint\n"
            f"model:\n  name: m\n  version: 1\n  path: model\n  type: {kind}\n"
            "instance_type: Standard_DS3_v2\n"
        )

    folder = spec_folder(project_files(blue__yml=no_code("mlflow_model")))
    (folder / "model").mkdir()
    (folder / "model" / "MLmodel").write_text("flavors: {}\n")
    assert load_project(folder).problems == ()
    (folder / "blue.yml").write_text(no_code("triton_model"))
    project = load_project(folder)
    assert project.ok
    (warning,) = [p for p in project.problems if not p.is_error]
    assert "Triton no-code deployment" in warning.message
    (folder / "blue.yml").write_text(no_code("custom_model"))
    assert any(p.key == "environment" for p in load_project(folder).problems if p.is_error)


def test_a_problem_in_a_file_two_deployments_share_is_said_once(tmp_path: Path) -> None:
    project = copy_project(QUICKSTART, tmp_path / "quickstart")  # blue and green share conda.yml
    conda = project / "environment" / "conda.yml"
    conda.write_text(conda.read_text().replace("python=3.11", "python=3.97"))
    said = messages(project)
    assert len([m for m in said if "asks for Python 3.97" in m]) == 1, said


@pytest.mark.parametrize("placeholder", ["<MODEL_VERSION>", "${MODEL_VERSION}", "{{MODEL_VERSION}}"])
def test_a_model_version_left_a_placeholder_is_an_error_saying_how_to_fill_it(
    spec_folder: SpecFolder, placeholder: str
) -> None:
    model = f"model:\n  name: m\n  version: {placeholder}\n  path: model.pkl\n"
    folder = spec_folder(project_files(blue__yml=deployment().replace("model:\n  path: model.pkl\n", model)))

    (problem,) = load_project(folder).problems

    assert problem.format(relative_to=folder) == (
        "blue.yml:5:12: model.version: "
        f"{'{{...}}' if placeholder.startswith('{{') else repr(placeholder)} is a placeholder that was never "
        "filled (--set model.version=1, for one)"
    )


def test_an_unresolved_environment_reference_says_what_file_to_add(spec_folder: SpecFolder) -> None:
    text = deployment(environment="environment: azureml:sk-env:3\n")
    problems = load_project(spec_folder(project_files(blue__yml=text))).problems
    (problem,) = [p for p in problems if p.is_error]
    assert problem.hint == "add an environment YAML file with name sk-env and version 3"
