"""Which deployment serves a request, and whether it is mirrored: pure functions.

The random source is injected, so a test can fix it and a reader can check the rules against the
cloud's (docs/azure.md, "Routing and traffic"): the `azureml-model-deployment` header wins, even
at 0% or mirror-only; without it the `traffic` weights decide; mirroring applies only to
requests without the header.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping
from dataclasses import dataclass

DEPLOYMENT_HEADER = "azureml-model-deployment"
NO_VALID_DEPLOYMENTS = (
    "No valid deployments to route to. Please check that the endpoint has at least one deployment "
    "with positive weight values or use a deployment specific header to route. "
    "[https://docs.microsoft.com/azure/machine-learning/how-to-safely-rollout-managed-endpoints]\n"
    "Please check this guide to understand why this error code might have been returned "
    "[https://docs.microsoft.com/azure/machine-learning/how-to-troubleshoot-online-endpoints#http-status-codes]"
)


@dataclass(frozen=True)
class Route:
    deployment: str
    pinned: bool
    """True when the request named its deployment in the header."""


class NoRoute(Exception):
    """404: nothing to route to; the message is Azure's."""


def choose(
    traffic: Mapping[str, int], deployments: Collection[str], header: str | None, rng: random.Random
) -> Route:
    if header:
        wanted = header.strip().lower()
        for name in deployments:
            if name.lower() == wanted:
                return Route(name, pinned=True)
        # Azure's text as it is, then what the workbench knows: the header named no deployment
        raise NoRoute(f"{NO_VALID_DEPLOYMENTS} (workbench: no deployment '{header}' in this endpoint)")
    weighted = [(name, share) for name, share in traffic.items() if share > 0 and name in deployments]
    if not weighted:
        raise NoRoute(NO_VALID_DEPLOYMENTS)
    point = rng.uniform(0, sum(share for _, share in weighted))
    for name, share in weighted:
        point -= share
        if point < 0:
            return Route(name, pinned=False)
    return Route(weighted[-1][0], pinned=False)


def mirror_to(
    mirror: Mapping[str, int], route: Route, deployments: Collection[str], rng: random.Random
) -> str | None:
    """The deployment to copy this request to, or None."""
    if route.pinned:
        return None
    for name, share in mirror.items():
        if share > 0 and name in deployments and name != route.deployment and rng.random() * 100 < share:
            return name
    return None
