from __future__ import annotations

import gc
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
import pytest

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = REPO / "examples" / "quickstart"


def run_workbench(
    *args: str, cwd: Path = REPO, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real CLI in a fresh interpreter, as a user runs it (`env`: variables set for it)."""
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        cwd=cwd,
        env={**os.environ, **env} if env else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def require_program(name: str) -> None:
    """Skip the test when `name` is not installed; in CI (WORKBENCH_CI=1), where .ci/run installs
    everything, fail instead, so that no test is silently left out there."""
    if shutil.which(name) is not None:
        return
    if os.environ.get("WORKBENCH_CI") == "1":
        pytest.fail(f"{name} is not installed, and CI must run every test")
    pytest.skip(f"{name} is not installed")


def require_docker(base_image: str | None = "workbench-base:py3.11") -> None:
    """Skip without a Docker engine or the base image (made by the installed-wheel smoke suite, or
    `workbench doctor --fix`); fail in CI."""
    problem = None
    with warnings.catch_warnings():
        # The Docker SDK (7.x) leaves a refused unix socket unclosed: its warning would fail
        # whichever later test the garbage collector happens to run in.
        warnings.simplefilter("ignore", ResourceWarning)
        client = None
        try:
            client = docker.from_env()
            client.ping()
            if base_image is not None:
                client.images.get(base_image)
        except docker.errors.DockerException as exc:
            problem = str(exc)
        finally:
            if client is not None:
                client.close()
        gc.collect()
    if problem is None:
        return
    if os.environ.get("WORKBENCH_CI") == "1":
        pytest.fail(f"Docker is not ready ({problem}), and CI must run every test")
    pytest.skip(f"Docker is not ready: {problem}")


def pytest_configure(config: pytest.Config) -> None:
    """Tests send Ctrl-C (SIGINT) to the commands they start, as a terminal would. A shell starts a
    background job with SIGINT ignored, and a program keeps an ignored signal ignored, children
    too: run so (`nohup bash .ci/run &`), `workbench record` never saw its Ctrl-C. Handled here,
    it reaches the commands the tests start with its default action, as from a terminal."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # The engines a test starts are listed where only this test process (and its commands) looks,
    # not in the user's own list (workbench/running.py).
    os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="workbench-tests-state-")


def pytest_collection_finish(session: pytest.Session) -> None:
    """What the parity tests need from the network is installed here, once, before any test
    runs: never inside a test's timeout."""
    if any("real_server_venv" in getattr(item, "fixturenames", ()) for item in session.items):
        from tests.server.harness import azmlinfsrv_venv  # noqa: PLC0415 (only when selected)

        azmlinfsrv_venv()


@pytest.fixture(autouse=True, scope="session")
def _environment_cache_of_this_run(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Built environments are cached per test run, not in the user's cache: two runs at once (or
    a developer's own engine) never share a half-built environment."""
    os.environ["WORKBENCH_CACHE"] = str(tmp_path_factory.mktemp("workbench-cache"))


SpecFolder = Callable[[dict[str, str]], Path]


@pytest.fixture
def spec_folder(tmp_path: Path) -> SpecFolder:
    """Writes {relative path: text} into a fresh folder (text dedented) and returns the folder."""

    def write(files: dict[str, str]) -> Path:
        for name, text in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"))
        return tmp_path

    return write


SCORE = """def init():
    pass


def run(data):
    return data
"""

ENDPOINT = """$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json
name: my-endpoint
"""


def deployment(name: str = "blue", extra: str = "", *, environment: str | None = None) -> str:
    """A valid managed deployment of `my-endpoint`, with `extra` YAML appended."""
    env = environment or "environment:\n  image: python:3.11-slim\n"
    return (
        f"name: {name}\nendpoint_name: my-endpoint\nmodel:\n  path: model.pkl\n"
        "code_configuration:\n  code: src\n  scoring_script: score.py\n"
        f"{env}instance_type: Standard_DS3_v2\n{extra}"
    )


def project_files(**extra: str) -> dict[str, str]:
    files = {"endpoint.yml": ENDPOINT, "src/score.py": SCORE, "model.pkl": "x", "blue.yml": deployment()}
    files.update({name.replace("__", "."): text for name, text in extra.items()})
    return files
