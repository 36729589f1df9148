"""The product as installed: the wheel the standard backend builds, installed (not editable) into a
fresh virtual environment (`python -m tests.installed.prepare DIR`, which `.ci/run` runs first),
and every command run from a folder outside the checkout, so that nothing resolves to the source
tree. The Docker runtime starts on a machine without its base image (the test removes it).

These run in one process before the rest of the suite (.ci/check): the base image they remove
and make again is what the other Docker tests build on.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import uuid
import zipfile
from pathlib import Path

import docker
import docker.errors
import httpx
import pytest

from tests.conftest import QUICKSTART, REPO, require_docker, require_program
from tests.engine.harness import copy_project, until
from tests.promote.remote_host import free_port, remote_host
from tests.terminal import Terminal

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
BASE_IMAGE = "workbench-base:py3.11"


@pytest.fixture(scope="module")
def installed() -> Path:
    folder = os.environ.get("WORKBENCH_INSTALLED")
    if folder:
        return Path(folder)
    if os.environ.get("WORKBENCH_CI") == "1":
        pytest.fail("WORKBENCH_INSTALLED is not set, and CI must test the installed wheel")
    pytest.skip("run `python -m tests.installed.prepare DIR` and set WORKBENCH_INSTALLED=DIR")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(QUICKSTART, tmp_path / "quickstart")


def environment(installed: Path) -> dict[str, str]:
    """A user's shell with the tool on PATH: nothing of the checkout or its virtual environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if not (Path(p) / "pytest").exists()]
    env["PATH"] = os.pathsep.join([str(installed / "venv" / "bin"), *path])
    return env


