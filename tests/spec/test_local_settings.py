from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.conftest import QUICKSTART, REPO, SpecFolder, project_files
from workbench.spec import load_project
from workbench.spec.faults import Faults
from workbench.spec.rollout import RolloutSettings

SETTINGS = """\
runtime: docker
base_image: workbench-base:py3.11
build: {pass_proxy: true}
endpoints:
  my-endpoint:
    port: 18080
    deployments:
      blue: {runtime: process, gpus: all, server: azmlinfsrv}
remotes:
  staging: {host: me@staging, port: 2222, ssh_options: [-F, ssh.conf]}
"""


def test_workbench_yaml_is_read(spec_folder: SpecFolder) -> None:
    folder = spec_folder(project_files(workbench__yaml=SETTINGS))

    project = load_project(folder).raise_for_errors()
    settings = project.settings
    assert settings.runtime == "docker"
    assert settings.base_image == "workbench-base:py3.11"
    assert settings.build.pass_proxy
    assert settings.endpoints["my-endpoint"].port == 18080
    blue = settings.deployment("my-endpoint", "blue")
    assert blue.server == "azmlinfsrv"
    assert blue.gpus is not None
    assert blue.gpus.all
    assert settings.runtime_for("my-endpoint", "blue") == "process"
    assert settings.runtime_for("my-endpoint", "green") == "docker"
    staging = settings.remotes["staging"]
    assert (staging.host, staging.port, staging.runtime, staging.address) == (
        "me@staging",
        2222,
        "docker",
        "127.0.0.1",
    )
    assert staging.ssh_options == ("-F", "ssh.conf")
    assert staging.folder == ".workbench-remote/staging"


def test_workbench_yaml_problems_are_located(spec_folder: SpecFolder) -> None:
    bad = (
        "runtime: kubernetes\nendpoints:\n  my-endpoint:\n    port: 80\n"
        "    deployments:\n      blue: {gpus: -1}\n      purple: {runtime: docker}\n"
        "remotes:\n  x: {host: -oProxyCommand=x}\nbase_imge: x\n"
    )
    folder = spec_folder(project_files(workbench__yaml=bad))

    assert [p.format(relative_to=folder) for p in load_project(folder).problems] == [
        "workbench.yaml:1:10: runtime: Value 'kubernetes' passed is not in set ['process', 'docker']",
        "workbench.yaml:4:11: endpoints.my-endpoint.port: must be at least 1024, got 80",
        "workbench.yaml:6:20: endpoints.my-endpoint.deployments.blue.gpus: expected 'all', a number of "
        "GPUs (1 or more), or a list of device ids",
        "workbench.yaml:9:13: remotes.x.host: a host cannot start with '-'",
        "workbench.yaml:10:1: base_imge: Unknown field. (did you mean 'base_image'?)",
        "workbench.yaml:7:7: endpoints.my-endpoint.deployments.purple: warning: endpoint 'my-endpoint' "
        "has no deployment named 'purple'",
    ]


def test_literal_secrets_in_a_readable_file_are_a_warning(spec_folder: SpecFolder) -> None:
    folder = spec_folder(
        project_files(workbench__yaml="secrets:\n  azureml://connections/c/target: s3cr3t\n")
    )
    os.chmod(folder / "workbench.yaml", 0o644)

    (problem,) = load_project(folder).problems
    assert problem.message == "file holds secret values and others can read it (mode 644)"
    assert "s3cr3t" not in repr(load_project(folder).settings)

    os.chmod(folder / "workbench.yaml", 0o600)
    assert load_project(folder).problems == ()


def test_the_memory_limit_of_a_deployment_can_be_lifted(spec_folder: SpecFolder) -> None:
    settings = "endpoints:\n  my-endpoint:\n    deployments:\n      blue: {memory_limit: false}\n"
    folder = spec_folder(project_files(workbench__yaml=settings))

    project = load_project(folder).raise_for_errors()

    assert project.settings.deployment("my-endpoint", "blue").memory_limit is False
    assert project.settings.deployment("my-endpoint", "green").memory_limit is True


def test_the_documented_workbench_yaml_is_valid(tmp_path: Path) -> None:
    """docs/workbench-yaml.md's example, beside the quickstart, reads without an error."""
    text = (REPO / "docs" / "workbench-yaml.md").read_text()
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    folder = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, folder)
    (folder / "workbench.yaml").write_text(example)
    project = load_project(folder)
    assert [p.format() for p in project.problems if p.is_error] == []
    green = project.settings.deployment("quickstart", "green")
    assert green.autoscale is not None
    assert [rule.direction for rule in green.autoscale.rules] == ["Increase", "Decrease"]
    assert green.faults == Faults(latency_ms=200, error_rate=0.05, error_status=503, drop_rate=0.01)
    assert project.settings.endpoints["quickstart"].limits == "azure"
    rollout = project.settings.endpoints["quickstart"].rollout
    assert rollout == RolloutSettings((10, 50, 100), 30, 10, 1, 250, 5)
    assert project.settings.remotes["staging"].host == "me@staging"


def test_faults_out_of_range_or_misspelt_are_problems_with_their_place(spec_folder: SpecFolder) -> None:
    settings = (
        "endpoints:\n  my-endpoint:\n    deployments:\n"
        "      blue: {faults: {error_rate: 2}}\n      green: {faults: {latency: 100}}\n"
    )
    folder = spec_folder(project_files(workbench__yaml=settings))

    problems = [p.format() for p in load_project(folder).problems if p.is_error]

    assert any("blue.faults" in p and "rates are between 0 and 1" in p for p in problems), problems
    assert any("green.faults.latency" in p and "latency_ms" in p for p in problems), problems


def test_a_rollout_plan_takes_its_defaults_and_its_mistakes_are_placed(spec_folder: SpecFolder) -> None:
    settings = (
        "endpoints:\n  good:\n    rollout: {interval: 5, max_error_rate: 0}\n"
        "  bad:\n    rollout: {steps: [50, 10], interval: 0, mirror_first: 80, max_p99: 100}\n"
    )
    folder = spec_folder(project_files(workbench__yaml=settings))

    loaded = load_project(folder)
    problems = [p.format(relative_to=folder) for p in loaded.problems if p.is_error]

    assert loaded.settings.endpoints["good"].rollout == RolloutSettings(interval_s=5, max_error_rate=0)
    assert any("endpoints.bad.rollout.steps" in p and "rising shares" in p for p in problems), problems
    assert any("endpoints.bad.rollout.interval" in p and "above 0" in p for p in problems), problems
    assert any("endpoints.bad.rollout.mirror_first" in p and "at most 50" in p for p in problems), problems
    assert any("endpoints.bad.rollout" in p and "max_p99" in p for p in problems), problems
