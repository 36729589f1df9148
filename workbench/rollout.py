"""`workbench rollout`: Azure's safe rollout as Flagger runs a canary. The engine runs it
(engine/canary.py): the new deployment gets its traffic in steps (optionally mirrored copies
first); each step runs for an interval and is judged on the router's figures for that window
alone; a threshold crossed puts the traffic back where it was before the rollout, at once, and
says which step, which figure and which threshold. Ctrl-C does the same, and so does this command
ending any other way (killed, or its SSH tunnel to a remote host closed), since the engine puts
the traffic back when its caller leaves.

Here: the plan sent, the engine's words shown as they come, and the traffic for the analysis,
generated when asked (`--request-file --rate`), so that a rollout can be rehearsed alone."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

from workbench.canary import RolloutPlan, Window
from workbench.client import EngineClient
from workbench.errors import NotFound, WorkbenchError
from workbench.loadgen import LoadPlan, run_load

ROLLED_BACK = 4

Say = Callable[[str], None]


class RolledBack(WorkbenchError):
    """A threshold crossed: the traffic is back as it was."""

    def __init__(self, step: str | None, message: str) -> None:
        super().__init__(message)
        self.step = step


def run_rollout(
    client: EngineClient, plan: RolloutPlan, say: Say, load: LoadPlan | None = None
) -> list[Window]:
    """The rollout, step by step; the windows it judged. Raises RolledBack (the traffic put back)
    when a step fails; on Ctrl-C the engine puts the traffic back before the interrupt goes on."""
    windows: list[Window] = []
    news = client.rollout(plan)
    try:
        first = True
        for line in news:
            if first and load is not None:  # the plan was accepted: now there is something to judge
                _generate(load, say)
            first = False
            if line.said is not None:
                say(line.said)
            if line.window is not None:
                windows.append(line.window)
            if line.finished:
                if line.rolled_back:
                    raise RolledBack(line.step, line.message or "rolled back")
                if line.message:
                    say(line.message)
                return windows
    except KeyboardInterrupt:
        with contextlib.suppress(NotFound):  # else it had ended already: nothing to stop
            say(client.stop_rollout(plan.endpoint).said or "")
        raise
    finally:
        news.close()
    raise WorkbenchError(f"the engine ended the rollout of {plan.endpoint} without its outcome")


def _generate(load: LoadPlan, say: Say) -> None:
    """The load, in a thread of its own for the rollout's length (a rehearsal with no callers)."""
    say(f"  sending {load.rate:g} requests a second for up to {load.duration_s:g} s")
    thread = threading.Thread(target=lambda: asyncio.run(run_load(load)), daemon=True, name="rollout-load")
    thread.start()
