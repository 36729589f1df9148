"""A deployment's code and model reloaded in place: staged again (only what changed), then every
instance asked to reload (init() run again only when the model changed); one event per save
with how it went, or the failure with the user's file and line. azmlinfsrv has no in-place
reload: there, each instance restarts in turn."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from workbench.engine.blobs import BlobStore
from workbench.engine.instances import ReloadOutcome
from workbench.engine.storage import refresh
from workbench.errors import StartupError
from workbench.state import EventKind, EventSeverity

if TYPE_CHECKING:
    from workbench.engine.deployments import DeploymentRunner


async def reload_in_place(runner: DeploymentRunner, cause: str, *, if_changed: bool) -> None:
    """The reload of `runner`'s code (DeploymentRunner.reload_code holds its lock around it);
    `if_changed`: nothing when no staged file changed."""
    generation = runner.generation
    if generation is None or generation.spec.code_configuration is None:
        return
    started = time.perf_counter()
    try:
        changed = await asyncio.to_thread(
            refresh,
            generation.spec,
            generation.folder,
            runner.ctx.files.logs(runner.endpoint, runner.name) / "storage-initializer.log",
            BlobStore.at(runner.ctx.files.blobs),
            runner.ctx.files.project,
        )
    except StartupError as exc:
        runner.ctx.store.publish(EventKind.RELOAD_FAILED, runner.subject, str(exc), EventSeverity.ERROR)
        return
    if if_changed and not changed:
        return
    runner.ctx.store.publish(
        EventKind.RELOAD,
        runner.subject,
        f"model and code staged again in {(time.perf_counter() - started) * 1000:.0f} ms "
        f"({changed} file(s) changed); reloading {len(runner.instances)} instance(s)",
    )
    if generation.settings.server == "azmlinfsrv":  # no in-place reload there: rolling restarts
        for instance in list(runner.instances):
            await instance.restart(f"azmlinfsrv has no in-place reload; {cause}")
            await instance.settled.wait()
        return
    outcomes = [o for o in await asyncio.gather(*(i.reload(cause) for i in list(runner.instances))) if o]
    for outcome in outcomes:
        runner.state.last_reload = f"{outcome.instance}: {outcome.message}"
    _sum_up(runner, outcomes)
    for instance in list(runner.instances):  # one that gave up gets a new chance with the fix
        if instance.failure is not None:
            await instance.restart(cause)


def _sum_up(runner: DeploymentRunner, outcomes: list[ReloadOutcome]) -> None:
    """One event for a save, whatever the number of instances: a failure first (with the
    user's file and line, kept on the deployment until a fix loads), else how it went."""
    if not outcomes:
        return
    failed = [o for o in outcomes if o.failed]
    if failed:
        first = next((o for o in failed if o.failure is not None), failed[0])
        runner.state.failure = first.failure or runner.state.failure
        message = f"{first.message} (in {len(failed)} of {len(outcomes)} instance(s))"
        runner.ctx.store.publish(
            EventKind.RELOAD_FAILED, runner.subject, message, EventSeverity.ERROR, failure=first.failure
        )
        return
    runner.state.failure = None
    suffix = f" (all {len(outcomes)} instances)" if len(outcomes) > 1 else ""
    runner.ctx.store.publish(EventKind.RELOAD, runner.subject, outcomes[-1].message + suffix)
