"""One deployment's life: its operations (create, update, scale, delete), its instances, reloads.

Operations run one at a time and own the provisioning state: Creating or Updating from the
moment one starts until it ends; Succeeded only once every instance of the new generation is
ready; Failed with the reason of this generation. A newer operation supersedes one in progress
(two saves in a row: the second wins), cancelling its build or rollout; what the first had
started is counted by the second, so the deployment ends with exactly `instance_count`
instances. Between operations, the state follows the instances: one that gives up fails the
deployment, and the deployment succeeds again once they are all ready.

An update replaces the instances one at a time, each new one ready before an old one drains
and stops. Instances that serve nothing (still starting, crashed, failed) leave at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from workbench.contract import DebugSession, Shell
from workbench.engine import debugging, eventloop
from workbench.engine.blobs import BlobStore
from workbench.engine.context import Context
from workbench.engine.generation import Generation
from workbench.engine.instances import InstanceRunner
from workbench.engine.preparation import Preparer
from workbench.engine.pressure import DeploymentPressure
from workbench.engine.reloads import reload_in_place
from workbench.engine.scoring_errors import ScoringErrors
from workbench.errors import EngineError, NotFound, StartupError, bug_summary
from workbench.spec.deployment import DeploymentSpec
from workbench.state import DeploymentState, EventKind, EventSeverity, InstancePhase, ProvisioningState

Outcome = tuple[ProvisioningState, str]
"""How an operation ended: the state and why."""


class DeploymentRunner:
    def __init__(self, ctx: Context, endpoint: str, spec: DeploymentSpec, state: DeploymentState) -> None:
        self.ctx = ctx
        self.endpoint = endpoint
        self.state = state
        self.spec = spec
        self.preparer = Preparer(ctx, endpoint, spec.name)
        self.generation: Generation | None = None
        self.instances: list[InstanceRunner] = []
        self.leaving: list[InstanceRunner] = []
        """Instances draining or stopping: out of the route table, still shown."""
        self.operation: asyncio.Task[None] | None = None
        self.unprepared = False
        """The last operation failed before it started any instance (a build, staging, a secret):
        the next reconcile tries again, whatever changed (a secret in workbench.yaml, the network)."""
        self.lock = asyncio.Lock()
        """One reload, restart or debugger switch at a time."""
        self._busy = False
        self._serial = 0
        self._started = time.monotonic()
        self._stopping: set[asyncio.Task[None]] = set()
        self._pressure = DeploymentPressure(ctx.store, self.subject, ctx.on_change)
        self._scoring_errors = ScoringErrors(ctx.store, self.subject, state, ctx.on_change)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def subject(self) -> str:
        return f"{self.endpoint}/{self.name}"

    @property
    def scoring_path(self) -> str | None:
        return self.generation.scoring_path if self.generation else None

    @property
    def spec(self) -> DeploymentSpec:
        return self._spec

    @spec.setter
    def spec(self, spec: DeploymentSpec) -> None:
        """The spec it runs, said in its state as it changes (the describe view shows it)."""
        self._spec = spec
        self.state.spec = spec.summary()

    def targets(self) -> list[tuple[str, str, bool]]:
        """(instance id, URL, under the debugger) for every process the router may use."""
        return [
            (i.state.id, url, i.debugging is not None)
            for i in self.instances + self.leaving
            for url in i.routes()
        ]

    # -- operations --------------------------------------------------------------------------

    def create(self) -> asyncio.Task[None]:
        return self._begin(ProvisioningState.CREATING, "creating", self._create)

    def update(self, spec: DeploymentSpec) -> asyncio.Task[None]:
        """New instances from `spec`, one at a time, each ready before an old one drains."""
        return self._begin(ProvisioningState.UPDATING, "replacing instances", lambda: self._replace(spec))

    def scale(self, count: int) -> asyncio.Task[None]:
        return self._begin(
            ProvisioningState.UPDATING, f"scaling to {count} instance(s)", lambda: self._scale(count)
        )

    async def delete(self) -> None:
        """Cancel what is in progress, then drain and stop every instance."""
        await self._cancel_operation()
        async with self.lock:
            self._set(ProvisioningState.DELETING, "deleting")
            leaving, self.instances = self.instances, []
            await asyncio.gather(*(self._remove(i) for i in leaving))
            await asyncio.gather(*list(self._stopping))

    def _begin(
        self, state: ProvisioningState, why: str, work: Callable[[], Coroutine[Any, Any, Outcome]]
    ) -> asyncio.Task[None]:
        previous = self.operation
        # Said at once, not once the task runs: whoever applied the change and then reads the
        # state (azlocal, promote) sees the operation, never the state from before it.
        self.state.provisioning_state = state

        async def run() -> None:
            if previous is not None and not previous.done():
                await eventloop.cancelled(previous)
            async with self.lock:
                self._busy = True
                self.unprepared = False
                self.state.reason = None
                self._set(state, why)
                try:
                    outcome = await work()
                except StartupError as exc:  # its environment, staging or secrets
                    self.unprepared = True
                    self.state.reason = str(exc)
                    outcome = ProvisioningState.FAILED, str(exc).splitlines()[0]
                finally:
                    self._busy = False
                self._set(*outcome)

        self.operation = task = asyncio.get_running_loop().create_task(run(), name=f"{self.subject} {why}")
        task.add_done_callback(self._report)
        return task

    def _report(self, task: asyncio.Task[None]) -> None:
        """A failure of the workbench itself: an event with where it happened, never a lost task."""
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        assert exc is not None
        message = f"{bug_summary(exc)}; a workbench bug"
        self.state.reason = message
        self._set(ProvisioningState.FAILED, message)

    async def _cancel_operation(self) -> None:
        if self.operation is not None and not self.operation.done():
            await eventloop.cancelled(self.operation)

    async def _create(self) -> Outcome:
        self.generation = await self.preparer.prepare(self.spec)
        return await self._until_ready([self._add_instance() for _ in range(self.spec.instance_count)])

    async def _replace(self, spec: DeploymentSpec) -> Outcome:
        generation = await self.preparer.prepare(spec)  # a failure leaves the old instances serving
        self.spec, self.generation = spec, generation
        self.state.instance_count = spec.instance_count
        for idle in [i for i in self.instances if not i.routes()]:
            await self._leave(idle)
        old = list(self.instances)
        for _ in range(spec.instance_count):
            new = self._add_instance()
            await new.settled.wait()
            if new.failure is not None:
                return self._failed(new)
            if old:
                await self._leave(old.pop(0))
        for extra in old:
            await self._leave(extra)
        await asyncio.to_thread(_remove_folders, self._old_generations())
        await asyncio.to_thread(BlobStore.at(self.ctx.files.blobs).prune)
        return self._succeeded()

    async def _scale(self, count: int) -> Outcome:
        self.spec = dataclasses.replace(self.spec, instance_count=count)
        self.state.instance_count = count
        if self.generation is None:
            self.generation = await self.preparer.prepare(self.spec)
        while len(self.instances) > count:  # what serves nothing leaves first, then the newest
            idle = [i for i in self.instances if not i.routes()]
            await self._leave(idle[-1] if idle else self.instances[-1])
        return await self._until_ready([self._add_instance() for _ in range(count - len(self.instances))])

    async def _until_ready(self, instances: list[InstanceRunner]) -> Outcome:
        for instance in instances:
            await instance.settled.wait()
            if instance.failure is not None:
                return self._failed(instance)
        return self._succeeded()

    def _failed(self, instance: InstanceRunner) -> Outcome:
        self.state.reason, self.state.failure = instance.failure, instance.code_failure
        return ProvisioningState.FAILED, (instance.failure or "").splitlines()[0]

    def _succeeded(self) -> Outcome:
        ready = sum(1 for i in self.instances if i.state.state is InstancePhase.READY)
        elapsed = time.monotonic() - self._started
        return (
            ProvisioningState.SUCCEEDED,
            f"{ready}/{self.spec.instance_count} instance(s) ready in {elapsed:.1f} s",
        )

    # -- instances ---------------------------------------------------------------------------

    def _add_instance(self) -> InstanceRunner:
        assert self.generation is not None
        runner = InstanceRunner(self.ctx, self.generation, self._serial, self.instance_changed)
        self._serial += 1
        self.instances.append(runner)
        runner.start()
        self.instance_changed()
        return runner

    async def _leave(self, instance: InstanceRunner) -> None:
        """Take `instance` out of the deployment: drained and stopped, even if the operation that
        asked for it is cancelled meanwhile."""
        if instance in self.instances:
            self.instances.remove(instance)
        await asyncio.shield(self._remove(instance))

    def _remove(self, instance: InstanceRunner) -> asyncio.Task[None]:
        self.leaving.append(instance)

        async def stop() -> None:
            try:
                await instance.stop()
            finally:
                self.leaving.remove(instance)
                self.instance_changed()

        task = asyncio.get_running_loop().create_task(stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)
        return task

    def _old_generations(self) -> list[Path]:
        """Staged folders no instance runs from any more."""
        used = {i.generation.folder for i in self.instances + self.leaving}
        if self.generation is not None:
            used.add(self.generation.folder)
        staged = self.ctx.files.staged(self.endpoint, self.name)
        return [f for f in staged.glob("g*") if f not in used] if staged.is_dir() else []

    def instance(self, instance_id: str) -> InstanceRunner:
        found = next((i for i in self.instances if i.state.id == instance_id), None)
        if found is None:
            known = ", ".join(i.state.id for i in self.instances) or "none"
            raise NotFound(f"deployment {self.subject} has no instance {instance_id} (it has: {known})")
        return found

    def shell(self, instance_id: str) -> Shell:
        """How to open a shell inside the instance (`workbench shell`, the dashboard's s)."""
        instance = self.instance(instance_id)
        if instance.running is None:
            raise EngineError(f"{self.endpoint}/{instance_id} is not running ({instance.state.state.value})")
        return instance.generation.runtime.shell(instance.running)

    async def kill(self, instance_id: str) -> None:
        await self.instance(instance_id).kill()

    async def pressure(self, instance_id: str | None, cpu_cores: int, memory_mb: int, seconds: float) -> str:
        """Pressure on one instance, or on every ready one; in words."""
        ready = [i for i in self.instances if i.state.state is InstancePhase.READY]
        targets = [self.instance(instance_id)] if instance_id else ready
        if not targets:
            raise EngineError(f"{self.subject} has no ready instance to put under pressure")
        return await self._pressure.apply(targets, cpu_cores, memory_mb, seconds)

    def show_faults(self, injected: str) -> None:
        """The faults the routing applies to this deployment, as its state says them (with the
        pressure applied here): the routing tells, the runner writes."""
        self.state.faults = "; ".join(filter(None, [injected, self._pressure.said()])) or None

    def show_override(self, said: str | None) -> None:
        """The scale override the reconcile loop applies, in words (None: the YAML's count)."""
        self.state.scaled = said

    async def restart_all(self, cause: str) -> None:
        """A rolling restart: one instance at a time, each serving from its old process until its
        new one is ready, so the deployment never has fewer ready instances than before."""
        async with self.lock:
            instances = list(self.instances)
            self.ctx.store.publish(
                EventKind.DEPLOYMENT,
                self.subject,
                f"rolling restart of {len(instances)} instance(s) ({cause})",
            )
            for instance in instances:
                await instance.restart(cause)
                await instance.settled.wait()
            self.ctx.store.publish(EventKind.DEPLOYMENT, self.subject, f"rolling restart done ({cause})")

    async def restart(self, instance_id: str, cause: str) -> None:
        instance = self.instance(instance_id)
        async with self.lock:
            await instance.restart(cause)

    def instance_changed(self) -> None:
        """Publish the instances' change; between operations, the deployment's state follows them.
        While it is deleted, its instances stay listed to the end, each with its own state."""
        if self.state.provisioning_state is ProvisioningState.DELETING:
            self.ctx.on_change()
            return
        self.state.instances = [i.state for i in self.instances + self.leaving]
        self.ctx.on_change()
        if self._busy:
            return
        failed = next((i for i in self.instances if i.failure is not None), None)
        ready = [i for i in self.instances if i.state.state is InstancePhase.READY]
        if failed is not None and len(ready) < self.spec.instance_count:
            if self.state.provisioning_state is not ProvisioningState.FAILED:
                self._set(*self._failed(failed))
        elif (
            len(ready) >= self.spec.instance_count
            and self.state.provisioning_state is ProvisioningState.FAILED
            and self.generation is not None
        ):
            self._set(
                ProvisioningState.SUCCEEDED, f"{len(ready)}/{self.spec.instance_count} instance(s) ready"
            )

    def _set(self, state: ProvisioningState, why: str) -> None:
        if state in (ProvisioningState.CREATING, ProvisioningState.UPDATING):
            self._started = time.monotonic()
        if state is ProvisioningState.SUCCEEDED:  # the code loads: what failed before is fixed
            self.state.reason = self.state.failure = None
        self.state.provisioning_state = state
        self.ctx.on_change()
        failed = state is ProvisioningState.FAILED
        self.ctx.store.publish(
            EventKind.DEPLOYMENT,
            self.subject,
            f"{state.value}: {why}",
            EventSeverity.ERROR if failed else EventSeverity.INFO,
            failure=self.state.failure if failed else None,
        )

    # -- the user's run() failing -------------------------------------------------------------

    def model_error(self, instance_id: str) -> None:
        """A request that run() failed (the router answered 424): counted, its traceback read."""
        self._scoring_errors.count(next((i for i in self.instances if i.state.id == instance_id), None))

    # -- code reload and debugging -----------------------------------------------------------

    async def reload_code(self, cause: str, *, if_changed: bool = False) -> None:
        """Stage the model and code again in place and have every ready instance reload; each
        instance's outcome (time taken, init() run or kept, or the failure with file and line)
        is an event. `if_changed`: only when a staged file changed (the file watcher and promote
        both ask for the same edit; the second finds nothing new and reloads nothing)."""
        async with self.lock:
            try:
                await reload_in_place(self, cause, if_changed=if_changed)
            finally:
                self.state.reloads += 1
                self.ctx.on_change()

    async def debug(self, instance_id: str, *, wait: bool) -> DebugSession:
        return await debugging.debug(self, instance_id, wait=wait)

    async def stop_debugging(self, instance_id: str) -> None:
        await debugging.stop_debugging(self, instance_id)


def _remove_folders(folders: list[Path]) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
