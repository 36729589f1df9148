"""`azlocal monitor autoscale create|update|show|delete`, `... rule create` and `... profile
create`: Azure Monitor's autoscale settings for a deployment's resource id, kept in the
workspace and applied by the engine's autoscaler (workspace/autoscale.py)."""

from __future__ import annotations

from typing import Any

from workbench.azlocal.context import Context, Missing
from workbench.errors import NotFound, WorkbenchError
from workbench.workspace import autoscale


def create(ctx: Context) -> Any:
    args = ctx.args
    if not args.resource:
        raise Missing("--resource")
    where = ctx.where()
    settings = ctx.workspace.info().get("autoscale", {})
    if args.name in settings:
        raise WorkbenchError(f"autoscale setting {args.name} already exists (update changes it)")
    endpoint, deployment = autoscale.target_of(args.resource)
    if deployment is None or not ctx.workspace.deployment_file(endpoint, deployment).is_file():
        raise NotFound(f"the resource {args.resource} is not a deployment of workspace {ctx.workspace.name}")
    setting = autoscale.new_setting(
        args.name, args.resource, _capacity(args), group=where.group, location=where.location
    )
    return _saved(ctx, setting, f"autoscale setting {args.name} created")


def update(ctx: Context) -> Any:
    args = ctx.args
    setting = _setting(ctx, args.name)
    default = next(p for p in setting["profiles"] if not p.get("recurrence"))
    capacity = default["capacity"]
    for key, given in (("minimum", args.min_count), ("maximum", args.max_count), ("default", args.count)):
        if given is not None:
            capacity[key] = str(given)
    if args.enabled is not None:
        setting["enabled"] = args.enabled == "true"
    autoscale.check_capacity(*_ints(capacity))
    return _saved(ctx, setting, f"autoscale setting {args.name} updated")


def show(ctx: Context) -> Any:
    return _setting(ctx, ctx.args.name)


def delete(ctx: Context) -> Any:
    _setting(ctx, ctx.args.name)
    with ctx.workspace.changing() as change:
        change.info["autoscale"].pop(ctx.args.name, None)
    ctx.applied(change, f"autoscale setting {ctx.args.name} deleted")
    return None


def rule_create(ctx: Context) -> Any:
    args = ctx.args
    setting = _setting(ctx, args.autoscale_name)
    profile = _profile(setting, args.profile_name)
    resource = args.resource or setting["targetResourceUri"]
    rule = autoscale.new_rule(args.condition, args.scale, args.cooldown, resource)
    profile["rules"].append(rule)
    _saved(ctx, setting, f"autoscale rule added to {args.autoscale_name}")
    return rule


def profile_create(ctx: Context) -> Any:
    args = ctx.args
    setting = _setting(ctx, args.autoscale_name)
    if any(p["name"] == args.name for p in setting["profiles"]):
        raise WorkbenchError(f"profile {args.name} already exists in {args.autoscale_name}")
    rules = list(_profile(setting, args.copy_rules)["rules"]) if args.copy_rules else []
    profile = autoscale.new_profile(
        args.name, _capacity(args), rules, recurrence=args.recurrence, timezone=args.timezone
    )
    setting["profiles"].append(profile)
    _saved(ctx, setting, f"autoscale profile {args.name} added to {args.autoscale_name}")
    return profile


def _saved(ctx: Context, setting: dict[str, Any], cause: str) -> dict[str, Any]:
    with ctx.workspace.changing() as change:
        change.info.setdefault("autoscale", {})[setting["name"]] = setting
    ctx.applied(change, cause)
    return setting


def _setting(ctx: Context, name: str) -> dict[str, Any]:
    setting = ctx.workspace.info().get("autoscale", {}).get(name) if ctx.workspace.exists else None
    if not isinstance(setting, dict):
        raise NotFound(f"The Resource 'Microsoft.Insights/autoscalesettings/{name}' was not found.")
    found: dict[str, Any] = setting
    return found


def _profile(setting: dict[str, Any], name: str | None) -> dict[str, Any]:
    profiles: list[dict[str, Any]] = setting["profiles"]
    for profile in profiles:
        if (name is None and not profile.get("recurrence")) or profile["name"] == name:
            return profile
    raise NotFound(f"autoscale setting {setting['name']} has no profile {name}")


def _capacity(args: Any) -> tuple[int, int, int]:
    minimum = args.min_count if args.min_count is not None else 1
    maximum = args.max_count if args.max_count is not None else minimum
    count = args.count if args.count is not None else minimum
    return minimum, maximum, count


def _ints(capacity: dict[str, str]) -> tuple[int, int, int]:
    return int(capacity["minimum"]), int(capacity["maximum"]), int(capacity["default"])
