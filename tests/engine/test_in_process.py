"""The engine's logic in process, in milliseconds: the runtime double's instances become ready
through the probe interface (engine/probes.py), so overrides and reconciling are tested with
plain objects; each behaviour also has its end-to-end test with real processes
(test_scale_overrides.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.conftest import SpecFolder, deployment, project_files
from tests.engine.contexts import engine_context
from workbench.engine.saved import SavedState
from workbench.engine.scaling import ScaleOverrides
from workbench.engine.supervisor import Supervisor
from workbench.layout import ProjectFiles
from workbench.runtimes.fake import FakeRuntime
from workbench.spec import Project, load_project
from workbench.state import InstancePhase, ProvisioningState


def no_traffic(endpoint: str) -> tuple[dict[str, int], dict[str, int]]:
    return {}, {}


def test_scale_overrides_hold_until_the_yaml_count_changes(spec_folder: SpecFolder, tmp_path: Path) -> None:
    folder = spec_folder(project_files(blue__yml=deployment(extra="instance_count: 1\n")))
    blue = folder / "blue.yml"
    runtime = FakeRuntime()

    async def scenario() -> list[int]:
        seen = []
        async with aiohttp.ClientSession() as http:
            project = load_project(folder).raise_for_errors()
            ctx = engine_context(
                folder, project.settings, http, runtime, envs=tmp_path / "envs", probes=runtime
            )
            supervisor, scales = Supervisor(ctx), ScaleOverrides(SavedState(ctx.files.state))

            async def applied(project: Project) -> int:
                supervisor.apply(project, no_traffic, scales)
                (runner,) = supervisor.deployments.values()
                await runner.operation if runner.operation else None
                assert runner.state.provisioning_state is ProvisioningState.SUCCEEDED, runner.state.reason
                ready = [i for i in runner.state.instances if i.state is InstancePhase.READY]
                return len(ready)

            seen.append(await applied(project))
            (key,) = supervisor.deployments
            scales.set(*key, 3, yaml_count=1, autoscale=None)
            seen.append(await applied(project))
            seen.append(await applied(load_project(folder).raise_for_errors()))  # read again: as a comment
            blue.write_text(blue.read_text().replace("instance_count: 1", "instance_count: 2"))
            seen.append(await applied(load_project(folder).raise_for_errors()))
            await supervisor.stop_all()
        return seen

    assert asyncio.run(scenario()) == [1, 3, 3, 2]
    assert SavedState(ProjectFiles(folder).state).endpoint("my-endpoint").scales == {}
