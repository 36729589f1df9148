"""`workbench doctor` on this machine as it is (no GPU), with the Docker engine stopped (nothing
answers where DOCKER_HOST points), and for a user outside the docker group (a child process that
drops to nobody, as such a user runs it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import require_docker, run_workbench
from workbench.doctor import examine


def findings(result_stdout: str) -> dict[str, dict[str, str]]:
    return {f["check"]: f for f in json.loads(result_stdout)}


def test_no_gpu_is_a_normal_answer_and_the_rest_is_found(tmp_path: Path) -> None:
    require_docker(base_image=None)
    result = run_workbench("doctor", "--json", "--project", str(tmp_path))
    found = findings(result.stdout)
    assert found["docker"]["status"] == "ok"
    assert found["docker"]["detail"].startswith("Docker engine ")
    assert found["gpu"]["status"] == "warning"  # this machine has none: said, not a failure
    assert found["gpu"]["detail"].startswith("no GPU: ")
    assert "docker gpu" not in found
    assert found["ssh"]["status"] == "ok"
    assert found["uv"]["status"] == "ok"
    assert result.returncode == 0, result.stdout


def test_with_the_docker_engine_stopped_it_says_so_with_the_fix(tmp_path: Path) -> None:
    stopped = tmp_path / "docker.sock"  # where no engine answers, as when dockerd is stopped
    result = run_workbench("doctor", "--project", str(tmp_path), env={"DOCKER_HOST": f"unix://{stopped}"})
    assert result.returncode == 1
    assert "MISS  docker" in result.stdout
    assert "the Docker engine is not running" in result.stdout
    assert "fix: sudo systemctl start docker" in result.stdout
    assert "base image" not in result.stdout  # nothing to ask a stopped engine


def test_a_user_outside_the_docker_group_is_told_how_to_join_it(tmp_path: Path) -> None:
    require_docker(base_image=None)
    if os.geteuid() != 0:
        pytest.skip("needs root, to run the check as another user")
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: nobody, in no group, as a user who was never added to docker's
        try:
            os.close(reader)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            docker = next(f for f in examine(tmp_path) if f.check == "docker")
            os.write(writer, json.dumps(docker.to_json()).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        docker = json.loads(pipe.read())
    os.waitpid(pid, 0)
    assert docker["status"] == "missing"
    assert "no access to its socket" in docker["detail"]
    assert "not in the docker group" in docker["detail"]
    assert docker["fix"].startswith("sudo usermod -aG docker $USER")
