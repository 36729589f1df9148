"""`azlocal ml workspace show`, `azlocal account show`, `azlocal configure --defaults|-l` and
`azlocal config get`: answered for the local workspace, and marked as local."""

from __future__ import annotations

from typing import Any

from workbench.azlocal import defaults, shapes
from workbench.azlocal.context import Context


def workspace_show(ctx: Context) -> Any:
    return shapes.workspace(ctx.where(), str(ctx.workspace.root))


def account_show(ctx: Context) -> Any:
    return shapes.account()


def configure(ctx: Context) -> Any:
    if ctx.args.defaults:
        defaults.update(ctx.args.defaults)
    if ctx.args.list_defaults:
        return defaults.listed()
    return None


def config_get(ctx: Context) -> Any:
    """As `az config get [defaults.KEY]` prints: sections of {name, source, value}."""
    listed = defaults.listed()
    key = ctx.args.key
    if key is None:
        return {"defaults": listed}
    section, _, name = key.partition(".")
    if section != "defaults":
        return {} if not name else None
    if not name:
        return listed
    return next((entry for entry in listed if entry["name"] == name), None)
