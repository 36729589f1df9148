"""The engine's operations in process, with its real classes: a stop during a build, draining,
the crash-loop policy, fingerprints. A test double stands in only where timing must be forced
(a build that would otherwise take minutes)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import aiohttp
import psutil

from tests.conftest import SpecFolder, project_files
from tests.engine.contexts import engine_context
from workbench.engine import reconcile
from workbench.engine.context import Unrouted
from workbench.engine.deployments import DeploymentRunner
from workbench.engine.engine import Engine
from workbench.engine.environments import EnvironmentBuilder, Requirements, _run
from workbench.engine.instances import crash_backoff, exit_cause
from workbench.engine.servercode import copy_server_code
from workbench.layout import ProjectFiles
from workbench.router.credentials import EndpointKeys, TokenSigner
from workbench.router.endpoint import EndpointRouter
from workbench.router.table import DeploymentRoute, RouteTable, Target
from workbench.runtimes.base import RunningInstance
from workbench.runtimes.fake import FakeRuntime
from workbench.runtimes.process import ProcessRuntime
from workbench.spec import load_project
from workbench.state import DeploymentState, InstancePhase, ProvisioningState


class BuildThatWaits(EnvironmentBuilder):
    """Every environment needs a build whose one step (run by the real step runner) would take
    ten minutes: the timing a stop must cut short."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.marker = f"{600 + uuid.uuid4().int % 1000 / 1000:.3f}"
        self.started = asyncio.Event()

    def is_built(self, wanted: Requirements) -> bool:
        return False

    async def _build(self, wanted: Requirements, log: Path, progress: Callable[[str], object]) -> None:
        building = self.root / "building"
        building.mkdir(parents=True, exist_ok=True)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as out:
            self.started.set()
            await _run(["sleep", self.marker], out, building)


