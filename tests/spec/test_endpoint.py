from __future__ import annotations

from pathlib import Path

from tests.conftest import ENDPOINT, SpecFolder, project_files
from workbench.spec import load_project
from workbench.spec.endpoint import AuthMode


def messages(folder: Path) -> list[str]:
    return [p.format(relative_to=folder) for p in load_project(folder).problems]


def test_auth_mode_is_snake_cased_as_the_sdk_does(spec_folder: SpecFolder) -> None:
    folder = spec_folder(project_files(endpoint__yml=ENDPOINT + "auth_mode: AMLToken\n"))

    (endpoint,) = load_project(folder).raise_for_errors().endpoints
    assert endpoint.spec.auth_mode is AuthMode.AML_TOKEN


def test_auth_mode_defaults_to_key(spec_folder: SpecFolder) -> None:
    (endpoint,) = load_project(spec_folder(project_files())).raise_for_errors().endpoints
    assert endpoint.spec.auth_mode is AuthMode.KEY


def test_traffic_must_total_zero_or_one_hundred(spec_folder: SpecFolder) -> None:
    folder = spec_folder(project_files(endpoint__yml=ENDPOINT + "traffic:\n  blue: 90\n"))

    assert messages(folder) == [
        "endpoint.yml:4:3: traffic: traffic totals 90%; the service accepts a total of 0 or 100"
    ]


def test_traffic_names_are_checked_against_deployments_with_a_hint(spec_folder: SpecFolder) -> None:
    folder = spec_folder(project_files(endpoint__yml=ENDPOINT + "traffic:\n  bleu: 100\n"))

    assert messages(folder) == [
        "endpoint.yml:4:3: traffic.bleu: names deployment 'bleu', which is not in this folder "
        "(did you mean 'blue'?)"
    ]


def test_mirror_of_zero_is_allowed_and_means_off(spec_folder: SpecFolder) -> None:
    text = ENDPOINT + "traffic:\n  blue: 100\nmirror_traffic:\n  blue: 0\n"
    folder = spec_folder(project_files(endpoint__yml=text))

    assert messages(folder) == []


def test_kubernetes_endpoint_is_recognised_by_schema_and_compute(spec_folder: SpecFolder) -> None:
    k8s = (
        "$schema: https://azuremlschemas.azureedge.net/latest/kubernetesOnlineEndpoint.schema.json\n"
        "name: my-endpoint\ncompute: azureml:k8s-compute\n"
    )
    dep = (
        "$schema: https://azuremlschemas.azureedge.net/latest/kubernetesOnlineDeployment.schema.json\n"
        "name: blue\nendpoint_name: my-endpoint\nmodel: {path: model.pkl}\n"
        "code_configuration: {code: src, scoring_script: score.py}\n"
        "environment: {image: python:3.11-slim}\n"
        "scale_settings: {type: target_utilization, min_instances: 1, max_instances: 3}\n"
        "resources: {requests: {cpu: '0.5', memory: 1Gi}}\n"
        "request_settings: {request_timeout_ms: 300000}\n"
    )
    folder = spec_folder(project_files(endpoint__yml=k8s, blue__yml=dep))

    project = load_project(folder).raise_for_errors()
    (endpoint,) = project.endpoints
    assert endpoint.spec.kind == "kubernetes"
    assert endpoint.spec.compute == "azureml:k8s-compute"
    (blue,) = endpoint.deployments
    assert blue.kind == "kubernetes"
    assert blue.scale_settings.max_instances == 3
    assert blue.resources["requests"]["memory"] == "1Gi"


def test_unknown_key_gets_schema_link_when_nothing_is_close(spec_folder: SpecFolder) -> None:
    folder = spec_folder(project_files(endpoint__yml=ENDPOINT + "colour: blue\n"))

    (problem,) = load_project(folder).problems
    assert problem.key == "colour"
    assert problem.message == "Unknown field."
    assert problem.hint == "see https://aka.ms/ml-cli-v2-endpoint-online-yaml-reference"


def test_duplicate_keys_are_reported(spec_folder: SpecFolder) -> None:
    folder = spec_folder(project_files(endpoint__yml=ENDPOINT + "auth_mode: key\nauth_mode: aml_token\n"))

    assert messages(folder) == ["endpoint.yml:4:1: auth_mode: duplicate key; YAML keeps only the last value"]


def test_two_endpoints_in_one_folder(spec_folder: SpecFolder) -> None:
    other = "name: other-endpoint\nauth_mode: aml_token\n"
    folder = spec_folder(project_files(other__yml=other))

    project = load_project(folder)
    assert sorted(e.name for e in project.endpoints) == ["my-endpoint", "other-endpoint"]
    assert [p.message for p in project.problems] == ["endpoint has no deployments, so it cannot be invoked"]
