"""What routing and autoscaling read of a deployment, typed: a `RoutedDeployment` per name of an
endpoint's deployments (deployments.DeploymentRunner is one). Routing needs no more of a
deployment than this, and a deployment nothing of routing but `context.Routes`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from workbench.spec.deployment import DeploymentSpec
from workbench.state import DeploymentState


class RoutedDeployment(Protocol):
    @property
    def state(self) -> DeploymentState: ...

    @property
    def spec(self) -> DeploymentSpec: ...

    @property
    def scoring_path(self) -> str | None:
        """The path its instances score on (a custom container's), None for /score."""

    def targets(self) -> list[tuple[str, str, bool]]:
        """(instance id, URL, under the debugger) of each instance that takes requests."""

    def model_error(self, instance_id: str) -> None:
        """Its run() failed a request on `instance_id` (a 424): counted, shown."""

    def show_faults(self, injected: str) -> None:
        """The faults the router applies to its requests, in words ("" for none)."""


DeploymentsOf = Callable[[str], Mapping[str, RoutedDeployment]]
"""endpoint name -> {deployment name: its deployment}"""
