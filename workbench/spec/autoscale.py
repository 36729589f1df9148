"""Autoscale settings for a deployment, as Azure Monitor's autoscale writes them (a profile's
capacity and its rules), in workbench.yaml under the deployment:

    autoscale:
      minimum: 1
      maximum: 3
      default: 1              # read as Azure's; the count starts from the YAML's instance_count
      time_scale: 60          # a minute of Azure's passes in a second here (default 1)
      rules:
        - metric: RequestsPerMinute    # or CpuUtilizationPercentage, CpuMemoryUtilizationPercentage,
                                       # RequestLatency
          time_window: PT5M            # ISO 8601, as Azure's metricTrigger.timeWindow
          aggregation: Average         # Average, Maximum, Minimum, Total
          operator: GreaterThan        # GreaterThan(OrEqual), LessThan(OrEqual)
          threshold: 70
          direction: Increase          # or Decrease
          value: 1
          cooldown: PT5M

Azure's time grain is one minute; so is this one (scaled by `time_scale`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from workbench.spec.reader import Reader

METRICS = (
    "RequestsPerMinute",
    "CpuUtilizationPercentage",
    "CpuMemoryUtilizationPercentage",
    "RequestLatency",
)
AGGREGATIONS = ("Average", "Maximum", "Minimum", "Total")
OPERATORS = ("GreaterThan", "GreaterThanOrEqual", "LessThan", "LessThanOrEqual")
DIRECTIONS = ("Increase", "Decrease")
DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")


@dataclass(frozen=True)
class Rule:
    metric: str
    threshold: float
    operator: str = "GreaterThan"
    aggregation: str = "Average"
    time_window_s: float = 300.0
    direction: str = "Increase"
    value: int = 1
    cooldown_s: float = 300.0

    def holds(self, figure: float) -> bool:
        return {
            "GreaterThan": figure > self.threshold,
            "GreaterThanOrEqual": figure >= self.threshold,
            "LessThan": figure < self.threshold,
            "LessThanOrEqual": figure <= self.threshold,
        }[self.operator]

    def describe(self, figure: float) -> str:
        """Why it held: "RequestsPerMinute average 612.0 > 600 over 1 min"."""
        return f"{self.metric} {self.aggregation.lower()} {figure:.1f} {self._comparison()}"

    def describe_condition(self) -> str:
        """What it watches: "RequestsPerMinute average > 600 over 1 min"."""
        return f"{self.metric} {self.aggregation.lower()} {self._comparison()}"

    def _comparison(self) -> str:
        sign = {"GreaterThan": ">", "GreaterThanOrEqual": ">=", "LessThan": "<", "LessThanOrEqual": "<="}
        return f"{sign[self.operator]} {self.threshold:g} over {self.time_window_s / 60:g} min"


@dataclass(frozen=True)
class Autoscale:
    minimum: int
    maximum: int
    default: int
    rules: tuple[Rule, ...]
    time_scale: float = 1.0

    def describe(self) -> str:
        """In words: 1..5 instances; out 2 when CpuUtilizationPercentage average > 70 over 5 min; ..."""
        rules = [
            f"{'out' if r.direction == 'Increase' else 'in'} {r.value} when {r.describe_condition()}"
            for r in self.rules
        ]
        return "; ".join([f"{self.minimum}..{self.maximum} instances", *rules])


def seconds(text: str) -> float | None:
    """An ISO 8601 duration as Azure writes them (PT5M, PT1H, PT30S)."""
    match = DURATION.match(text.strip().upper())
    if match is None or not any(match.groups()):
        return None
    hours, minutes, secs = (int(g or 0) for g in match.groups())
    return float(hours * 3600 + minutes * 60 + secs)


def read_autoscale(reader: Reader, node: yaml.Node, key: str) -> Autoscale | None:
    found = reader.fields(node, key, ("minimum", "maximum", "default", "time_scale", "rules"))
    if found is None:
        return None
    minimum = (
        reader.integer(found["minimum"], f"{key}.minimum", minimum=1, maximum=50) if "minimum" in found else 1
    )
    maximum = (
        reader.integer(found["maximum"], f"{key}.maximum", minimum=1, maximum=50) if "maximum" in found else 1
    )
    default = (
        reader.integer(found["default"], f"{key}.default", minimum=1, maximum=50)
        if "default" in found
        else None
    )
    scale = reader.number(found["time_scale"], f"{key}.time_scale") if "time_scale" in found else 1.0
    if minimum is None or maximum is None or scale is None:
        return None
    if maximum < minimum:
        reader.error(node, key, f"maximum {maximum} is below minimum {minimum}")
        return None
    if not 1 <= scale <= 3600:
        reader.error(found["time_scale"], f"{key}.time_scale", "time_scale is between 1 and 3600")
        return None
    rules: list[Rule] = []
    for index, item in enumerate(reader.items(found["rules"], f"{key}.rules") if "rules" in found else []):
        rule = _rule(reader, item, f"{key}.rules[{index}]")
        if rule is not None:
            rules.append(rule)
    return Autoscale(minimum, maximum, default or minimum, tuple(rules), scale)


def _rule(reader: Reader, node: yaml.Node, key: str) -> Rule | None:
    fields = (
        "metric",
        "threshold",
        "operator",
        "aggregation",
        "time_window",
        "direction",
        "value",
        "cooldown",
    )
    found = reader.fields(node, key, fields)
    if found is None:
        return None
    for required in ("metric", "threshold"):
        if required not in found:
            reader.error(node, f"{key}.{required}", "Missing data for required field.")
            return None
    metric = reader.choice(found["metric"], f"{key}.metric", METRICS)
    threshold = reader.number(found["threshold"], f"{key}.threshold")
    if metric is None or threshold is None:
        return None
    durations = {}
    for name, default in (("time_window", 300.0), ("cooldown", 300.0)):
        if name in found:
            text = reader.string(found[name], f"{key}.{name}") or ""
            value = seconds(text)
            if value is None:
                reader.error(found[name], f"{key}.{name}", f"'{text}' is not an ISO 8601 duration like PT5M")
                return None
            durations[name] = value
        else:
            durations[name] = default
    return Rule(
        metric=metric,
        threshold=threshold,
        operator=(reader.choice(found["operator"], f"{key}.operator", OPERATORS) or "GreaterThan")
        if "operator" in found
        else "GreaterThan",
        aggregation=(reader.choice(found["aggregation"], f"{key}.aggregation", AGGREGATIONS) or "Average")
        if "aggregation" in found
        else "Average",
        time_window_s=max(60.0, durations["time_window"]),
        direction=(reader.choice(found["direction"], f"{key}.direction", DIRECTIONS) or "Increase")
        if "direction" in found
        else "Increase",
        value=(reader.integer(found["value"], f"{key}.value", minimum=1, maximum=50) or 1)
        if "value" in found
        else 1,
        cooldown_s=durations["cooldown"],
    )
