"""Faults injected into a deployment's requests on purpose, to see how a client copes before the
cloud shows it: added latency, an error rate with a status code, and dropped connections (the
client sees what Azure's gateway answers when an instance drops one: 502). The router applies
them. Written under a deployment in workbench.yaml (`faults:`), they apply whenever the engine
runs; set at run time (`workbench fault`), they replace those until the engine restarts. Either
way `workbench status` says so.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import yaml

from workbench.spec.reader import Reader

INJECTED = "fault injected by the workbench"


@dataclass(frozen=True)
class Faults:
    latency_ms: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503
    drop_rate: float = 0.0

    def __post_init__(self) -> None:
        if not (0.0 <= self.error_rate <= 1.0 and 0.0 <= self.drop_rate <= 1.0):
            raise ValueError("rates are between 0 and 1")
        if self.latency_ms < 0 or not 400 <= self.error_status <= 599:
            raise ValueError("latency is not negative and the error status is a 4xx or 5xx")

    @property
    def any(self) -> bool:
        return bool(self.latency_ms or self.error_rate or self.drop_rate)

    def describe(self) -> str:
        parts = []
        if self.latency_ms:
            parts.append(f"+{self.latency_ms:g} ms")
        if self.error_rate:
            parts.append(f"{self.error_rate:.0%} answered {self.error_status}")
        if self.drop_rate:
            parts.append(f"{self.drop_rate:.0%} dropped")
        return ", ".join(parts) or "none"

    def outcome(self, rng: random.Random) -> str:
        """ "drop", "error" or "serve" for one request (latency applies to all)."""
        draw = rng.random()
        if draw < self.drop_rate:
            return "drop"
        if draw < self.drop_rate + self.error_rate:
            return "error"
        return "serve"


FIELDS = ("latency_ms", "error_rate", "error_status", "drop_rate")


def read_faults(reader: Reader, node: yaml.Node, key: str) -> Faults | None:
    """`faults:` under a deployment in workbench.yaml."""
    found = reader.fields(node, key, FIELDS)
    if found is None:
        return None
    values: dict[str, float] = {}
    for name, value_node in found.items():
        value = reader.number(value_node, f"{key}.{name}")
        if value is not None:
            values[name] = value
    try:
        return Faults(
            latency_ms=values.get("latency_ms", 0.0),
            error_rate=values.get("error_rate", 0.0),
            error_status=int(values.get("error_status", 503)),
            drop_rate=values.get("drop_rate", 0.0),
        )
    except ValueError as exc:
        reader.error(node, key, str(exc))
        return None
