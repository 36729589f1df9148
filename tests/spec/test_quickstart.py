"""The quickstart example as the spec layer sees it: Azure's defaults filled in."""

from __future__ import annotations

from tests.conftest import QUICKSTART, run_workbench
from workbench.spec import load_project
from workbench.spec.endpoint import AuthMode


def test_quickstart_validates_clean() -> None:
    result = run_workbench("validate", "examples/quickstart")

    assert result.returncode == 0, result.stdout
    assert result.stdout == "ok: 3 files: 1 endpoint, 2 deployments\n"


def test_quickstart_endpoint_and_deployments_with_azure_defaults() -> None:
    project = load_project(QUICKSTART).raise_for_errors()

    (endpoint,) = project.endpoints
    assert endpoint.name == "quickstart"
    assert endpoint.spec.auth_mode is AuthMode.KEY
    assert dict(endpoint.spec.traffic) == {"blue": 90, "green": 10}
    assert dict(endpoint.spec.mirror_traffic) == {}
    assert [d.name for d in endpoint.deployments] == ["blue", "green"]
    blue = endpoint.deployment("blue")
    assert blue is not None
    assert blue.instance_type == "Standard_DS3_v2"
    assert blue.instance_count == 1
    assert blue.request_settings.request_timeout_ms == 5000
    assert blue.request_settings.max_concurrent_requests_per_instance == 1
    probe = blue.readiness_probe
    assert (
        probe.initial_delay,
        probe.period,
        probe.timeout,
        probe.success_threshold,
        probe.failure_threshold,
    ) == (
        10,
        10,
        2,
        1,
        30,
    )
    assert blue.model is not None
    assert blue.model.path == QUICKSTART / "model-1" / "model"
    assert blue.model.version == "1"
    assert blue.code_configuration is not None
    assert blue.code_configuration.script == QUICKSTART / "onlinescoring" / "score.py"
    assert blue.environment is not None
    assert blue.environment.name == "CliV2AnonymousEnvironment"
    conda = blue.environment.conda_file
    assert conda is not None
    assert conda.python == "3.11"
    assert "scikit-learn==1.9.1" in conda.pip_packages


def test_blue_and_green_serve_different_models() -> None:
    project = load_project(QUICKSTART)
    (endpoint,) = project.endpoints
    blue, green = endpoint.deployments
    assert blue.model is not None
    assert green.model is not None
    assert blue.model.path != green.model.path
    assert blue.model.path.joinpath("sklearn_regression_model.pkl").is_file()
    assert green.model.path.joinpath("sklearn_regression_model.pkl").is_file()
    assert blue.environment == green.environment
