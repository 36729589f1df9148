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
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.atomic import write_whole
from workbench.canary import RolloutNews, RolloutPlan, Window
from workbench.client import EngineClient
from workbench.errors import NotFound, WorkbenchError
from workbench.loadgen import LoadPlan, run_load

ROLLED_BACK = 4

Say = Callable[[str], None]


class RolledBack(WorkbenchError):
    """A threshold crossed: the traffic is back as it was."""

    def __init__(self, step: str | None, message: str, report: Report) -> None:
        super().__init__(message)
        self.step = step
        self.report = report


@dataclass(frozen=True)
class Report:
    """What a rollout did, written as JSON beside the project's other state."""

    plan: RolloutPlan
    windows: tuple[Window, ...]
    outcome: RolloutNews

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan.to_json(),
            "steps": [w.to_json() for w in self.windows],
            "outcome": "rolled back" if self.outcome.rolled_back else "completed",
            "failed_step": self.outcome.step,
            "message": self.outcome.message,
            "traffic_after": self.outcome.traffic,
        }

    def write(self, folder: Path) -> Path:
        """Into `folder` (the project's .workbench/rollouts), named by endpoint, deployment and time."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = folder / f"{self.plan.endpoint}-{self.plan.deployment}-{stamp}.json"
        folder.mkdir(parents=True, exist_ok=True)
        write_whole(path, json.dumps(self.to_json(), indent=2) + "\n")
        return path


def run_rollout(client: EngineClient, plan: RolloutPlan, say: Say, load: LoadPlan | None = None) -> Report:
    """The rollout, step by step, each step's figures said as it is judged; what it did. Raises
    RolledBack (the traffic put back, its report with it) when a step fails; on Ctrl-C the engine
    puts the traffic back before the interrupt goes on."""
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
                say(f"  judged {line.window.line().strip()}")
            if line.finished:
                report = Report(plan, tuple(windows), line)
                if line.rolled_back:
                    raise RolledBack(line.step, line.message or "rolled back", report)
                if line.message:
                    say(line.message)
                return report
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
