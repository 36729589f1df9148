"""An endpoint's rollout plan in workbench.yaml: how a deployment is given its traffic, in judged
steps, by `workbench rollout` and by the `deploy.sh` that `workbench export azureml` writes.

    endpoints:
      quickstart:
        rollout:
          steps: [10, 50, 100]    # the new deployment's shares, rising (default 10, 50, 100)
          interval: 30            # seconds each step runs and is judged (default 30)
          mirror_first: 10        # a mirror stage first, with this share copied (default none)
          max_error_rate: 1       # percent of its requests that may fail in a step (default 1)
          max_p99_ms: 200         # its p99 in a step at most (default none)
          max_diff_rate: 5        # percent of mirrored answers that may differ (default any)

A flag given to `workbench rollout` wins over the file's value."""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from workbench.spec.reader import Reader

KEYS = ("steps", "interval", "mirror_first", "max_error_rate", "max_p99_ms", "max_diff_rate")


@dataclass(frozen=True)
class RolloutSettings:
    steps: tuple[int, ...] = (10, 50, 100)
    interval_s: float = 30.0
    mirror_first: int = 0
    max_error_rate: float = 1.0
    max_p99_ms: float | None = None
    max_diff_rate: float | None = None


def read_rollout(reader: Reader, node: yaml.Node, key: str) -> RolloutSettings | None:
    found = reader.fields(node, key, KEYS)
    if found is None:
        return None
    defaults = RolloutSettings()
    steps = defaults.steps
    if "steps" in found:
        items = reader.items(found["steps"], f"{key}.steps")
        shares = [
            reader.integer(item, f"{key}.steps[{i}]", minimum=1, maximum=100) for i, item in enumerate(items)
        ]
        valid = [s for s in shares if s is not None]
        if not isinstance(found["steps"], yaml.SequenceNode):
            pass  # said: not a list
        elif valid != sorted(valid) or len(set(valid)) != len(valid) or not valid:
            reader.error(
                found["steps"], f"{key}.steps", "expected rising shares from 1 to 100, e.g. [10, 50, 100]"
            )
        elif len(valid) == len(shares):
            steps = tuple(valid)
    mirror = (
        reader.integer(found["mirror_first"], f"{key}.mirror_first", minimum=0, maximum=50)
        if "mirror_first" in found
        else None
    )
    interval = _positive(reader, found, "interval", key)
    error_rate = _positive(reader, found, "max_error_rate", key, zero=True)
    return RolloutSettings(
        steps,
        defaults.interval_s if interval is None else interval,
        mirror or 0,
        defaults.max_error_rate if error_rate is None else error_rate,
        _positive(reader, found, "max_p99_ms", key),
        _positive(reader, found, "max_diff_rate", key, zero=True),
    )


def _positive(
    reader: Reader, found: dict[str, yaml.Node], name: str, key: str, *, zero: bool = False
) -> float | None:
    if name not in found:
        return None
    value = reader.number(found[name], f"{key}.{name}")
    if value is not None and (value < 0 or (value == 0 and not zero)):
        reader.error(
            found[name], f"{key}.{name}", f"must be {'0 or more' if zero else 'above 0'}, got {value:g}"
        )
        return None
    return value
