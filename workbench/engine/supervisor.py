"""Applies the reconcile step's actions to the running deployments."""

from __future__ import annotations

import asyncio
from pathlib import Path

from workbench.engine import reconcile
from workbench.engine.context import Context
from workbench.engine.deployments import DeploymentRunner
from workbench.errors import NotFound
from workbench.spec import Project
from workbench.spec.deployment import DeploymentSpec
from workbench.state import DeploymentState, EndpointState, ProvisioningState


class Supervisor:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.deployments: dict[reconcile.Key, DeploymentRunner] = {}
        self.fingerprints: dict[reconcile.Key, str] = {}

    async def apply(self, project: Project) -> None:
        """Bring what runs in line with `project`."""
        specs = {(e.name, d.name): d for e in project.endpoints for d in e.deployments}
        desired = {
            key: reconcile.Desired(
                reconcile.fingerprint(spec, self.ctx.settings.runtime_for(*key)), spec.instance_count
            )
            for key, spec in specs.items()
        }
        observed = {
            key: reconcile.Observed(self.fingerprints[key], runner.spec.instance_count)
            for key, runner in self.deployments.items()
        }
        self.update_endpoints(project)
        work = []
        for action in reconcile.plan(desired, observed):
            if isinstance(action, reconcile.Delete):
                work.append(self._delete(action.key))
            elif isinstance(action, reconcile.Create):
                work.append(self._create(action.key, specs[action.key], desired[action.key].fingerprint))
            elif isinstance(action, reconcile.Scale):
                work.append(self.deployments[action.key].scale(action.instance_count))
            else:
                self.fingerprints[action.key] = desired[action.key].fingerprint
                work.append(self.deployments[action.key].replace(specs[action.key]))
        await asyncio.gather(*work)

    async def _create(self, key: reconcile.Key, spec: DeploymentSpec, fingerprint: str) -> None:
        endpoint = self.ctx.store.endpoint(key[0])
        assert endpoint is not None
        state = DeploymentState(name=key[1], instance_count=spec.instance_count)
        endpoint.deployments.append(state)
        runner = DeploymentRunner(self.ctx, key[0], spec, state)
        self.deployments[key] = runner
        self.fingerprints[key] = fingerprint
        await runner.create()

    async def _delete(self, key: reconcile.Key) -> None:
        runner = self.deployments.pop(key)
        self.fingerprints.pop(key, None)
        await runner.delete()
        endpoint = self.ctx.store.endpoint(key[0])
        if endpoint is not None:
            endpoint.deployments = [d for d in endpoint.deployments if d.name != key[1]]

    def update_endpoints(self, project: Project) -> None:
        store = self.ctx.store
        names = {e.name for e in project.endpoints}
        store.endpoints = [e for e in store.endpoints if e.name in names or e.deployments]
        for endpoint in project.endpoints:
            state = store.endpoint(endpoint.name)
            if state is None:
                state = EndpointState(name=endpoint.name)
                store.endpoints.append(state)
                store.publish("endpoint", endpoint.name, "Succeeded: endpoint created")
            state.auth_mode = endpoint.spec.auth_mode.value
            state.traffic = dict(endpoint.spec.traffic)
            state.mirror_traffic = dict(endpoint.spec.mirror_traffic)
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
        await asyncio.gather(*(runner.delete() for runner in self.deployments.values()))
        self.deployments.clear()
