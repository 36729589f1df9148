"""The local base image is found or made by the workbench itself: the public Python image for
the conda file's version where a registry answers (here the test registry on 127.0.0.1 stands in
for Docker Hub, through $WORKBENCH_PYTHON_IMAGE), else Debian's, with the mismatch said. The build
from Debian's packages on a machine without the image runs in tests/installed/."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.conftest import QUICKSTART, require_docker, run_workbench
from tests.docker.test_docker_runtime import REGISTRY, require_registry
from tests.engine.harness import copy_project
from workbench.engine.baseimage import DEBIAN_PYTHON, IMAGE_VARIABLE, BaseImages, tag_for
from workbench.errors import StartupError
from workbench.runtimes.docker import DockerRuntime

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]


@pytest.fixture
def client() -> Iterator[docker.DockerClient]:
    require_docker()
    docker_client = docker.from_env()
    yield docker_client
    docker_client.close()


def stand_in(python: str | None, configured: str | None = None) -> tuple[str, str | None, list[str]]:
    said: list[str] = []
    bases = BaseImages(DockerRuntime(Path.cwd()), configured)
    chosen = asyncio.run(bases.stand_in(python, said.append))
    return chosen.tag, chosen.mismatch, said


def test_the_public_python_image_of_the_conda_version_is_pulled_and_named_as_the_base(
    client: docker.DockerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_registry()
    repository = f"{REGISTRY}/python-{uuid.uuid4().hex[:8]}"
    published = f"{repository}:3.99-slim"
    client.images.get(tag_for(DEBIAN_PYTHON)).tag(published)
    client.images.push(published)
    client.images.remove(published)  # only the registry has it now
    monkeypatch.setenv(IMAGE_VARIABLE, f"{repository}:{{version}}-slim")
    try:
        tag, mismatch, said = stand_in("3.99")
        assert tag == "workbench-base:py3.99"
        assert mismatch is None
        assert client.images.get(tag).id == client.images.get(published).id
        assert any(f"made from {published}" in line for line in said), said
        assert stand_in("3.99")[2] == []  # found the second time: nothing pulled or said
    finally:
        for image in ("workbench-base:py3.99", published):
            with contextlib.suppress(docker.errors.DockerException):
                client.images.remove(image)


def test_without_the_public_image_debians_python_stands_in_and_says_so(
    client: docker.DockerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_registry()
    monkeypatch.setenv(IMAGE_VARIABLE, f"{REGISTRY}/nothing-{uuid.uuid4().hex[:8]}:{{version}}")
    tag, mismatch, said = stand_in("3.98")
    assert tag == tag_for(DEBIAN_PYTHON)
    assert mismatch is not None
    assert "asks for Python 3.98" in mismatch
    assert "runs Python 3.11" in mismatch
    assert f"warning: {mismatch}" in said
    assert not client.images.list(name="workbench-base:py3.98")


def test_a_base_image_named_in_workbench_yaml_that_is_missing_is_a_clear_error(
    client: docker.DockerClient,
) -> None:
    missing = f"nowhere/base-{uuid.uuid4().hex[:8]}:1"
    with pytest.raises(StartupError, match=r"base_image: in workbench.yaml\) is not on this machine"):
        stand_in(None, configured=missing)


def test_validate_for_docker_says_when_the_stand_in_would_run_another_python(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    project = copy_project(QUICKSTART, tmp_path / "quickstart")
    conda = project / "environment" / "conda.yml"
    conda.write_text(conda.read_text().replace("python=3.11", "python=3.97"))
    plain = run_workbench("validate", str(project))
    assert "stand-in" not in plain.stdout  # the process runtime has no stand-in image
    checked = run_workbench("validate", "--runtime", "docker", str(project))
    assert checked.returncode == 0, checked.stdout
    assert (
        "blue-deployment.yml:9:1: environment: warning: the conda file asks for Python 3.97; unless "
        "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest or python:3.97-slim can be pulled, "
        "the Docker runtime's stand-in runs Debian's Python 3.11"
    ) in checked.stdout