def workbench(
    installed: Path, *args: str, cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(installed / "venv" / "bin" / "workbench"), *args],
        cwd=cwd,
        env=environment(installed),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def installed_python(installed: Path, *args: str, cwd: Path) -> str:
    """What the installed environment's Python prints, run as a user's shell runs it."""
    return subprocess.run(
        [str(installed / "venv" / "bin" / "python"), *args],
        cwd=cwd,
        env=environment(installed),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def wheel_of(installed: Path) -> Path:
    (wheel,) = (installed / "dist").glob("endpoint_workbench-*.whl")
    return wheel


def test_the_wheel_holds_every_file_the_package_reads(installed: Path) -> None:
    names = set(zipfile.ZipFile(wheel_of(installed)).namelist())
    tracked = subprocess.run(
        ["git", "ls-files", "workbench"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked
    missing = [path for path in tracked if path not in names]
    assert missing == []
    assert "workbench/tui/workbench.tcss" in names
    assert "workbench/dev/templates/devcontainer.json" in names


def test_the_tool_runs_from_its_own_environment_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    where = installed_python(installed, "-c", "import workbench; print(workbench.__file__)", cwd=tmp_path)
    assert where.startswith(str(installed / "venv")), where
    version = workbench(installed, "--version", cwd=tmp_path)
    assert version.returncode == 0
    assert version.stdout.startswith("workbench ")


def test_promote_sends_exactly_the_installed_distribution(installed: Path, tmp_path: Path) -> None:
    """The wheel promote ships from an installed tool holds the installed wheel's files, byte for byte."""
    script = "import sys; from pathlib import Path; from workbench.promote.wheel import build_wheel; "
    script += "print(build_wheel(Path(sys.argv[1])))"
    out = installed_python(installed, "-c", script, str(tmp_path / "sent"), cwd=tmp_path)
    original, sent = zipfile.ZipFile(wheel_of(installed)), zipfile.ZipFile(out)
    record = [n for n in original.namelist() if n.endswith("/RECORD")]
    assert sorted(original.namelist()) == sorted(sent.namelist())
    for name in original.namelist():
        if name not in record:
            assert original.read(name) == sent.read(name), name


def test_the_dashboard_draws_the_quickstart_to_ready(installed: Path, project: Path) -> None:
    require_program("tmux")
    terminal = Terminal(f"workbench-installed-{uuid.uuid4().hex[:8]}", 120, 35)
    bin_folder = installed / "venv" / "bin"
    command = (
        f"cd {shlex.quote(str(project))} && PATH={shlex.quote(str(bin_folder))}:$PATH workbench up ; "
        "echo workbench exited with $?; sleep 600"
    )
    terminal.start(f"env -u COLUMNS -u LINES -u PYTHONPATH TERM=xterm-256color sh -c {shlex.quote(command)}")
    try:
        terminal.wait_for("blue-0  Ready", timeout=300)
        terminal.wait_for("green-0  Ready", timeout=120)
        terminal.quit_stopping()
        screen = terminal.wait_for("workbench exited with", timeout=60)
    finally:
        terminal.stop()
    assert "StylesheetError" not in screen
    assert "workbench exited with 0" in screen


def test_serve_export_and_validate_run_from_another_folder(installed: Path, tmp_path: Path) -> None:
    script = tmp_path / "score.py"
    shutil.copy(REPO / "fixtures" / "score" / "echo.py", script)
    port = free_port()
    server = subprocess.Popen(
        [str(installed / "venv" / "bin" / "workbench"), "serve", "--entry_script", "score.py"],
        cwd=tmp_path,
        env={**environment(installed), "SERVER_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    answers: list[object] = []
    try:
        until(lambda: _answer(f"http://127.0.0.1:{port}/score", {"x": 1}, answers), timeout=60)
    finally:
        server.terminate()
        server.wait(30)
    assert answers == [{"echo": '{"x":1}'}]

    project = copy_project(QUICKSTART, tmp_path / "quickstart")
    checked = workbench(installed, "validate", str(project), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    exported = workbench(installed, "export", "azureml", "--out", str(tmp_path / "azure"), cwd=project)
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "azure" / "deploy.sh").is_file()


def test_the_docker_runtime_makes_its_base_image_then_serves_the_quickstart(
    installed: Path, project: Path
) -> None:
    require_docker(base_image=None)
    client = docker.from_env()
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.remove(BASE_IMAGE)  # as on a machine where nobody built it
    client.close()
    up = workbench(installed, "up", "--detach", "--runtime", "docker", cwd=project, timeout=580)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        status = workbench(installed, "status", "--json", cwd=project)
        (endpoint,) = json.loads(status.stdout)
        assert {d["name"]: d["provisioning_state"] for d in endpoint["deployments"]} == {
            "blue": "Succeeded",
            "green": "Succeeded",
        }
        request = str(project / "sample-request.json")
        answer = workbench(installed, "invoke", "quickstart", "--request-file", request, cwd=project)
        assert answer.returncode == 0, answer.stderr
        said = (project / ".workbench" / "engine.log").read_text()
        assert f"building base image {BASE_IMAGE} from Debian's packages" in said
    finally:
        workbench(installed, "down", cwd=project, timeout=120)
    assert docker.from_env().images.get(BASE_IMAGE)


def test_devcontainer_writes_its_file_from_the_installed_template(installed: Path, project: Path) -> None:
    require_docker()
    written = workbench(installed, "devcontainer", "quickstart", "blue", cwd=project, timeout=580)
    assert written.returncode == 0, written.stderr
    document = json.loads((project / ".devcontainer" / "devcontainer.json").read_text())
    assert document["name"] == "workbench: quickstart/blue"
    assert document["image"].startswith("workbench-env:")


def test_promote_dry_run_from_the_installed_tool(installed: Path, project: Path, tmp_path: Path) -> None:
    with remote_host(tmp_path) as host:
        path = f"projects/{uuid.uuid4().hex[:8]}"
        (project / "workbench.yaml").write_text(host.workbench_yaml("staging", path))
        planned = workbench(installed, "promote", "staging", "--dry-run", cwd=project, timeout=300)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "preflight" in planned.stdout
    assert "blue" in planned.stdout
    assert not (host.home / path).exists()


def _answer(url: str, body: object, into: list[object]) -> bool:
    try:
        response = httpx.post(url, json=body, timeout=5)
    except httpx.HTTPError:
        return False
    into.append(response.json())
    return True


def test_azlocal_is_installed_and_runs_a_script_from_another_folder(installed: Path, tmp_path: Path) -> None:
    """`azlocal`, the wheel's second console script, as a user's shell runs it: an endpoint with
    -n alone, a deployment from a file, an invoke; its workspace under the user's data folder."""
    (tmp_path / "src").mkdir()
    shutil.copy(REPO / "fixtures" / "score" / "echo.py", tmp_path / "src" / "score.py")
    (tmp_path / "model.txt").write_text("weights\n")
    (tmp_path / "blue.yml").write_text(
        "name: blue\nendpoint_name: anything\nmodel:\n  path: model.txt\ncode_configuration:\n  code: src\n"
        "  scoring_script: score.py\nenvironment:\n  image: python:3.11-slim\n"
        "instance_type: Standard_DS3_v2\n"
    )
    (tmp_path / "request.json").write_text('{"x": 1}')
    env = {
        **environment(installed),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    script = (
        "set -e\n"
        "azlocal ml online-endpoint create -n installed-ep -o none\n"
        "azlocal ml online-deployment create -n blue -e installed-ep -f blue.yml --all-traffic "
        "--query provisioning_state -o tsv\n"
        "azlocal ml online-endpoint invoke -n installed-ep --request-file request.json\n"
    )
    try:
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        subprocess.run(
            [str(installed / "venv" / "bin" / "workbench"), "down", "--workspace", "local"],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    state, answer = done.stdout.splitlines()
    assert state == "Succeeded"
    assert json.loads(json.loads(answer)) == {"echo": '{"x": 1}'}
