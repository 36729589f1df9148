"""The environment requirements and the storage initializer, on real files."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import SpecFolder, project_files
from workbench.engine.blobs import BlobStore
from workbench.engine.environments import EnvironmentBuilder, requirements
from workbench.engine.storage import StagingError, stage
from workbench.spec import interpreters, load_project

CONDA = """\
name: env
channels: [conda-forge]
dependencies:
  - python=3.99
  - numpy=1.26.4
  - cudatoolkit=11.8
  - pytorch>=2.1
  - pip
  - pip:
      - requests==2.32.3
"""


def test_conda_versions_mean_what_conda_means() -> None:
    from workbench.engine.environments import conda_version  # noqa: PLC0415

    assert conda_version("=1.26") == "==1.26.*"  # the newest 1.26.x, not 1.26.0
    assert conda_version("1.26") == "==1.26.*"
    assert conda_version("=1.26.*") == "==1.26.*"
    assert conda_version("==1.26.4") == "==1.26.4"
    assert conda_version("=1.26.4=py39h5f9d8c6_0") == "==1.26.4.*"
    assert conda_version("1.26.4 py39_0") == "==1.26.4.*"
    assert conda_version(">=1.20, <2") == ">=1.20,<2"
    assert conda_version("") == ""


def test_conda_file_becomes_pip_requirements_with_warnings(spec_folder: SpecFolder) -> None:
    env = "environment:\n  image: python:3.11-slim\n  conda_file: conda.yml\n"
    files = project_files(conda__yml=CONDA)
    files["blue.yml"] = files["blue.yml"].replace("environment:\n  image: python:3.11-slim\n", env)
    folder = spec_folder(files)
    deployment = load_project(folder).raise_for_errors().endpoints[0].deployments[0]

    wanted = requirements(deployment.environment)

    assert wanted.packages[0].startswith("aiohttp")
    assert "numpy==1.26.4.*" in wanted.packages
    assert "torch>=2.1" in wanted.packages
    assert "requests==2.32.3" in wanted.packages
    assert not any(p.startswith("cudatoolkit") for p in wanted.packages)
    assert any("conda-only package 'cudatoolkit=11.8' has no PyPI equivalent" in w for w in wanted.warnings)
    assert any("asks for Python 3.99, which this machine does not have" in w for w in wanted.warnings)
    assert wanted.python == interpreters.host_version()


def test_the_python_a_conda_file_asks_for_is_used_where_installed() -> None:
    host = interpreters.host_version()
    assert interpreters.choose(host) == (host, None)
    assert interpreters.choose(f"{host}.*") == (host, None)
    assert interpreters.choose(None) == (host, None)
    old, warning = interpreters.choose("3.6")
    assert old == host
    assert "the inference server needs 3.8 or newer" in (warning or "")
    other = next((v for v in ("3.12", "3.10", "3.9") if v != host and interpreters.find_python(v)), None)
    if other is None:
        pytest.skip("no other Python is installed here")
    assert interpreters.choose(f"{other}.5") == (other, None)
    python = interpreters.find_python(other)
    assert python is not None
    assert subprocess.run(
        [str(python), "--version"], capture_output=True, text=True, check=True
    ).stdout.startswith(f"Python {other}.")


def test_cached_environment_is_reused_without_building(tmp_path: Path) -> None:
    builder = EnvironmentBuilder(tmp_path / "envs")
    wanted = requirements(None)
    progress: list[str] = []
    first = asyncio.run(builder.ensure(wanted, tmp_path / "build.log", progress.append))
    built_log = (tmp_path / "build.log").read_text()
    second = asyncio.run(builder.ensure(wanted, tmp_path / "build.log", progress.append))

    assert first == second
    assert second.is_file()
    assert subprocess.run([str(first), "-c", "import uvloop"], check=False).returncode == 0, (
        "the server's speedup"
    )
    assert progress.count("environment ready") == 1
    assert (tmp_path / "build.log").read_text() == built_log
    assert not list((tmp_path / "envs").glob("*.building-*"))


def test_staging_lays_out_model_and_code_as_azure_does(spec_folder: SpecFolder, tmp_path: Path) -> None:
    folder = spec_folder(project_files())
    deployment = load_project(folder).raise_for_errors().endpoints[0].deployments[0]

    staged = stage(
        deployment, tmp_path / "staged", tmp_path / "storage-initializer.log", BlobStore(tmp_path / "b")
    )

    assert deployment.model is not None
    assert staged.model_dir == tmp_path / "staged" / "azureml-models" / deployment.model.name / "1"
    assert (staged.model_dir / "model.pkl").read_text() == "x"
    # a read-only copy of the user's file, never the file itself
    assert os.stat(staged.model_dir / "model.pkl").st_ino != os.stat(folder / "model.pkl").st_ino
    assert os.stat(staged.model_dir / "model.pkl").st_mode & 0o222 == 0
    assert staged.app_root == tmp_path / "staged" / "src"
    assert staged.entry_script == "score.py"
    log = (tmp_path / "storage-initializer.log").read_text()
    assert "Staging model" in log
    assert "Model staged: 1 file(s)" in log


def test_staging_a_model_that_vanished_is_a_clear_error(spec_folder: SpecFolder, tmp_path: Path) -> None:
    folder = spec_folder(project_files())
    deployment = load_project(folder).raise_for_errors().endpoints[0].deployments[0]
    (folder / "model.pkl").unlink()

    with pytest.raises(StagingError, match="storage initializer failed: No such file or directory"):
        stage(
            deployment, tmp_path / "staged", tmp_path / "storage-initializer.log", BlobStore(tmp_path / "b")
        )
    assert "Failed: No such file or directory" in (tmp_path / "storage-initializer.log").read_text()
    assert not (tmp_path / "staged").exists()
