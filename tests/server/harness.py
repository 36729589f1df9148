"""Starting real inference servers for tests: the workbench server and Azure's azmlinfsrv.

azmlinfsrv is installed into a virtual environment of its own (never the workbench's), cached
per user by version, so only the first run downloads it. It is installed before any test runs
(`.ci/run` calls `python -m tests.server.harness`; a plain pytest run installs it once
collection is done), never inside a test's timeout.
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import REPO

AZMLINFSRV_VERSION = "1.5.1"
AZMLINFSRV_PACKAGES = [
    f"azureml-inference-server-http=={AZMLINFSRV_VERSION}",
    "numpy==2.4.6",
    "pandas",
    "scikit-learn==1.9.1",
    "joblib==1.6.0",
    "aiohttp",  # so the workbench server can also run here, with azmlinfsrv's own AMLResponse
]
FIXTURES = REPO / "fixtures" / "score"


def cache_dir() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "endpoint-workbench" / "tests"


def azmlinfsrv_venv() -> Path:
    """The cached venv with the real server, created on first use."""
    return cached_venv(f"azmlinfsrv-{AZMLINFSRV_VERSION}", AZMLINFSRV_PACKAGES)


def cached_venv(name: str, packages: list[str]) -> Path:
    """A venv with `packages` under the tests' cache, created on first use and kept. Two test
    runs at once take turns (a lock file): neither sees the other's half-built venv."""
    venv = cache_dir() / name
    done = venv / ".installed"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with (venv.parent / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.is_file() and done.read_text() == "\n".join(packages):
            return venv
        print(f"tests: installing {', '.join(packages)} into {venv} (once per machine)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", *packages],
            check=True,
            timeout=1800,
        )
        done.write_text("\n".join(packages))
        return venv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    kind: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def command(kind: str, script: Path, port: int, extra: list[str]) -> list[str]:
    if kind == "workbench":
        return [
            sys.executable,
            "-m",
            "workbench.server",
            "--entry_script",
            script.name,
            "--port",
            str(port),
            *extra,
        ]
    venv = azmlinfsrv_venv()
    return [str(venv / "bin" / "azmlinfsrv"), "--entry_script", script.name, "--port", str(port), *extra]


@contextmanager
def running(
    kind: str,
    script: Path,
    *,
    env: Mapping[str, str] | None = None,
    extra: list[str] | None = None,
    log_dir: Path,
    ready_timeout: float = 60,
) -> Iterator[Server]:
    """A server for `script`, ready to serve (GET / is 200); stopped on exit."""
    port = free_port()
    log = log_dir / f"{kind}-{script.stem}-{port}.log"
    environment = {**os.environ, "AML_APP_ROOT": str(script.parent), "PYTHONPATH": str(REPO), **(env or {})}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command(kind, script, port, extra or []),
            cwd=script.parent,
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server(kind, f"http://127.0.0.1:{port}", process, log)
    try:
        wait_ready(server, ready_timeout)
        yield server
    finally:
        stop(process)


def wait_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.kind} exited with {server.process.returncode}:\n{server.output()}")
        try:
            if httpx.get(server.url + "/", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{server.kind} not ready after {timeout} s:\n{server.output()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_to_exit(kind: str, script: Path, *, log_dir: Path, timeout: float = 60) -> tuple[int, str]:
    """Start a server that is expected to fail start-up; its exit code and output."""
    port = free_port()
    environment = {**os.environ, "AML_APP_ROOT": str(script.parent), "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        command(kind, script, port, []),
        cwd=script.parent,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


if __name__ == "__main__":
    print(f"azmlinfsrv {AZMLINFSRV_VERSION} for the parity tests: {azmlinfsrv_venv()}")
