"""`workbench debug`: run one instance under debugpy and tell VS Code how to attach."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


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
    debug.add_argument("--project", type=Path, default=Path("."))
    debug.set_defaults(run=run_debug)


def run_debug(args: argparse.Namespace) -> int:
    from workbench.client import EngineClient

    with EngineClient.for_folder(args.project) as client:
        instance = _instance_id(client, args.endpoint, args.deployment, args.instance)
        if args.stop:
            client.stop_debugging(args.endpoint, args.deployment, instance)
            print(f"{args.endpoint}/{instance} restarted without the debugger", file=sys.stderr)
            return 0
        session = client.debug(args.endpoint, args.deployment, instance, wait=args.wait)
    if args.json:
        print(json.dumps(session, indent=2))
        return 0
    print(f"debugpy listening on {session['host']}:{session['port']} for {args.endpoint}/{instance}")
    name = session["configuration"]["name"]
    if session["launch_json"]:
        print(f"VS Code: Run and Debug -> '{name}' (written to {session['launch_json']})")
    else:
        print("VS Code: .vscode/launch.json is not plain JSON, so it was left alone; add this configuration:")
        print(json.dumps(session["configuration"], indent=2))
    if args.wait:
        print("init() waits until a debugger attaches")
    return 0


def _instance_id(client: Any, endpoint: str, deployment: str, instance: str) -> str:
    """An index (0, 1, ...) or an id (blue-0) to the instance's id."""
    if not instance.isdigit():
        return instance
    for state in client.status():
        if state.name == endpoint:
            found = state.deployment(deployment)
            if found is not None and int(instance) < len(found.instances):
                return str(found.instances[int(instance)].id)
    return f"{deployment}-{instance}"
