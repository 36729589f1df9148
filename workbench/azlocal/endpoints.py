"""`azlocal ml online-endpoint ...`: create, update, show, list, delete, invoke, get-credentials,
regenerate-keys, as `az ml online-endpoint` does them, on the workspace's engine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from workbench.azlocal import shapes
from workbench.azlocal.context import Context, Missing
from workbench.cli.connect import read_request_file
from workbench.cli.endpoint_commands import check_deployment
from workbench.errors import WorkbenchError
from workbench.spec.endpoint import parse_shares
from workbench.spec.overrides import parse_overrides
from workbench.workspace.staging import ENDPOINT_SCHEMA, peek, stage

NO_LOCAL_DEPLOYMENT = (
    "This local endpoint does not have any deployments, so it cannot be invoked."
    "Please use 'az ml online-deployment create --local' before invoking."
)
"""Azure's words, its missing space included (azure-behaviour.md 3.1)."""


def create(ctx: Context) -> Any:
    args = ctx.args
    name = args.name or _name_in(args.file)
    if name is None:
        raise Missing("--name/-n (or name: in --file)")
    if ctx.workspace.exists and ctx.workspace.endpoint_file(name).is_file():
        raise WorkbenchError("Met error <class 'Exception'>:Endpoint already exists")
    fields: dict[str, object] = {"name": name}
    if args.file is None:
        fields = {"$schema": ENDPOINT_SCHEMA, "name": name, "auth_mode": args.auth_mode or "key"}
    elif args.auth_mode:
        fields["auth_mode"] = args.auth_mode
    staged = stage("endpoint", args.file, parse_overrides(args.set or []), fields=fields)
    with ctx.workspace.changing() as change:
        change.write(ctx.workspace.endpoint_file(name), staged, resource=f"onlineEndpoints/{name}")
        if args.local:
            change.info.setdefault("local_endpoints", []).append(name)
    ctx.applied(change, f"endpoint {name} created", warn=False)  # "no deployment yet" is what it is
    if args.no_wait:
        return None
    ctx.wait_for_endpoint(name)
    return show_one(ctx, name)


def update(ctx: Context) -> Any:
    args = ctx.args
    name = args.name or _name_in(args.file)
    if name is None:
        raise Missing("--name/-n")
    path = ctx.endpoint_file(name)
    data = ctx.workspace.read(path)
    fields: dict[str, object] = {"name": name}
    if args.traffic:
        fields["traffic"] = parse_shares(args.traffic)
    if args.mirror_traffic:
        mirror = {**(data.get("mirror_traffic") or {}), **parse_shares(args.mirror_traffic)}
        fields["mirror_traffic"] = {k: v for k, v in mirror.items() if v}
    origin = args.file if args.file is not None else path
    if args.file is not None:  # a file without traffic keeps the endpoint's, as Azure's update does
        given = peek(args.file)
        for key in ("traffic", "mirror_traffic"):
            if key not in fields and key not in given and key in data:
                fields[key] = data[key]
    staged = stage("endpoint", origin, parse_overrides(args.set or []), fields=fields)
    with ctx.workspace.changing() as change:
        change.write(path, staged, resource=f"onlineEndpoints/{name}")
    ctx.applied(change, f"endpoint {name} updated")
    if args.no_wait:
        return None
    ctx.wait_for_endpoint(name)
    return show_one(ctx, name)


def show(ctx: Context) -> Any:
    ctx.endpoint_file(ctx.args.name)
    return show_one(ctx, ctx.args.name)


def show_one(ctx: Context, name: str) -> dict[str, Any]:
    project = ctx.project()
    state = ctx.endpoint_state(name)
    data = ctx.workspace.read(ctx.workspace.endpoint_file(name))
    return shapes.endpoint(ctx.where(), data, project.endpoint(name), state)


def list_all(ctx: Context) -> Any:
    project = ctx.project()
    states = {e.name: e for e in ctx.engine().status()}
    where = ctx.where()
    return [
        shapes.endpoint(
            where, ctx.workspace.read(ctx.workspace.endpoint_file(n)), project.endpoint(n), states.get(n)
        )
        for n in ctx.workspace.endpoints()
    ]


def delete(ctx: Context) -> Any:
    args = ctx.args
    path = ctx.endpoint_file(args.name)
    confirm(args.yes)
    with ctx.workspace.changing() as change:
        change.remove(path, resource=f"onlineEndpoints/{args.name}")
        for deployment in ctx.workspace.deployments(args.name):
            resource = f"onlineEndpoints/{args.name}/deployments/{deployment}"
            change.remove(ctx.workspace.deployment_file(args.name, deployment), resource=resource)
    ctx.applied(change, f"endpoint {args.name} deleted")
    if not args.no_wait:
        ctx.wait_until_gone(args.name)
    return None


def invoke(ctx: Context) -> Any:
    args = ctx.args
    ctx.endpoint_file(args.name)
    if args.request_file is None:
        raise Missing("--request-file/-r")
    body = read_request_file(args.request_file)
    if args.name in ctx.workspace.info().get("local_endpoints", []) and not ctx.workspace.deployments(
        args.name
    ):
        raise WorkbenchError(NO_LOCAL_DEPLOYMENT)
    if args.deployment_name:
        check_deployment(ctx.engine(), args.name, args.deployment_name)
    answer = ctx.engine().invoke(args.name, body, args.deployment_name)
    if not answer.ok:
        raise WorkbenchError(f"({answer.status}) {answer.body}")
    return answer.body


def get_credentials(ctx: Context) -> Any:
    ctx.endpoint_file(ctx.args.name)
    return ctx.engine().credentials(ctx.args.name).to_json()


def regenerate_keys(ctx: Context) -> Any:
    args = ctx.args
    data = ctx.workspace.read(ctx.endpoint_file(args.name))
    if data.get("auth_mode", "key") != "key":
        raise WorkbenchError(f"Endpoint '{args.name}' does not use keys for authentication.")
    ctx.engine().regenerate_keys(args.name, args.key_type)
    return None


def confirm(yes: bool) -> None:
    """az's question before a delete; a script gives --yes."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise WorkbenchError("--yes is required when not asked at a terminal")
    answer = input("Are you sure you want to perform this operation? (y/n): ")
    if answer.strip().lower() not in ("y", "yes"):
        raise WorkbenchError("cancelled")


def _name_in(file: Path | None) -> str | None:
    name = peek(file).get("name") if file is not None else None
    return str(name) if name else None
