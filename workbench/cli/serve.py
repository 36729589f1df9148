"""`workbench serve`: one inference server, no router; the local-debugging role of azmlinfsrv.

Takes azmlinfsrv's flags, plus `--reload` (watch the code folder and reload in place) and
`--debug-port`. `--python` runs the server with another interpreter (the scoring script's own
environment); the server needs only aiohttp there.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import workbench
from workbench.cli.interrupt import STEP_S
from workbench.errors import StartupError


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="run one inference server for a scoring script (like azmlinfsrv)",
        description="Run one azmlinfsrv-compatible inference server for a scoring script.",
    )
    parser.add_argument("--entry_script", "--entry-script", dest="entry_script", required=True, type=Path)
    parser.add_argument("--model_dir", "--model-dir", dest="model_dir")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--worker_count", "--worker-count", dest="worker_count", type=int, default=1)
    parser.add_argument("--reload", action="store_true", help="reload in place when the code folder changes")
    parser.add_argument(
        "--debug-port", dest="debug_port", type=int, help="listen for debugpy on 127.0.0.1:PORT"
    )
    parser.add_argument(
        "--debug-wait",
        dest="debug_wait",
        action="store_true",
        help="with --debug-port: wait for the debugger before init()",
    )
    parser.add_argument("--python", default=sys.executable, help="interpreter of the scoring environment")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    script = args.entry_script.resolve()
    if not script.is_file():
        raise StartupError(f"entry script {args.entry_script} does not exist")
    command = [
        args.python,
        "-m",
        "workbench.server",
        "--entry_script",
        script.name,
        "--port",
        str(args.port),
        "--host",
        args.host,
        "--worker_count",
        str(args.worker_count),
    ]
    if args.model_dir is not None:
        command += ["--model_dir", str(Path(args.model_dir).resolve())]
    if args.debug_port is not None:
        command += ["--debug-port", str(args.debug_port)] + (["--debug-wait"] if args.debug_wait else [])
    package_root = str(Path(workbench.__file__).resolve().parent.parent)
    env = {
        **os.environ,
        "AML_APP_ROOT": str(script.parent),
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
    }
    server = subprocess.Popen(command, cwd=script.parent, env=env)
    signal.signal(signal.SIGTERM, lambda *_: server.send_signal(signal.SIGTERM))
    watcher = _watch(script.parent, server) if args.reload else None
    try:
        return _wait(server)
    finally:
        if watcher is not None:
            watcher.stop()


def _watch(folder: Path, server: subprocess.Popen[bytes]) -> Any:
    from workbench.dev.watch import Watcher

    def reload(changed: set[Path]) -> None:
        names = ", ".join(sorted(_relative(p, folder) for p in changed))
        print(f"workbench serve: reloading, {names} changed", file=sys.stderr, flush=True)
        if server.poll() is None:
            server.send_signal(signal.SIGHUP)

    return Watcher([folder], reload).start()


def _wait(server: subprocess.Popen[bytes]) -> int:
    try:
        while True:  # in short waits: a blocking one misses a Ctrl-C that the watcher's thread took
            with contextlib.suppress(subprocess.TimeoutExpired):
                return server.wait(timeout=STEP_S)
    except KeyboardInterrupt:
        server.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if server.poll() is None:
            server.kill()
        return 130


def _relative(path: Path, folder: Path) -> str:
    try:
        return str(path.relative_to(folder))
    except ValueError:
        return str(path)
