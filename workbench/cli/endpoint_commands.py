"""`workbench credentials | regenerate-keys | traffic | invoke`: an endpoint's front door,
shaped after `az ml online-endpoint get-credentials / regenerate-keys / update --traffic / invoke`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.cli.connect import add_target_arguments, engine_client, read_request_file
from workbench.errors import EngineError, WorkbenchError
from workbench.spec.endpoint import parse_shares

if TYPE_CHECKING:
    from workbench.client import EngineClient

BAR_WIDTH = 40


def add_parser(commands: Any) -> None:
    credentials = commands.add_parser("credentials", help="keys or a fresh token for an endpoint")
    credentials.add_argument("endpoint")
    credentials.add_argument("--json", action="store_true")
    add_target_arguments(credentials)
    credentials.set_defaults(run=run_credentials)

    regenerate = commands.add_parser("regenerate-keys", help="replace one of an endpoint's keys")
    regenerate.add_argument("endpoint")
    regenerate.add_argument("--key-type", required=True, choices=["primary", "secondary"])
    add_target_arguments(regenerate)
    regenerate.set_defaults(run=run_regenerate)

    traffic = commands.add_parser("traffic", help="show or change an endpoint's traffic split and mirror")
    traffic.add_argument("endpoint")
    traffic.add_argument("shares", nargs="*", metavar="DEPLOYMENT=PERCENT")
    traffic.add_argument("--mirror", metavar="DEPLOYMENT=PERCENT", help="mirror share (name=0 turns it off)")
    add_target_arguments(traffic)
    traffic.set_defaults(run=run_traffic)

    invoke = commands.add_parser("invoke", help="send a request file to an endpoint with its credentials")
    invoke.add_argument("endpoint")
    invoke.add_argument("--request-file", required=True, type=Path)
    invoke.add_argument("--deployment", help="route to this deployment (azureml-model-deployment header)")
    add_target_arguments(invoke)
    invoke.set_defaults(run=run_invoke)


def run_credentials(args: argparse.Namespace) -> int:
    with engine_client(args) as client:
        credentials = client.credentials(args.endpoint).to_json()
    if args.json:
        print(json.dumps(credentials, indent=2))
    else:
        for key, value in credentials.items():
            print(f"{key}: {value}")
    return 0


def run_regenerate(args: argparse.Namespace) -> int:
    with engine_client(args) as client:
        client.regenerate_keys(args.endpoint, args.key_type)
    print(f"{args.key_type} key of {args.endpoint} regenerated", file=sys.stderr)
    return 0


def run_traffic(args: argparse.Namespace) -> int:
    with engine_client(args) as client:
        if args.shares or args.mirror:
            traffic = parse_shares(args.shares) if args.shares else _current(client, args.endpoint)[0]
            mirror = parse_shares([args.mirror]) if args.mirror else None
            client.set_traffic(args.endpoint, traffic, mirror)
        traffic, mirror = _current(client, args.endpoint)
    for name, share in traffic.items():
        print(f"{name:20} {share:3d}%  {'#' * (share * BAR_WIDTH // 100)}")
    for name, share in mirror.items():
        print(f"{name:20} {share:3d}%  {'~' * (share * BAR_WIDTH // 100)}  (mirror)")
    return 0


def run_invoke(args: argparse.Namespace) -> int:
    body = read_request_file(args.request_file)
    with engine_client(args) as client:
        if args.deployment:
            check_deployment(client, args.endpoint, args.deployment)
        answer = client.invoke(args.endpoint, body, args.deployment)
    sys.stdout.write(answer.body + ("\n" if not answer.body.endswith("\n") else ""))
    if not answer.ok:
        print(f"invoke failed: HTTP {answer.status} (deployment {answer.served_by or '-'})", file=sys.stderr)
        return 1
    return 0


def check_deployment(client: EngineClient, endpoint: str, deployment: str) -> None:
    """As Azure's client does before it sends anything (azlocal's invoke too)."""
    for state in client.status():
        if state.name == endpoint:
            if not state.deployments:
                raise WorkbenchError("No deployment exists for this endpoint")
            if state.deployment(deployment) is None:
                raise WorkbenchError(f"Deployment name {deployment} not found for this endpoint")
            return
    raise EngineError(f"Local endpoint ({endpoint}) does not exist.")


def _current(client: EngineClient, endpoint: str) -> tuple[dict[str, int], dict[str, int]]:
    for state in client.status():
        if state.name == endpoint:
            return state.traffic, state.mirror_traffic
    raise EngineError(f"Local endpoint ({endpoint}) does not exist.")
