"""`workbench serve`: one inference server, no router; the local-debugging role of azmlinfsrv.

Takes azmlinfsrv's flags and environment variables (a flag that is not given leaves the variable
to decide: `SERVER_PORT`, `WORKER_COUNT`, ...), plus `--reload` (watch the code folder and reload
in place) and `--debug-port`. `--python` runs the server with another interpreter (the scoring
script's own environment; the server needs only aiohttp there), and `--deployment
ENDPOINT/DEPLOYMENT` runs a project's deployment in the environment the engine builds for it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import workbench
from workbench.cli.interrupt import STEP_S
from workbench.errors import StartupError, WorkbenchError

STARTUP_FAILED = 3
"""The server's exit code when the scoring script cannot start (azmlinfsrv's)."""
FORWARDED = (
    ("model_dir", "--model_dir"),
    ("port", "--port"),
    ("host", "--host"),
    ("worker_count", "--worker_count"),
    ("cors_origins", "--access_control_allow_origins"),
    ("appinsights_instrumentation_key", "--appinsights_instrumentation_key"),
    ("config_file", "--config_file"),
    ("health_port", "--health_port"),
    ("debug_port", "--debug-port"),
)
"""The server's flags, passed on only when given, so that its environment variables decide otherwise."""


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="run one inference server for a scoring script (like azmlinfsrv)",
        description="Run one azmlinfsrv-compatible inference server for a scoring script, or for a "
        "project's deployment in its own environment (--deployment).",
    )
    parser.add_argument("--entry_script", "--entry-script", dest="entry_script", type=Path)
    parser.add_argument("--model_dir", "--model-dir", dest="model_dir")
    parser.add_argument("--port", type=int, help="default $SERVER_PORT, else 5001")
    parser.add_argument("--host", help="default 127.0.0.1")
    parser.add_argument(
        "--worker_count",
        "--worker-count",
        dest="worker_count",
        type=int,
        help="default $WORKER_COUNT, else 1",
    )
    parser.add_argument("--access_control_allow_origins", dest="cors_origins", metavar="ORIGINS")
    parser.add_argument("--appinsights_instrumentation_key", help="accepted; not implemented (a warning)")
    parser.add_argument("--config_file", help="accepted; not implemented (a warning)")
    parser.add_argument("--health_port", type=int, help="accepted; not implemented (a warning)")
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
    parser.add_argument("--python", help="interpreter of the scoring environment (default: this one)")
    parser.add_argument(
        "--deployment",
        metavar="ENDPOINT/DEPLOYMENT",
        help="a deployment of the project (--project): its script, model, variables and built environment",
    )
    parser.add_argument("--project", type=Path, default=Path("."), help="with --deployment (default: .)")
    parser.set_defaults(run=run)


@dataclass
class Target:
    script: Path
    python: str
    model_dir: str | None = None
    variables: dict[str, str] = field(default_factory=dict)


def run(args: argparse.Namespace) -> int:
    if args.deployment is not None:
        target = _deployment(args)
    elif args.entry_script is None:
        raise WorkbenchError("give --entry_script SCRIPT, or --deployment ENDPOINT/DEPLOYMENT of a project")
    else:
        target = Target(args.entry_script.resolve(), args.python or sys.executable)
    if not target.script.is_file():
        raise StartupError(f"entry script {target.script} does not exist")
    command = [target.python, "-m", "workbench.server", "--entry_script", target.script.name]
    if args.model_dir is None and target.model_dir is not None:
        args.model_dir = target.model_dir
    elif args.model_dir is not None:
        args.model_dir = str(Path(args.model_dir).resolve())
    for name, flag in FORWARDED:
        value = getattr(args, name)
        if value is not None:
            command += [flag, str(value)]
    if args.debug_wait:
        command.append("--debug-wait")
    package_root = str(Path(workbench.__file__).resolve().parent.parent)
    env = {
        **target.variables,
        **os.environ,
        "AML_APP_ROOT": str(target.script.parent),
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
    }
    server = subprocess.Popen(command, cwd=target.script.parent, env=env)
    signal.signal(signal.SIGTERM, lambda *_: server.send_signal(signal.SIGTERM))
    watcher = _watch(target.script.parent, server) if args.reload else None
    try:
        code = _wait(server)
    finally:
        if watcher is not None:
            watcher.stop()
    if code == STARTUP_FAILED and args.python is None and args.deployment is None:
        print(
            "workbench serve: the script ran in the workbench's own Python "
            f"({sys.executable}); a project's deployment runs in its built environment with "
            "`--deployment ENDPOINT/DEPLOYMENT`, any other environment with `--python PATH`",
            file=sys.stderr,
        )
    return code


def _deployment(args: argparse.Namespace) -> Target:
    """The deployment's script, model folder and variables, and its environment built as the
    engine builds it (cached per user, shared with `workbench up`)."""
    from workbench.engine.environments import EnvironmentBuilder, requirements
    from workbench.layout import ProjectFiles
    from workbench.spec import load_project

    endpoint_name, _, name = str(args.deployment).partition("/")
    project = load_project([args.project]).raise_for_errors()
    endpoint = project.endpoint(endpoint_name)
    deployment = next((d for d in endpoint.deployments if d.name == name), None) if endpoint else None
    if deployment is None:
        known = ", ".join(f"{e.name}/{d.name}" for e in project.endpoints for d in e.deployments) or "none"
        raise WorkbenchError(f"no deployment {args.deployment} in {project.root} (deployments: {known})")
    code = deployment.code_configuration
    if code is None:
        raise WorkbenchError(
            f"{args.deployment} has no code_configuration (a no-code deployment): use workbench up"
        )
    python = args.python
    if python is None:

        def progress(line: str) -> None:
            print(f"workbench serve: {line}", file=sys.stderr, flush=True)

        log = ProjectFiles(project.root).build_log(endpoint_name, name)
        log.parent.mkdir(parents=True, exist_ok=True)
        wanted = requirements(deployment.environment)
        python = str(asyncio.run(EnvironmentBuilder().ensure(wanted, log, progress)))
        print(f"workbench serve: {args.deployment} runs in {python}", file=sys.stderr, flush=True)
    secrets = set(deployment.secret_references())
    variables = {k: v for k, v in deployment.environment_variables.items() if k not in secrets}
    model_dir = str(deployment.model.path.resolve().parent) if deployment.model is not None else None
    return Target((code.code / code.scoring_script).resolve(), python, model_dir, variables)


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
