"""From desired state (the specs) and observed state (what runs) to actions: a pure function.

What a change does depends on what changed: a new deployment is created, a removed one deleted,
a different `instance_count` scales, anything that shapes how an instance runs (environment,
environment variables, code, model, request settings, probes, runtime) replaces the instances
one by one. A traffic-only change yields no deployment action at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from workbench.spec.canonical import canonical
from workbench.spec.deployment import DeploymentSpec
from workbench.spec.local import DeploymentSettings

Key = tuple[str, str]
"""(endpoint, deployment)"""


@dataclass(frozen=True)
class Desired:
    fingerprint: str
    instance_count: int


@dataclass(frozen=True)
class Observed:
    fingerprint: str
    instance_count: int


@dataclass(frozen=True)
class Create:
    key: Key


@dataclass(frozen=True)
class Delete:
    key: Key


@dataclass(frozen=True)
class Scale:
    key: Key
    instance_count: int


@dataclass(frozen=True)
class Replace:
    key: Key
    instance_count: int


Action = Create | Delete | Scale | Replace


def fingerprint(
    deployment: DeploymentSpec, runtime: str, settings: DeploymentSettings | None = None, secrets: str = ""
) -> str:
    """The part of a deployment that decides how its instances run; a change means new instances.
    Only what defines an instance counts, never where it was declared: a comment or a moved key
    in the YAML changes nothing."""
    parts = (
        runtime,
        deployment.environment,
        dict(deployment.environment_variables),
        deployment.code_configuration,
        deployment.model,
        deployment.request_settings,
        deployment.liveness_probe,
        deployment.readiness_probe,
        deployment.instance_type,
        deployment.egress_public_network_access,
        deployment.data_collector,
        settings,
        secrets,  # the digest of its secrets' values: a rotated secret rolls it out
    )
    return hashlib.sha256(canonical(parts).encode()).hexdigest()[:16]


def plan(desired: Mapping[Key, Desired], observed: Mapping[Key, Observed]) -> list[Action]:
    actions: list[Action] = []
    for key in sorted(observed.keys() - desired.keys()):
        actions.append(Delete(key))
    for key in sorted(desired):
        want = desired[key]
        have = observed.get(key)
        if have is None:
            actions.append(Create(key))
        elif have.fingerprint != want.fingerprint:
            actions.append(Replace(key, want.instance_count))
        elif have.instance_count != want.instance_count:
            actions.append(Scale(key, want.instance_count))
    return actions
