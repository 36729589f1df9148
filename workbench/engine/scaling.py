"""Scale overrides: `workbench scale` and autoscale decisions are desired state, kept as traffic
overrides are (in `.workbench/state.json`, across restarts) and applied by the reconcile loop
alone, never written into a running deployment.

An override holds while what it overrode holds: the YAML's `instance_count` it replaced and the
autoscale settings it was decided under. A new count in the YAML, or new autoscale settings,
clears it, as Azure's `az ml online-deployment update --set instance_count=N` replaces a manual
scale. A comment, a traffic change or a restart leaves it in force.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from workbench.engine.saved import SavedState
from workbench.errors import NotFound, NotSaved
from workbench.spec import Project
from workbench.spec.autoscale import Autoscale


class ScaleOverrides:
    def __init__(self, saved: SavedState) -> None:
        self.saved = saved

    def set(
        self, endpoint: str, deployment: str, count: int, yaml_count: int, autoscale: Autoscale | None
    ) -> None:
        """Records `count` as the deployment's desired instance count, written to disk first: a
        failed write raises NotSaved and changes nothing."""
        scales = self.saved.endpoint(endpoint).scales
        with self.saved.changing():
            scales[deployment] = {
                "instance_count": count,
                "overridden": yaml_count,
                "autoscale": _said(autoscale),
            }

    def count_for(
        self, endpoint: str, deployment: str, yaml_count: int, autoscale: Autoscale | None
    ) -> int | None:
        """The override in force, or None; one that no longer holds is dropped."""
        scales = self.saved.endpoint(endpoint).scales
        found = scales.get(deployment)
        if found is None:
            return None
        if found.get("overridden") == yaml_count and found.get("autoscale") == _said(autoscale):
            return int(found["instance_count"])
        del scales[deployment]
        with contextlib.suppress(NotSaved):  # dropped now; the file follows at its next save
            self.saved.save()
        return None

    def forget(self, endpoint: str, deployment: str) -> None:
        """A deleted deployment's override goes with it."""
        if self.saved.endpoint(endpoint).scales.pop(deployment, None) is not None:
            with contextlib.suppress(NotSaved):
                self.saved.save()


class Scaler:
    """`workbench scale` and the autoscaler: an override recorded, then the loop asked to apply it."""

    def __init__(
        self, overrides: ScaleOverrides, project: Callable[[], Project], apply: Callable[[str], None]
    ) -> None:
        self.overrides = overrides
        self.project = project
        self.apply = apply

    def scale(self, endpoint: str, deployment: str, count: int, cause: str) -> None:
        project = self.project()
        found = project.endpoint(endpoint)
        spec = found.deployment(deployment) if found is not None else None
        if spec is None:
            if found is None:
                raise NotFound(f"Local endpoint ({endpoint}) does not exist.")
            raise NotFound(f"Local deployment ({endpoint} / {deployment}) does not exist.")
        autoscale = project.settings.deployment(endpoint, deployment).autoscale
        self.overrides.set(endpoint, deployment, count, spec.instance_count, autoscale)
        self.apply(f"{cause}: {endpoint}/{deployment} to {count} instance(s)")


def _said(autoscale: Autoscale | None) -> str | None:
    return None if autoscale is None else repr(autoscale)
