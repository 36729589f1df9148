"""Autoscale settings of a workspace, as `az monitor autoscale` makes them: a setting targets a
deployment's resource id and has profiles (capacity and rules); kept in workspace.json in Azure
Monitor's own shape, and applied as the deployment's `autoscale` in the workspace's
workbench.yaml (spec/autoscale.py, written by folder.py), which the engine's autoscaler follows.

The engine applies one profile: the one without a recurrence ("default"). Profiles with a
recurrence (a weekend's) are kept and shown, not switched to (docs/differences.md).
"""

from __future__ import annotations

import re
from typing import Any

from workbench.errors import WorkbenchError
from workbench.spec.autoscale import METRICS
from workbench.workspace.ids import autoscale_id

_OPERATORS = {">": "GreaterThan", ">=": "GreaterThanOrEqual", "<": "LessThan", "<=": "LessThanOrEqual"}
_AGGREGATIONS = {"avg": "Average", "min": "Minimum", "max": "Maximum", "total": "Total"}
_CONDITION = re.compile(
    r"^\s*(?P<metric>[A-Za-z][\w.]*)\s*(?P<operator>>=|<=|>|<|==|!=)\s*(?P<threshold>-?[\d.]+)\s+"
    r"(?P<aggregation>\w+)\s+(?P<window>\d+[smhd])\s*$"
)
_DAYS = {
    d[:3].lower(): d for d in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
}
_RESOURCE = re.compile(
    r"/onlineendpoints/(?P<endpoint>[^/]+)(?:/deployments/(?P<deployment>[^/]+))?/*$", re.IGNORECASE
)


def target_of(resource: str) -> tuple[str, str | None]:
    """The endpoint and deployment that a resource id names (`show --query id` gives them)."""
    match = _RESOURCE.search(resource)
    if match is None:
        raise WorkbenchError(
            f"--resource {resource!r} is not an online endpoint's or deployment's id here (`azlocal ml "
            "online-deployment show -e ENDPOINT -n NAME --query id -o tsv` gives one)"
        )
    return match["endpoint"], match["deployment"]


def new_setting(
    name: str, resource: str, capacity: tuple[int, int, int], *, group: str, location: str
) -> dict[str, Any]:
    """A setting with its default profile; `capacity` is (minimum, maximum, count)."""
    _, deployment = target_of(resource)
    if deployment is None:
        raise WorkbenchError("an online endpoint's autoscale setting targets one of its deployments' ids")
    return {
        "enabled": True,
        "id": autoscale_id(group, name),
        "location": location,
        "name": name,
        "notifications": [],
        "profiles": [_profile("default", *capacity)],
        "resourceGroup": group,
        "tags": {},
        "targetResourceLocation": location,
        "targetResourceUri": resource,
        "type": "Microsoft.Insights/autoscaleSettings",
    }


def new_rule(condition: str, scale: list[str], cooldown_minutes: int, resource: str) -> dict[str, Any]:
    """A rule from az's `--condition "CpuUtilizationPercentage > 70 avg 5m"` and `--scale out 2`."""
    match = _CONDITION.match(condition)
    if match is None:
        raise WorkbenchError(
            f"--condition {condition!r} is not METRIC OPERATOR THRESHOLD AGGREGATION PERIOD, as in "
            '"CpuUtilizationPercentage > 70 avg 5m"'
        )
    if match["metric"] not in METRICS:
        raise WorkbenchError(f"metric {match['metric']} is not emulated: use one of {', '.join(METRICS)}")
    operator = _OPERATORS.get(match["operator"])
    aggregation = _AGGREGATIONS.get(match["aggregation"].lower())
    if operator is None:
        raise WorkbenchError(
            f"operator {match['operator']} is not emulated: use one of {', '.join(_OPERATORS)}"
        )
    if aggregation is None:
        raise WorkbenchError(
            f"aggregation {match['aggregation']} is not emulated: use one of {', '.join(_AGGREGATIONS)}"
        )
    direction, value = _scale_action(scale)
    return {
        "metricTrigger": {
            "dimensions": [],
            "dividePerInstance": False,
            "metricName": match["metric"],
            "metricNamespace": "",
            "metricResourceUri": resource,
            "operator": operator,
            "statistic": "Average",
            "threshold": float(match["threshold"]),
            "timeAggregation": aggregation,
            "timeGrain": "PT1M",
            "timeWindow": _duration(match["window"]),
        },
        "scaleAction": {
            "cooldown": f"PT{cooldown_minutes}M",
            "direction": direction,
            "type": "ChangeCount",
            "value": str(value),
        },
    }


