"""`workbench up` as Azure's scripts call `az ml`: several files named (an endpoint and its
deployments, `*.yml_` copies a script made with sed), `--set` going to the files whose kind has
the key, only what is named starting, and a second `up` with new values refused, saying why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_workbench
from tests.engine.harness import ECHO, ENDPOINT, deployment_yaml, folder_with

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_named_files_start_only_what_they_name_and_set_goes_where_the_key_is(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        {"echo.py": ECHO},
        {"blue": deployment_yaml("blue", "echo.py"), "green": deployment_yaml("green", "echo.py")},
    )
    (folder / "other.yml").write_text(ENDPOINT.format(name="other"))
    (folder / "other-red.yml").write_text(deployment_yaml("red", "echo.py", endpoint="other"))
    endpoint, blue, green = folder / "endpoint.yml", folder / "blue.yml", folder / "green.yml_"
    (folder / "green.yml").rename(green)  # as a script writes its copy with sed
    named = [str(endpoint), str(blue), str(green)]
    up = run_workbench(
        "up", "--detach", *named, "--set", "instance_count=2", "--set", "auth_mode=key", timeout=180
    )
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        status = json.loads(run_workbench("status", "--json", "--project", str(folder)).stdout)
        assert [e["name"] for e in status] == ["tests"]  # not the folder's other endpoint
        deployments = {d["name"]: d["instance_count"] for d in status[0]["deployments"]}
        assert deployments == {"blue": 2, "green": 2}  # --set instance_count: the deployments' key
        said = (folder / ".workbench" / "engine.log").read_text()
        assert "the environment is the image python:3.11-slim alone: as a process" in said  # no conda file

        quoted = run_workbench("traffic", "tests", "blue=90 green=10", "--project", str(folder))  # az's form
        assert quoted.returncode == 0, quoted.stderr
        status = json.loads(run_workbench("status", "--json", "--project", str(folder)).stdout)
        assert status[0]["traffic"] == {"blue": 90, "green": 10}

        again = run_workbench("up", "--detach", str(blue), "--set", "instance_count=3", timeout=60)
        assert again.returncode == 3
        assert "an engine already runs for" in again.stderr
        assert "--set instance_count=3" in again.stderr
        assert "would not be applied" in again.stderr

        assert run_workbench("down", "--project", str(folder), timeout=120).returncode == 0
        alone = run_workbench("up", "--detach", str(endpoint), str(blue), timeout=180)  # green left out
        assert alone.returncode == 0, alone.stdout + alone.stderr
        status = json.loads(run_workbench("status", "--json", "--project", str(folder)).stdout)
        assert status[0]["traffic"] == {}, "the saved 90/10 names green, which is not running"
        said = (folder / ".workbench" / "engine.log").read_text()
        assert "the traffic saved by an earlier run gives green a share, and it is not running now" in said
    finally:
        run_workbench("down", "--project", str(folder), timeout=120)


def test_a_set_key_that_no_named_file_has_is_an_error(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    checked = run_workbench("validate", str(folder), "--set", "instance_cout=2")
    assert checked.returncode == 2
    assert "--set: instance_cout is a key of no file it was given to (instance_cout=2)" in checked.stdout
