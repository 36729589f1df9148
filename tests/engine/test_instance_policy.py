"""The restart policy of an instance, with the runtime double: instances that exit at once.

The process runtime is tested for real in test_engine.py; here the double isolates the policy
(count restarts, give up after MAX_BOOT_FAILURES, say why) from process start-up times.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.conftest import SpecFolder, project_files
from tests.engine.contexts import engine_context
from workbench.engine.deployments import DeploymentRunner
from workbench.engine.instances import MAX_BOOT_FAILURES
from workbench.runtimes.base import InstanceSpec, RunningInstance
from workbench.runtimes.fake import FakeRuntime
from workbench.spec import load_project
from workbench.state import DeploymentState, InstancePhase, ProvisioningState


class ExitsAtOnce(FakeRuntime):
    async def start(self, spec: InstanceSpec) -> RunningInstance:
        running = await super().start(spec)
        self.exit(spec.name, 3)
        return running


def test_an_instance_that_never_boots_ends_failed_after_the_limit(
    spec_folder: SpecFolder, tmp_path: Path
) -> None:
    folder = spec_folder(project_files())
    spec = load_project(folder).raise_for_errors().endpoints[0].deployments[0]
    runtime = ExitsAtOnce()

    async def scenario() -> DeploymentState:
        async with aiohttp.ClientSession() as http:
            settings = load_project(folder).settings
            ctx = engine_context(folder, settings, http, runtime, envs=tmp_path / "envs")
            state = DeploymentState(name=spec.name)
            runner = DeploymentRunner(ctx, "my-endpoint", spec, state)
            await runner.create()  # the operation ends once its instances are ready or have given up
            assert state.provisioning_state is ProvisioningState.FAILED
            await runner.delete()
            return state

    state = asyncio.run(scenario())

    assert len(runtime.started) == MAX_BOOT_FAILURES
    assert state.reason is not None
    assert state.reason.startswith(
        "ResourceNotReady: User container has crashed or terminated: exited with code 3"
    )
    assert state.instances[0].restarts == MAX_BOOT_FAILURES - 1
    assert state.instances[0].state is InstancePhase.STOPPED
