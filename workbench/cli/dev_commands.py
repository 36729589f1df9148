"""`workbench debug` (one instance under debugpy, and VS Code's attach configuration),
`workbench shell` (a shell inside an instance) and `workbench devcontainer` (a deployment's code
opened inside its own image)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.cli.connect import add_target_arguments, engine_client, project_folder
from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.contract import DebugSession
    from workbench.promote.remote import RemoteEngineClient


def add_parser(commands: Any) -> None:
    debug = commands.add_parser(
        "debug",
        help="restart an instance under the debugger and write VS Code's attach configuration",
        description="Restart one instance with debugpy listening on 127.0.0.1, its probes and the "
        "router's request timeout off, and add an attach configuration to .vscode/launch.json.",
    )
    debug.add_argument("endpoint")
    debug.add_argument("deployment")
    debug.add_argument("--instance", default="0", help="instance index or id (default: 0)")
    debug.add_argument("--wait", action="store_true", help="hold init() until a debugger attaches")
    debug.add_argument("--stop", action="store_true", help="restart the instance without the debugger")
    debug.add_argument("--json", action="store_true")
    add_target_arguments(debug)
    debug.set_defaults(run=run_debug)

    shell = commands.add_parser(
        "shell",
        help="a shell inside an instance: its environment and its folder",
        description="Open a shell inside a running instance, as `kubectl exec` or k9s' s would: for a "
        "process, the user's shell in the instance's folder with its variables (its environment's "
        "interpreter first on PATH); for a container, `docker exec` into it. Leave it with exit.",
    )
    shell.add_argument("endpoint")
    shell.add_argument("deployment")
    shell.add_argument("--instance", default="0", help="instance index or id (default: 0)")
    add_target_arguments(shell)
    shell.set_defaults(run=run_shell)

    devcontainer = commands.add_parser(
        "devcontainer",
        help="write .devcontainer/devcontainer.json that opens a deployment's code in its own image",
        description="Build the deployment's image if needed (Docker runtime) and write "
        ".devcontainer/devcontainer.json: code and model mounted where Azure puts them, Azure's "
        "environment variables, port 5001 forwarded, the inference server started with --reload.",
    )
    devcontainer.add_argument("endpoint")
    devcontainer.add_argument("deployment")
    devcontainer.add_argument("--project", type=Path, default=Path("."))
    devcontainer.set_defaults(run=run_devcontainer)


def run_shell(args: argparse.Namespace) -> int:
    from workbench.cli.engine_commands import instance_id
    from workbench.instance_shell import command_line, open_shell
    from workbench.promote.remote import chosen_remote

    if chosen_remote(args.remote) is not None:
        raise WorkbenchError(
            "workbench shell opens a shell on this machine; on a remote host, `ssh` there and run "
            "`docker exec -it CONTAINER sh` (`docker ps` names them workbench-...)"
        )
    with engine_client(args) as client:
        instance = instance_id(client, args.endpoint, args.deployment, args.instance)
        shell = client.shell(args.endpoint, args.deployment, instance)
    print(f"{args.endpoint}/{instance}: {command_line(shell)} (exit leaves it)", file=sys.stderr, flush=True)
    return open_shell(shell)


def run_debug(args: argparse.Namespace) -> int:
    from workbench.cli.engine_commands import instance_id
    from workbench.promote.remote import RemoteEngineClient

    with engine_client(args) as client:
        instance = instance_id(client, args.endpoint, args.deployment, args.instance)
        if args.stop:
            client.stop_debugging(args.endpoint, args.deployment, instance)
            print(f"{args.endpoint}/{instance} restarted without the debugger", file=sys.stderr)
            return 0
        session = client.debug(args.endpoint, args.deployment, instance, wait=args.wait)
        if isinstance(client, RemoteEngineClient):
            return _debug_through_tunnel(client, session, args)
    return _tell_debug_session(session, args)


def _debug_through_tunnel(client: RemoteEngineClient, session: DebugSession, args: argparse.Namespace) -> int:
    """The remote instance's debugpy through the SSH forward, kept open until Ctrl-C; launch.json
    written here, with the remote's code folder mapped to this project's."""
    import contextlib

    from workbench.cli.interrupt import until_interrupted
    from workbench.dev.vscode import write_attach_configuration

    local = project_folder(args).resolve()
    port = client.ssh.forward(session.port)
    configuration = dict(session.configuration)
    configuration["connect"] = {"host": "127.0.0.1", "port": port}
    configuration["pathMappings"] = [
        {**m, "localRoot": m["localRoot"].replace(client.remote_project, str(local), 1)}
        for m in configuration.get("pathMappings", [])
    ]
    written = write_attach_configuration(local, configuration)
    tunnelled = dataclasses.replace(
        session,
        host="127.0.0.1",
        port=port,
        remote_port=session.port,
        configuration=configuration,
        launch_json=str(written) if written else None,
    )
    _tell_debug_session(tunnelled, args)
    print("the SSH tunnel stays open until Ctrl-C", file=sys.stderr, flush=True)

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C, or a kill (workbench/cli/__init__.py)
        until_interrupted()
    return 0


def _tell_debug_session(session: DebugSession, args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(session.to_json(), indent=2), flush=True)
        return 0
    print(f"debugpy listening on {session.host}:{session.port} for {args.endpoint}/{args.deployment}")
    if session.launch_json:
        print(f"VS Code: Run and Debug -> '{session.name}' (written to {session.launch_json})")
    else:
        print("VS Code: .vscode/launch.json is not plain JSON, so it was left alone; add this configuration:")
        print(json.dumps(session.configuration, indent=2))
    if args.wait:
        print("init() waits until a debugger attaches")
    return 0


def run_devcontainer(args: argparse.Namespace) -> int:
    import asyncio

    from workbench.dev.devcontainer import render, write
    from workbench.engine.environments import requirements
    from workbench.engine.servercode import copy_server_code
    from workbench.layout import ProjectFiles
    from workbench.runtimes import docker_runtime
    from workbench.spec import load_project

    project = load_project(args.project).raise_for_errors()
    endpoint = project.endpoint(args.endpoint)
    deployment = (
        next((d for d in endpoint.deployments if d.name == args.deployment), None) if endpoint else None
    )
    if deployment is None:
        raise WorkbenchError(f"no deployment {args.endpoint}/{args.deployment} in {project.root}")
    runtime = docker_runtime(project.root)  # a MissingExtra first, where docker is not installed
    from workbench.engine.images import DockerImages

    images = DockerImages(runtime, project.settings.base_image, project.settings.build)
    log = ProjectFiles(project.root).build_log(args.endpoint, args.deployment)
    wanted = requirements(deployment.environment)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    async def build() -> str:
        environment = deployment.environment
        base = await images.base_for(environment, progress)
        return await images.ensure(wanted, base, log, progress)

    image = asyncio.run(build())
    copy_server_code(project.root / ".devcontainer" / "workbench-server")
    path = write(project.root, render(project.root, args.endpoint, deployment, image))
    print(f"wrote {path} (image {image})")
    print("VS Code: 'Dev Containers: Reopen in Container'; the server answers on port 5001 (POST /score)")
    return 0
