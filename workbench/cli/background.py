"""An engine in its own process, for the dashboard and `up --detach`: started detached from the
terminal, its event lines in `.workbench/engine.log`, found again through its connection file."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from workbench import running
from workbench.client import EngineClient
from workbench.engine.keeper import KeeperClient, socket_path
from workbench.errors import EngineError, StartupError
from workbench.layout import CONNECTION, ProjectFiles
from workbench.state import ProvisioningState

START_TIMEOUT_S = 60.0
SERVE_TIMEOUT_S = 900.0
"""Long enough for a first environment build."""
LOG_TAIL_LINES = 30


def engine_log(root: Path) -> Path:
    return ProjectFiles(root).engine_log


def running_engine(root: Path) -> EngineClient | None:
    """A client of the engine already running for `root`, if there is one."""
    if not (root / CONNECTION).is_file():
        return None
    try:
        return EngineClient.for_folder(root)
    except EngineError:
        return None


@dataclass(frozen=True)
class EngineArguments:
    """What `workbench up` passes on to the engine it starts in the background."""

    runtime: str | None = None
    named: tuple[Path, ...] = ()
    """Files named on the command line: the project is then those files, not the folder."""
    all_traffic: str | None = None
    sets: tuple[str, ...] = ()
    """`--set KEY=VALUE` values, passed on as they were given."""
    listen: str | None = None
    tls: tuple[Path, Path] | None = None
    """--tls-cert and --tls-key"""

    def command(self, root: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "workbench",
            "up",
            "--headless",
            "--log-file",
            str(engine_log(root)),
            *(["--runtime", self.runtime] if self.runtime else []),
            *(["--all-traffic", self.all_traffic] if self.all_traffic else []),
            *(argument for value in self.sets for argument in ("--set", value)),
            *(["--listen", self.listen] if self.listen else []),
            *(["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])] if self.tls else []),
            *(map(str, self.named) if self.named else [str(root)]),
        ]


class Starting(Protocol):
    """An engine being started: the keeper process this command spawned, or the engine that a
    keeper already running started for it."""

    returncode: int | None

    def poll(self) -> int | None: ...

    def terminate(self) -> None: ...


class _KeptEngine:
    """An engine that a running keeper started: not this process's child, so its end is seen,
    its exit code is not (the keeper's log says it)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.started = running.started_at(pid)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not running.alive(self.pid, self.started):
            self.returncode = -1
        return self.returncode

    def terminate(self) -> None:
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGTERM)


def start_background_engine(root: Path, arguments: EngineArguments = EngineArguments()) -> Starting | None:
    """Start `workbench up --headless` for `root` unless one runs; return once its control API
    answers. None when an engine was already running."""
    process = spawn_engine(root, arguments)
    if process is not None:
        wait_for_control_api(root, process)
    return process


def spawn_engine(root: Path, arguments: EngineArguments = EngineArguments()) -> Starting | None:
    """Start `workbench up --headless` for `root` under a keeper (engine/keeper.py: it holds the
    routers' ports and starts the engine again if it stops) unless one runs, and return at once
    (its control API opens a moment later: `wait_for_control_api`). None when one was running.
    A keeper that waits for the engine it stopped for a restart starts this one."""
    existing = running_engine(root)
    if existing is not None:
        existing.close()
        return None
    keeper = KeeperClient(socket_path(root))
    if keeper.answers():
        try:
            return _KeptEngine(keeper.start(arguments.command(root), dict(os.environ)))
        except OSError as exc:
            raise StartupError(f"the engine for {root} is starting already: {exc}") from exc
    log = engine_log(root)
    log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "workbench.engine.keeper", keeper.path, "--", *arguments.command(root)],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process


def wait_for_control_api(root: Path, process: Starting) -> None:
    """Until the engine `process` for `root` answers on its control API; a StartupError with
    the end of its log if it stops first."""
    log = engine_log(root)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:])
            code = f" (exit code {process.returncode})" if process.returncode != -1 else ""
            raise StartupError(f"the engine stopped at start-up{code}:\n{tail}")
        client = running_engine(root)
        if client is not None:
            client.close()
            return
        time.sleep(0.05)
    process.terminate()
    raise StartupError(f"the engine did not open its control API in {START_TIMEOUT_S:.0f} s; see {log}")


def wait_until_serving(client: EngineClient) -> Iterator[str]:
    """Lines to show while the endpoints come up; returns when no deployment is still starting."""
    deadline = time.monotonic() + SERVE_TIMEOUT_S
    busy = (ProvisioningState.CREATING, ProvisioningState.UPDATING)
    while time.monotonic() < deadline:
        endpoints = client.status()
        if endpoints and all(d.provisioning_state not in busy for e in endpoints for d in e.deployments):
            for endpoint in endpoints:
                for deployment in endpoint.deployments:
                    ready = sum(1 for i in deployment.instances if i.serves)
                    yield (
                        f"{endpoint.name}/{deployment.name}: {deployment.provisioning_state.value} "
                        f"({ready}/{deployment.instance_count} ready)"
                    )
                serving = any(
                    d.provisioning_state is ProvisioningState.SUCCEEDED for d in endpoint.deployments
                )
                yield (
                    f"endpoint {endpoint.name} ready at {endpoint.scoring_uri}"
                    if serving
                    else f"endpoint {endpoint.name} at {endpoint.scoring_uri}: no deployment serves"
                )
            return
        time.sleep(0.2)
    raise EngineError(f"endpoints still starting after {SERVE_TIMEOUT_S:.0f} s; `workbench status` shows why")
