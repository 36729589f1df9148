"""Applies the reconcile step's actions to the running deployments.

`apply` starts each deployment's operation and returns: the operations run on their own, one at
a time per deployment, a newer one superseding one in progress. As Azure does, a deployment that
still carries live or mirrored traffic is not deleted when its YAML goes away: the event says
why and what to do.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path

from workbench.engine import reconcile, secret_values
from workbench.engine.context import Context
from workbench.engine.deployments import DeploymentRunner
from workbench.engine.scaling import ScaleOverrides
from workbench.errors import NotFound
from workbench.spec import Project
from workbench.spec.deployment import DeploymentSpec
from workbench.state import DeploymentState, EndpointState, EventKind, EventSeverity, ProvisioningState

TrafficOf = Callable[[str], tuple[dict[str, int], dict[str, int]]]
"""endpoint name -> (traffic, mirror traffic) in force"""


class Supervisor:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.deployments: dict[reconcile.Key, DeploymentRunner] = {}
        self.fingerprints: dict[reconcile.Key, str] = {}
        self._deleting: dict[reconcile.Key, asyncio.Task[None]] = {}

    def apply(self, project: Project, traffic_of: TrafficOf, scales: ScaleOverrides) -> list[str]:
        """Start what brings the deployments in line with `project` and the scale overrides in
        force; what was started."""
        self.ctx.live.current = project.settings
        self.ctx.runtimes.settings = project.settings
        written = {(e.name, d.name): d for e in project.endpoints for d in e.deployments}
        specs = {key: _scaled(spec, key[0], project, scales) for key, spec in written.items()}
        for key in self.deployments.keys() - specs.keys():
            scales.forget(*key)
        desired = {
            key: reconcile.Desired(
                reconcile.fingerprint(
                    spec,
                    project.settings.runtime_for(*key),
                    project.settings.deployment(*key),
                    secret_values.digest(spec, project.settings, self.ctx.files),
                ),
                spec.instance_count,
            )
            for key, spec in specs.items()
        }
        observed = {  # one that could not be prepared is tried again (an unknown fingerprint)
            key: reconcile.Observed(
                "" if runner.unprepared else self.fingerprints[key], runner.spec.instance_count
            )
            for key, runner in self.deployments.items()
        }
        self.update_endpoints(project)
        endpoints = {e.name for e in project.endpoints}
        started: list[str] = []
        for action in reconcile.plan(desired, observed):
            key = action.key
            if isinstance(action, reconcile.Delete):
                if key[0] in endpoints and self._carries_traffic(key, traffic_of):
                    continue
                self._delete(key)
                started.append(f"delete {key[0]}/{key[1]}")
            elif isinstance(action, reconcile.Create):
                self._create(key, specs[key], desired[key].fingerprint)
                started.append(f"create {key[0]}/{key[1]}")
            elif isinstance(action, reconcile.Scale):
                self.deployments[key].scale(action.instance_count)
                started.append(f"scale {key[0]}/{key[1]} to {action.instance_count}")
            else:
                self.fingerprints[key] = desired[key].fingerprint
                self.deployments[key].update(specs[key])
                started.append(f"update {key[0]}/{key[1]}")
        for key, runner in self.deployments.items():
            if key in specs:
                runner.show_override(_override_said(specs[key].instance_count, written[key].instance_count))
                autoscale = project.settings.deployment(key[0], key[1]).autoscale
                runner.state.autoscale = autoscale.describe() if autoscale is not None else None
        return started

    def _carries_traffic(self, key: reconcile.Key, traffic_of: TrafficOf) -> bool:
        traffic, mirror = traffic_of(key[0])
        live, mirrored = traffic.get(key[1], 0), mirror.get(key[1], 0)
        if not live and not mirrored:
            return False
        share = f"{live}% of the traffic" if live else f"{mirrored}% of the mirror traffic"
        self.ctx.store.publish(
            EventKind.DEPLOYMENT,
            f"{key[0]}/{key[1]}",
            f"not deleted: it still takes {share}, and Azure refuses to delete such a deployment; "
            f"give its share to another deployment first (the endpoint's YAML, or "
            f"`workbench traffic {key[0]} ...`), then its removal is applied",
            EventSeverity.WARNING,
        )
        return True

    def _create(self, key: reconcile.Key, spec: DeploymentSpec, fingerprint: str) -> None:
        endpoint = self.ctx.store.endpoint(key[0])
        assert endpoint is not None
        state = DeploymentState(name=key[1], instance_count=spec.instance_count)
        endpoint.deployments.append(state)
        runner = DeploymentRunner(self.ctx, key[0], spec, state)
        self.deployments[key] = runner
        self.fingerprints[key] = fingerprint
        runner.create()

    def _delete(self, key: reconcile.Key) -> None:
        runner = self.deployments.pop(key)
        self.fingerprints.pop(key, None)

        async def delete() -> None:
            await runner.delete()
            endpoint = self.ctx.store.endpoint(key[0])
            if endpoint is not None:
                endpoint.deployments = [d for d in endpoint.deployments if d is not runner.state]
            self.ctx.on_change()

        task = asyncio.get_running_loop().create_task(delete())
        self._deleting[key] = task
        task.add_done_callback(
            lambda _: self._deleting.pop(key, None) if self._deleting.get(key) is task else None
        )

    def update_endpoints(self, project: Project) -> None:
        store = self.ctx.store
        names = {e.name for e in project.endpoints}
        store.endpoints = [e for e in store.endpoints if e.name in names or e.deployments]
        for endpoint in project.endpoints:
            state = store.endpoint(endpoint.name)
            if state is None:
                state = EndpointState(name=endpoint.name)
                store.endpoints.append(state)
                store.publish(EventKind.ENDPOINT, endpoint.name, "Succeeded: endpoint created")
            state.auth_mode = endpoint.spec.auth_mode.value  # its traffic: the routing's to write, alone
            state.provisioning_state = ProvisioningState.SUCCEEDED

    def runner(self, endpoint: str, deployment: str) -> DeploymentRunner:
        found = self.deployments.get((endpoint, deployment))
        if found is None:
            if self.ctx.store.endpoint(endpoint) is None:
                raise NotFound(f"Local endpoint ({endpoint}) does not exist.")
            raise NotFound(f"Local deployment ({endpoint} / {deployment}) does not exist.")
        return found

    def reloadable(self) -> dict[Path, list[DeploymentRunner]]:
        """Each code folder and model path (a folder or a file), and the deployments that use it:
        a change there reloads them."""
        paths: dict[Path, list[DeploymentRunner]] = {}
        for runner in self.deployments.values():
            code = runner.spec.code_configuration
            if code is not None and code.code.is_dir():
                paths.setdefault(code.code.resolve(), []).append(runner)
            model = runner.spec.model
            if model is not None and model.path.exists():
                paths.setdefault(model.path.resolve(), []).append(runner)
        return paths

    def deployments_of(self, endpoint: str) -> dict[str, DeploymentRunner]:
        return {key[1]: runner for key, runner in self.deployments.items() if key[0] == endpoint}

    async def stop_all(self) -> None:
        """Cancel every operation in progress (a build, a rollout), then drain and stop every
        instance."""
        await asyncio.gather(*(runner.delete() for runner in self.deployments.values()))
        await asyncio.gather(*list(self._deleting.values()), return_exceptions=True)
        self.deployments.clear()


def _scaled(spec: DeploymentSpec, endpoint: str, project: Project, scales: ScaleOverrides) -> DeploymentSpec:
    """The deployment as desired: the YAML's, with the scale override in force."""
    autoscale = project.settings.deployment(endpoint, spec.name).autoscale
    count = scales.count_for(endpoint, spec.name, spec.instance_count, autoscale)
    return spec if count is None else dataclasses.replace(spec, instance_count=count)


def _override_said(wanted: int, written: int) -> str | None:
    return None if wanted == written else f"{wanted} instance(s) by override; the YAML says {written}"