def sleeping(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if process.info["cmdline"] == ["sleep", marker] and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
    return found


def test_a_stop_during_a_build_cancels_it_and_kills_its_step(spec_folder: SpecFolder, tmp_path: Path) -> None:
    folder = spec_folder(project_files())
    project = load_project(folder).raise_for_errors()
    builder = BuildThatWaits(tmp_path.parent / f"{tmp_path.name}-envs")  # not in the project

    async def scenario() -> list[str]:
        engine = Engine(project, builder=builder)
        run = asyncio.ensure_future(engine.run())
        await asyncio.wait_for(builder.started.wait(), 60)
        assert sleeping(builder.marker), "the build step runs"
        engine.request_stop()
        await asyncio.wait_for(run, 30)  # not the build's ten minutes
        return [e.message for e in engine.store.events]

    messages = asyncio.run(scenario())
    assert sleeping(builder.marker) == []
    assert not (builder.root / "building").exists(), "the half-built environment is removed"
    assert messages[-1] == "stopped"
    assert not (folder / ".workbench" / "connection.json").exists()


def table_of(target: Target) -> RouteTable:
    return RouteTable("key", {"blue": 100}, {}, {"blue": DeploymentRoute("blue", "Succeeded", [target])})


def test_a_router_waits_for_the_requests_of_an_instance_that_left_its_table(tmp_path: Path) -> None:
    async def scenario() -> tuple[bool, bool]:
        router = EndpointRouter("e", EndpointKeys.generate(), TokenSigner("s"), tmp_path / "access.log")
        old, new = Target("blue-0", "http://127.0.0.1:1"), Target("blue-1", "http://127.0.0.1:2")
        router.update(
            RouteTable("key", {"blue": 100}, {}, {"blue": DeploymentRoute("blue", "Succeeded", [old])})
        )
        old.in_flight = 2  # two requests on their way through the old instance
        router.update(
            RouteTable("key", {"blue": 100}, {}, {"blue": DeploymentRoute("blue", "Succeeded", [new])})
        )
        waiting = asyncio.ensure_future(router.until_idle([old.url], timeout_s=60))
        await asyncio.sleep(0.05)
        still_waiting = not waiting.done()
        old.in_flight = 0  # both answered
        await asyncio.wait_for(waiting, 10)
        quick = asyncio.ensure_future(router.until_idle([new.url], timeout_s=60))
        await asyncio.wait_for(quick, 10)  # nothing in flight there: at once
        await router.stop()
        return still_waiting, waiting.done()

    still_waiting, done = asyncio.run(scenario())
    assert still_waiting
    assert done


class Recorded(ProcessRuntime):
    """The process runtime, its stops recorded in order."""

    def __init__(self, order: list[str]) -> None:
        super().__init__()
        self.order = order

    async def stop(self, instance: RunningInstance, grace_s: float = 5.0) -> None:
        self.order.append(f"stop {instance.url}")
        await super().stop(instance, grace_s)


def test_an_instance_leaves_the_route_table_and_drains_before_it_stops(
    spec_folder: SpecFolder, tmp_path: Path
) -> None:
    folder = spec_folder(project_files())
    project = load_project(folder).raise_for_errors()
    spec = project.endpoints[0].deployments[0]
    order: list[str] = []
    routed: list[list[str]] = []

    async def scenario() -> DeploymentState:
        async with aiohttp.ClientSession() as http:
            files = ProjectFiles(folder)
            copy_server_code(files.server_code)
            runner: DeploymentRunner | None = None

            class Draining(Unrouted):
                async def drain(self, endpoint: str, urls: Sequence[str], timeout_s: float) -> None:
                    assert runner is not None
                    routed.append([url for _, url, _ in runner.targets()])
                    order.extend(f"drain {url}" for url in urls)

            ctx = engine_context(folder, project.settings, http, Recorded(order), routes=Draining())
            state = DeploymentState(name=spec.name)
            runner = DeploymentRunner(ctx, "my-endpoint", spec, state)
            await runner.create()
            assert state.provisioning_state is ProvisioningState.SUCCEEDED, state.reason
            await runner.delete()
            return state

    state = asyncio.run(scenario())
    assert order[0].startswith("drain http://127.0.0.1:"), order
    assert order[1] == "stop " + order[0].removeprefix("drain ")
    assert routed == [[]], "out of the route table while it drains"
    assert state.instances[0].state is InstancePhase.STOPPED


def test_crash_loop_backoff_grows_as_kubernetes_does() -> None:
    delays = [crash_backoff(n) for n in range(1, 9)]
    assert delays == [0.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]


def test_exit_reasons_name_the_signal() -> None:
    assert exit_cause(3) == "exited with code 3"
    assert exit_cause(-9).startswith("exited with code -9: killed by SIGKILL (out of memory")
    assert exit_cause(-15) == "exited with code -15: killed by SIGTERM"
    assert "out of memory" in exit_cause(137)


def test_a_comment_or_a_moved_key_keeps_the_fingerprint(spec_folder: SpecFolder) -> None:
    folder = spec_folder(project_files())
    before = load_project(folder).raise_for_errors().endpoints[0].deployments[0]
    text = (folder / "blue.yml").read_text()
    lines = text.splitlines()
    (folder / "blue.yml").write_text("# reviewed\n\n" + "\n".join([lines[1], lines[0], *lines[2:]]) + "\n")
    after = load_project(folder).raise_for_errors().endpoints[0].deployments[0]
    assert after.where("name") != before.where("name")
    assert reconcile.fingerprint(after, "process") == reconcile.fingerprint(before, "process")
    changed = text.replace("score.py", "other.py")
    (folder / "src" / "other.py").write_text("def init():\n    pass\n\n\ndef run(data):\n    return 1\n")
    (folder / "blue.yml").write_text(changed)
    other = load_project(folder).raise_for_errors().endpoints[0].deployments[0]
    assert reconcile.fingerprint(other, "process") != reconcile.fingerprint(before, "process")
    assert reconcile.fingerprint(before, "docker") != reconcile.fingerprint(before, "process")


def test_deployment_state_is_failed_with_this_generations_reason(
    spec_folder: SpecFolder, tmp_path: Path
) -> None:
    """A failed preparation (a missing secret) says so; the state is set by the operation."""
    extra = "environment_variables:\n  KEY: ${{azureml://connections/c/credentials/key}}\n"
    folder = spec_folder(project_files())
    (folder / "blue.yml").write_text((folder / "blue.yml").read_text() + extra)
    project = load_project(folder).raise_for_errors()
    spec = project.endpoints[0].deployments[0]

    async def scenario() -> DeploymentState:
        async with aiohttp.ClientSession() as http:
            ctx = engine_context(folder, project.settings, http, FakeRuntime())
            state = DeploymentState(name=spec.name)
            await DeploymentRunner(ctx, "my-endpoint", spec, state).create()
            return state

    state = asyncio.run(scenario())
    assert state.provisioning_state is ProvisioningState.FAILED
    assert (state.reason or "").startswith("SecretsInjectionError")
