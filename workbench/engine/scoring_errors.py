"""The user's run() failing requests (the router answered 424): each counted on the deployment,
and the traceback the instance logged read for the user's file and line, one read at a time
(an error that comes during a read is counted, and the next one reads again)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from workbench.engine import failures
from workbench.engine.instances import InstanceRunner, log_tail
from workbench.engine.store import Store
from workbench.state import DeploymentState, EventKind, EventSeverity

SCORING_ERROR_LINES = 60
"""Of an instance's log, read for the traceback of a run() that failed."""


class ScoringErrors:
    def __init__(
        self, store: Store, subject: str, state: DeploymentState, on_change: Callable[[], None]
    ) -> None:
        self.store = store
        self.subject = subject
        self.state = state
        self.on_change = on_change
        self._reading = False

    def count(self, instance: InstanceRunner | None) -> None:
        """One more request that run() failed, on `instance` (None: gone since)."""
        self.state.scoring_errors += 1
        self.on_change()
        if instance is None or self._reading:
            return
        self._reading = True
        task = asyncio.get_running_loop().create_task(self._read(instance))
        task.add_done_callback(lambda _: setattr(self, "_reading", False))

    async def _read(self, instance: InstanceRunner) -> None:
        generation = instance.generation
        code = generation.spec.code_configuration
        tail = await asyncio.to_thread(log_tail, instance.log_file, SCORING_ERROR_LINES)
        lines = [generation.user_paths(line) for line in tail]
        failure = failures.from_traceback(lines, str(code.code) if code else None)
        if failure is None or failure == self.state.last_scoring_error:
            return
        self.state.last_scoring_error = failure
        self.on_change()
        self.store.publish(
            EventKind.SCORING_ERROR,
            self.subject,
            f"run() failed at {failure.summary()} ({self.state.scoring_errors} request(s) so far)",
            EventSeverity.WARNING,
            failure=failure,
        )
