"""`azlocal ml model create|show|list|archive` and `azlocal ml environment create|show|list`:
registered assets of the workspace, by name and version (workspace/assets.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from workbench.azlocal import shapes
from workbench.azlocal.context import Context, Missing
from workbench.errors import WorkbenchError
from workbench.spec.overrides import parse_overrides
from workbench.workspace import assets
from workbench.workspace.staging import stage

SCHEMAS = {
    "model": "https://azuremlschemas.azureedge.net/latest/model.schema.json",
    "environment": "https://azuremlschemas.azureedge.net/latest/environment.schema.json",
}


def create(ctx: Context) -> Any:
    args, kind = ctx.args, ctx.args.kind
    fields = _fields(args, kind)
    if args.file is None and "name" not in fields:
        raise Missing("--name/-n (or --file/-f)")
    if args.file is None:
        fields = {"$schema": SCHEMAS[kind], **fields}
    overrides = parse_overrides(args.set or [])
    staged = stage(kind, args.file, overrides, fields=fields)
    name, version = assets.staged_name_and_version(yaml.safe_load(staged.text) or {}, kind)
    if version is None:
        version = assets.next_version(ctx.workspace, kind, name)
        staged = stage(kind, args.file, overrides, fields={**fields, "version": version})
    path = ctx.workspace.asset_file(kind, name, version)
    if path.is_file():
        raise WorkbenchError(
            f"{kind} {name}:{version} already exists; a registered version never changes "
            "(give another --version)"
        )
    with ctx.workspace.changing() as change:
        change.write(path, staged, resource=f"{kind}s/{name}/versions/{version}")
    return _shape(ctx, assets.find(ctx.workspace, kind, name, version))


def show(ctx: Context) -> Any:
    args = ctx.args
    if args.version is None and args.label not in (None, "latest"):
        raise WorkbenchError(f"--label {args.label}: the one label is latest")
    return _shape(ctx, assets.find(ctx.workspace, args.kind, args.name, args.version))


def list_all(ctx: Context) -> Any:
    args = ctx.args
    found = assets.assets(ctx.workspace, args.kind, archived=getattr(args, "include_archived", False))
    if args.name:
        return [_shape(ctx, a) for a in reversed(found) if a.name == args.name]
    latest = {a.name: a for a in found}  # versions come in order: the last of a name is its latest
    return [_shape(ctx, a) for a in latest.values()]


def archive(ctx: Context) -> Any:
    args = ctx.args
    versions = (
        [args.version]
        if args.version
        else [a.version for a in assets.assets(ctx.workspace, args.kind) if a.name == args.name]
    )
    if not versions:
        assets.find(ctx.workspace, args.kind, args.name, None)  # says it is not found
    with ctx.workspace.changing() as change:
        for version in versions:
            assets.archive(change, assets.find(ctx.workspace, args.kind, args.name, version))
    return None


def _shape(ctx: Context, found: assets.Asset) -> dict[str, Any]:
    return shapes.asset(ctx.where(), ctx.workspace.read(found.file), found)


def _fields(args: Any, kind: str) -> dict[str, object]:
    """What the command line gives, paths made absolute as Azure uploads them from here."""
    fields: dict[str, object] = {}
    for key in ("name", "version", "description", "type", "image"):
        value = getattr(args, key, None)
        if value:
            fields[key] = value
    for key in ("path", "conda_file"):
        value = getattr(args, key, None)
        if value:
            fields[key] = os.path.normpath(Path(value).absolute())
    if getattr(args, "build", None):
        fields["build"] = {"path": os.path.normpath(Path(args.build).absolute())}
    if getattr(args, "tags", None):
        fields["tags"] = dict(tag.partition("=")[::2] for tag in args.tags)
    return fields
