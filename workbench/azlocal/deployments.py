"""`azlocal ml online-deployment ...`: create, update, show, list, delete, get-logs, as `az ml
online-deployment` does them, on the workspace's engine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from workbench.azlocal import shapes
from workbench.azlocal.context import Context, Missing, not_found
from workbench.azlocal.endpoints import confirm
from workbench.errors import WorkbenchError
from workbench.spec.overrides import parse_overrides
from workbench.workspace.staging import peek, stage


def create(ctx: Context) -> Any:
    args = ctx.args
    if args.file is None:
        raise Missing("--file/-f")
    given = peek(args.file)
    name = args.name or given.get("name")
    endpoint = args.endpoint_name or given.get("endpoint_name")
    if not name or not endpoint:
        raise Missing("--name/-n and --endpoint-name/-e (or both in --file)")
    name, endpoint = str(name), str(endpoint)
    endpoint_file = ctx.endpoint_file(endpoint, "--endpoint-name/-e")
    path = ctx.workspace.deployment_file(endpoint, name)
    if path.is_file():
        raise WorkbenchError("Met error <class 'Exception'>:Deployment already exists")
    staged = stage(
        "deployment",
        args.file,
        parse_overrides(args.set or []),
        fields={"name": name, "endpoint_name": endpoint},
    )
    local = endpoint in ctx.workspace.info().get("local_endpoints", [])
    with ctx.workspace.changing() as change:
        if local:  # Azure's local mode: one deployment per endpoint, the new one replaces the others
            for other in ctx.workspace.deployments(endpoint):
                change.remove(
                    ctx.workspace.deployment_file(endpoint, other), resource=_resource(endpoint, other)
                )
            change.write(endpoint_file, _with_traffic(ctx, endpoint_file, {name: 100}))
        change.write(path, staged, resource=_resource(endpoint, name))
    ctx.applied(change, f"deployment {name} of {endpoint} created")
    if args.no_wait:
        return None
    ctx.wait_for_deployment(endpoint, name)
    if args.all_traffic and not local:
        with ctx.workspace.changing() as change:
            change.write(
                endpoint_file,
                _with_traffic(ctx, endpoint_file, {name: 100}),
                resource=f"onlineEndpoints/{endpoint}",
            )
        ctx.applied(change, f"all traffic of {endpoint} to {name}")
        ctx.wait_for_endpoint(endpoint)
    return show_one(ctx, endpoint, name)


def update(ctx: Context) -> Any:
    args = ctx.args
    given = peek(args.file) if args.file is not None else {}
    name = args.name or given.get("name")
    endpoint = args.endpoint_name or given.get("endpoint_name")
    if not name or not endpoint:
        raise Missing("--name/-n and --endpoint-name/-e")
    path = _existing(ctx, str(endpoint), str(name))
    origin = args.file if args.file is not None else path
    before = path.read_text()
    staged = stage(
        "deployment",
        origin,
        parse_overrides(args.set or []),
        fields={"name": name, "endpoint_name": endpoint},
    )
    with ctx.workspace.changing() as change:
        change.write(path, staged, resource=_resource(str(endpoint), str(name)))
    ctx.applied(change, f"deployment {name} of {endpoint} updated")
    endpoint, name = str(endpoint), str(name)
    unchanged = path.read_text() == before  # deployed again all the same, as Azure does
    if args.no_wait:
        if unchanged:
            ctx.engine().reload(endpoint, name)
        return None
    if unchanged:
        ctx.redeploy(endpoint, name)
    else:
        ctx.wait_for_deployment(endpoint, name)
    return show_one(ctx, endpoint, name)


def show(ctx: Context) -> Any:
    _existing(ctx, ctx.args.endpoint_name, ctx.args.name)
    return show_one(ctx, ctx.args.endpoint_name, ctx.args.name)


def show_one(ctx: Context, endpoint: str, name: str) -> dict[str, Any]:
    spec = ctx.project().endpoint(endpoint)
    data = ctx.workspace.read(ctx.workspace.deployment_file(endpoint, name))
    return shapes.deployment(
        ctx.where(), data, spec.deployment(name) if spec else None, ctx.deployment_state(endpoint, name)
    )


def list_all(ctx: Context) -> Any:
    endpoint = ctx.args.endpoint_name
    ctx.endpoint_file(endpoint, "--endpoint-name/-e")
    spec = ctx.project().endpoint(endpoint)
    state = ctx.endpoint_state(endpoint)
    where = ctx.where()
    return [
        shapes.deployment(
            where,
            ctx.workspace.read(ctx.workspace.deployment_file(endpoint, name)),
            spec.deployment(name) if spec else None,
            state.deployment(name) if state else None,
        )
        for name in ctx.workspace.deployments(endpoint)
    ]


def delete(ctx: Context) -> Any:
    args = ctx.args
    endpoint, name = args.endpoint_name, args.name
    path = _existing(ctx, endpoint, name)
    endpoint_file = ctx.workspace.endpoint_file(endpoint)
    data = ctx.workspace.read(endpoint_file)
    share = (data.get("traffic") or {}).get(name, 0)
    if share:
        raise WorkbenchError(
            f"deployment {name} has {share}% of endpoint {endpoint}'s live traffic: a deployment with "
            "traffic cannot be deleted; set it to 0 first "
            f"(azlocal ml online-endpoint update -n {endpoint} --traffic ...)"
        )
    confirm(args.yes)
    traffic = {k: v for k, v in (data.get("traffic") or {}).items() if k != name}
    mirror = {k: v for k, v in (data.get("mirror_traffic") or {}).items() if k != name}
    with ctx.workspace.changing() as change:
        if traffic != (data.get("traffic") or {}) or mirror != (data.get("mirror_traffic") or {}):
            fields: dict[str, object] = {"traffic": traffic, "mirror_traffic": mirror}
            change.write(endpoint_file, stage("endpoint", endpoint_file, fields=fields))
        change.remove(path, resource=_resource(endpoint, name))
    ctx.applied(change, f"deployment {name} of {endpoint} deleted")
    if not args.no_wait:
        ctx.wait_until_gone(endpoint, name)
    return None


def get_logs(ctx: Context) -> Any:
    args = ctx.args
    _existing(ctx, args.endpoint_name, args.name)
    container = args.container or "inference-server"
    lines = ctx.engine().logs(args.endpoint_name, args.name, container=container, lines=args.lines or 5000)
    for line in lines:
        sys.stdout.write(line if line.endswith("\n") else line + "\n")
    return None


def _with_traffic(ctx: Context, endpoint_file: Path, traffic: dict[str, int]) -> Any:
    return stage("endpoint", endpoint_file, fields={"traffic": traffic})


def _resource(endpoint: str, name: str) -> str:
    return f"onlineEndpoints/{endpoint}/deployments/{name}"


def _existing(ctx: Context, endpoint: str | None, name: str | None) -> Path:
    ctx.endpoint_file(endpoint, "--endpoint-name/-e")
    if not name:
        raise Missing("--name/-n")
    assert endpoint is not None
    path = ctx.workspace.deployment_file(endpoint, name)
    if not path.is_file():
        raise not_found("Online deployment", f"{name} of endpoint {endpoint}", ctx.workspace.name)
    return path