def new_profile(
    name: str,
    capacity: tuple[int, int, int],
    rules: list[dict[str, Any]],
    *,
    recurrence: list[str] | None,
    timezone: str | None,
) -> dict[str, Any]:
    """A profile with `capacity` (minimum, maximum, count), for days of the week or always."""
    profile = _profile(name, *capacity)
    profile["rules"] = rules
    if recurrence:
        frequency, *days = recurrence
        if frequency.lower() != "week" or not days:
            raise WorkbenchError("--recurrence takes `week` and days, as in `--recurrence week sat sun`")
        unknown = [d for d in days if d[:3].lower() not in _DAYS]
        if unknown:
            raise WorkbenchError(f"--recurrence: {', '.join(unknown)} is not a day of the week")
        profile["recurrence"] = {
            "frequency": "Week",
            "schedule": {
                "days": [_DAYS[d[:3].lower()] for d in days],
                "hours": [0],
                "minutes": [0],
                "timeZone": timezone or "UTC",
            },
        }
    return profile


def in_force(
    settings: dict[str, dict[str, Any]], deployments: set[tuple[str, str]]
) -> dict[tuple[str, str], Any]:
    """Each enabled setting's default profile as its deployment's `autoscale` of workbench.yaml
    (spec/autoscale.py), for the deployments that exist."""
    applied: dict[tuple[str, str], Any] = {}
    for setting in settings.values():
        endpoint, deployment = target_of(str(setting["targetResourceUri"]))
        if (
            deployment is None
            or (endpoint, deployment) not in deployments
            or not setting.get("enabled", True)
        ):
            continue
        profile = next((p for p in setting["profiles"] if not p.get("recurrence")), None)
        if profile is None:
            continue
        capacity = profile["capacity"]
        applied[(endpoint, deployment)] = {
            "minimum": int(capacity["minimum"]),
            "maximum": int(capacity["maximum"]),
            "default": int(capacity["default"]),
            "rules": [_workbench_rule(rule) for rule in profile.get("rules", [])],
        }
    return applied


def _workbench_rule(rule: dict[str, Any]) -> dict[str, Any]:
    trigger, action = rule["metricTrigger"], rule["scaleAction"]
    return {
        "metric": trigger["metricName"],
        "threshold": trigger["threshold"],
        "operator": trigger["operator"],
        "aggregation": trigger["timeAggregation"],
        "time_window": trigger["timeWindow"],
        "direction": action["direction"],
        "value": int(action["value"]),
        "cooldown": action["cooldown"],
    }


def check_capacity(minimum: int, maximum: int, count: int) -> None:
    if not 1 <= minimum <= count <= maximum:
        raise WorkbenchError(f"counts must be 1 <= min ({minimum}) <= count ({count}) <= max ({maximum})")


def _profile(name: str, minimum: int, maximum: int, count: int) -> dict[str, Any]:
    check_capacity(minimum, maximum, count)
    return {
        "capacity": {"default": str(count), "maximum": str(maximum), "minimum": str(minimum)},
        "fixedDate": None,
        "name": name,
        "recurrence": None,
        "rules": [],
    }


def _scale_action(scale: list[str]) -> tuple[str, int]:
    if len(scale) != 2 or scale[0] not in ("out", "in", "to") or not scale[1].rstrip("%").isdigit():
        raise WorkbenchError("--scale takes out N, in N or to N, as in `--scale out 2`")
    if scale[0] == "to" or scale[1].endswith("%"):
        raise WorkbenchError(
            f"--scale {' '.join(scale)} is not emulated: the engine scales by a count (out N, in N)"
        )
    return ("Increase" if scale[0] == "out" else "Decrease"), int(scale[1])


def _duration(text: str) -> str:
    number, unit = int(text[:-1]), text[-1]
    return {"s": f"PT{number}S", "m": f"PT{number}M", "h": f"PT{number}H", "d": f"PT{number * 24}H"}[unit]
