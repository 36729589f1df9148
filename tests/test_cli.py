from __future__ import annotations

from pathlib import Path

from tests.conftest import ENDPOINT, run_workbench
from workbench import __version__


def test_version() -> None:
    result = run_workbench("--version")

    assert result.returncode == 0
    assert result.stdout.strip() == f"workbench {__version__}"


def test_unknown_command_is_a_usage_error() -> None:
    result = run_workbench("deploy-everything")

    assert result.returncode == 2
    assert "invalid choice: 'deploy-everything'" in result.stderr


def test_validate_defaults_to_the_current_folder(tmp_path: Path) -> None:
    (tmp_path / "endpoint.yml").write_text(ENDPOINT)

    result = run_workbench("validate", cwd=tmp_path)

    assert result.returncode == 0
    assert "endpoint.yml:2:1: name: warning: endpoint has no deployments" in result.stdout
    assert result.stdout.splitlines()[-1] == "0 errors, 1 warning in 1 file: 1 endpoint, 0 deployments"


def test_empty_folder_says_what_it_expected(tmp_path: Path) -> None:
    result = run_workbench("validate", str(tmp_path), cwd=tmp_path)

    assert result.returncode == 2
    assert ":1:1: no endpoint YAML found" in result.stdout
