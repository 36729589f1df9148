"""Running the real engine (`workbench up --headless`) in a subprocess, and waiting on it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from workbench.client import EngineClient
from workbench.state import EndpointState, ProvisioningState


@dataclass
class RunningEngine:
    process: subprocess.Popen[bytes]
    folder: Path
    log: Path

    def status(self) -> list[EndpointState]:
        with EngineClient.for_folder(self.folder) as client:
            return client.status()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(
        self, check: Callable[[list[EndpointState]], bool], timeout: float = 120
    ) -> list[EndpointState]:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"engine exited with {self.process.returncode}:\n{self.output()}")
            with contextlib.suppress(Exception):
                state = self.status()
                if check(state):
                    return state
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not reached in {timeout} s:\n{self.stuck()}")
            time.sleep(0.1)

    def stuck(self) -> str:
        """The engine's output with what each of its tasks waits on (SIGUSR1 makes it say)."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                os.kill(self.process.pid, signal.SIGUSR1)
                deadline = time.monotonic() + 30  # a busy machine: the loop may be slow to say it
                while "--- tasks end" not in self.output() and time.monotonic() < deadline:
                    time.sleep(0.05)
        return self.output()

    def wait_settled(self, timeout: float = 300) -> list[EndpointState]:
        """Until no deployment is Creating or Updating."""
        busy = (ProvisioningState.CREATING, ProvisioningState.UPDATING)
        return self.wait_for(
            lambda eps: (
                bool(eps)
                and all(d.provisioning_state not in busy for e in eps for d in e.deployments)
                and all(e.deployments for e in eps)
            ),
            timeout,
        )

    def wait_for_output(self, text: str, timeout: float = 60) -> None:
        """Until the engine's event lines contain `text`."""
        until(lambda: text in self.output(), timeout, lambda: f"no {text!r} in:\n{self.output()}")

    def instance_pids(self) -> list[int]:
        return [i.pid for e in self.status() for d in e.deployments for i in d.instances if i.pid]


def until(condition: Callable[[], bool], timeout: float = 60, why: Callable[[], str] = str) -> None:
    """Poll `condition` until it holds; a TimeoutError saying `why()` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(why())
        time.sleep(0.02)


def copy_project(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".workbench", "__pycache__"))
    return target


def start_engine(
    folder: Path, log: Path, runtime: str | None = None, extra: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "workbench",
                "up",
                "--headless",
                *(["--runtime", runtime] if runtime else []),
                *extra,
                str(folder),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@contextlib.contextmanager
def engine(
    folder: Path, log_dir: Path, runtime: str | None = None, extra: tuple[str, ...] = ()
) -> Iterator[RunningEngine]:
    """`workbench up --headless` for `folder` (with `extra` arguments) until the block ends."""
    log = log_dir / f"engine-{folder.name}.log"
    process = start_engine(folder, log, runtime, extra)
    running = RunningEngine(process, folder, log)
    try:
        deadline = time.monotonic() + 60
        while not (folder / ".workbench" / "connection.json").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"engine did not start:\n{running.output()}")
            time.sleep(0.05)
        yield running
    finally:
        instances: list[psutil.Process] = []  # held before the stop: a pid reused since is no leftover
        with contextlib.suppress(Exception):
            instances = [psutil.Process(pid) for pid in running.instance_pids()]
        current = running.process  # a test may have restarted the engine
        if current.poll() is None:
            current.send_signal(signal.SIGTERM)
            try:
                current.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(current.pid, signal.SIGKILL)
                current.wait()
        leftovers = [p.pid for p in instances if alive(p)]
        for pid in leftovers:  # failed, but leaves nothing behind for the tests after it
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        assert leftovers == [], f"instances left running: {leftovers}"


def alive(process: psutil.Process) -> bool:
    """Whether `process` still runs: the same process, not one given its pid since (a busy machine
    goes round its 32,768 pids in minutes), and not a zombie waiting to be reaped."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


ENDPOINT = (
    "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\nname: {name}\n"
)
DEPLOYMENT = (
    "name: {name}\nendpoint_name: {endpoint}\n"
    "code_configuration: {{code: code, scoring_script: {script}}}\n"
    "environment: {{image: python:3.11-slim}}\ninstance_type: Standard_DS3_v2\n{extra}"
)


def folder_with(
    tmp_path: Path, scripts: dict[str, str], deployments: dict[str, str], name: str = "tests"
) -> Path:
    root = tmp_path / name
    (root / "code").mkdir(parents=True)
    for file, text in scripts.items():
        (root / "code" / file).write_text(text)
    (root / "endpoint.yml").write_text(ENDPOINT.format(name=name))
    for deployment, text in deployments.items():
        (root / f"{deployment}.yml").write_text(text)
    return root


def deployment_yaml(name: str, script: str, endpoint: str = "tests", extra: str = "") -> str:
    return DEPLOYMENT.format(name=name, endpoint=endpoint, script=script, extra=extra)


ECHO = (
    "import os\n\ndef init():\n    pass\n\n\n"
    "def run(data):\n    return {'pid': os.getpid(), 'env': os.environ.get('COLOUR')}\n"
)


def folder_with_conda(tmp_path: Path, script: str, conda: str, extra: str = "") -> Path:
    """A project whose one deployment, blue, runs `script` in an environment from `conda`."""
    environment = "environment:\n  image: python:3.11-slim\n  conda_file: conda.yml\n"
    text = deployment_yaml("blue", "score.py", extra=extra).replace(
        "environment: {image: python:3.11-slim}\n", environment
    )
    folder = folder_with(tmp_path, {"score.py": script}, {"blue": text})
    (folder / "conda.yml").write_text(conda)
    return folder


def key_headers(folder: Path, endpoint: str = "tests", deployment: str | None = "blue") -> dict[str, str]:
    """Headers for a scoring request with the endpoint's primary key (pinned to `deployment`)."""
    with EngineClient.for_folder(folder) as client:
        key = client.credentials(endpoint).secret
    headers = {"Authorization": f"Bearer {key}"}
    if deployment is not None:
        headers["azureml-model-deployment"] = deployment
    return headers
