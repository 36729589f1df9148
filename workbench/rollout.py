"""`workbench rollout`: Azure's safe rollout as Flagger runs a canary. The new deployment gets its
traffic in steps (optionally mirrored copies first); each step runs for an interval and is judged
on the router's figures for that window alone (the new deployment's error rate, its p99); a
threshold crossed puts the traffic back where it was before the rollout, at once, and says which
step, which figure and which threshold. Ctrl-C does the same. Traffic for the analysis comes from
real callers, or is generated (`--request-file --rate`), so that a rollout can be rehearsed alone.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from workbench.client import EngineClient
from workbench.contract import DeploymentMetrics
from workbench.errors import WorkbenchError
from workbench.loadgen import LoadPlan, run_load

ERRORS = ("408", "424", "429")
"""Statuses that count as the deployment failing a request, with every 5xx and 0 (a mirrored copy
that got no answer): a timeout, a run() that raised, too many requests for its instances."""
POLL_S = 1.0
SURE_AFTER = 10
"""Requests in a step before a threshold may fail it early; the step's end judges whatever came."""
ROLLED_BACK = 4

Say = Callable[[str], None]


@dataclass(frozen=True)
class RolloutPlan:
    endpoint: str
    deployment: str
    steps: tuple[int, ...] = (10, 50, 100)
    interval_s: float = 30.0
    mirror_first: int = 0
    """A share of live requests copied to the new deployment before it takes any (0: none)."""
    max_error_rate: float = 1.0
    """Percent of the new deployment's requests in a step that may fail."""
    max_p99_ms: float | None = None

    def __post_init__(self) -> None:
        if (
            not self.steps
            or any(not 0 < s <= 100 for s in self.steps)
            or list(self.steps) != sorted(self.steps)
        ):
            raise WorkbenchError("--steps are rising shares from 1 to 100, e.g. 10,50,100")
        if not 0 <= self.mirror_first <= 50:
            raise WorkbenchError("--mirror-first is a share from 0 to 50 (Azure mirrors at most 50%)")
        if self.interval_s <= 0:
            raise WorkbenchError("--interval is a number of seconds above 0")


@dataclass(frozen=True)
class Window:
    """What the router counted for the new deployment during one step."""

    step: str
    requests: int
    failed: int
    p99_ms: float | None

    @property
    def error_rate(self) -> float:
        return 100.0 * self.failed / self.requests if self.requests else 0.0

    def line(self) -> str:
        p99 = f"{self.p99_ms:.1f} ms" if self.p99_ms is not None else "-"
        return f"{self.step:>12}  {self.requests:6d} requests  {self.error_rate:5.1f}% failed  p99 {p99}"


class RolledBack(WorkbenchError):
    """A threshold crossed: the traffic is back as it was."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step


def run_rollout(
    client: EngineClient, plan: RolloutPlan, say: Say, load: LoadPlan | None = None
) -> list[Window]:
    """The rollout, step by step; the windows it judged. Raises RolledBack (the traffic put back)
    when a step fails, and puts it back on Ctrl-C too before the interrupt goes on."""
    endpoint = next((e for e in client.status() if e.name == plan.endpoint), None)
    if endpoint is None:
        raise WorkbenchError(f"no endpoint {plan.endpoint}")
    if endpoint.deployment(plan.deployment) is None:
        raise WorkbenchError(f"endpoint {plan.endpoint} has no deployment {plan.deployment}")
    before, mirror_before = dict(endpoint.traffic), dict(endpoint.mirror_traffic)
    others = {name: share for name, share in before.items() if share and name != plan.deployment}
    if not others:
        raise WorkbenchError(
            f"no other deployment of {plan.endpoint} takes traffic: there is nothing to roll out from "
            f"(`workbench traffic {plan.endpoint} {plan.deployment}=100` moves it all at once)"
        )
    say(f"{plan.endpoint}: rolling out {plan.deployment} from {_shares(before)}")
    if load is not None:
        _generate(load, say)
    windows: list[Window] = []

    def back(why: str) -> None:
        client.set_traffic(plan.endpoint, before, mirror_before)
        say(f"{plan.endpoint}: traffic back to {_shares(before)}, mirror {_shares(mirror_before)} ({why})")

    try:
        if plan.mirror_first:
            client.set_traffic(
                plan.endpoint, {**before, plan.deployment: 0}, {plan.deployment: plan.mirror_first}
            )
            say(f"  mirror {plan.mirror_first}% to {plan.deployment} for {plan.interval_s:g} s")
            windows.append(_judge(client, plan, f"mirror {plan.mirror_first}%", mirrored=True))
            client.set_traffic(plan.endpoint, {**before, plan.deployment: 0}, {})
        for share in plan.steps:
            traffic = _split(others, plan.deployment, share)
            client.set_traffic(plan.endpoint, traffic, {})
            say(f"  {plan.deployment} {share}% ({_shares(traffic)}) for {plan.interval_s:g} s")
            windows.append(_judge(client, plan, f"{share}%", mirrored=False))
    except RolledBack as failed:
        back(f"step {failed.step} failed")
        raise failed
    except KeyboardInterrupt:
        back("interrupted")
        raise
    say(f"{plan.endpoint}: {plan.deployment} takes 100%; " + ", ".join(others) + " kept, with no traffic")
    return windows


def _judge(client: EngineClient, plan: RolloutPlan, step: str, *, mirrored: bool) -> Window:
    """The step's window, watched each second; fails as soon as a threshold is crossed."""
    start = _figures(client, plan)
    began = time.time()
    deadline = time.monotonic() + plan.interval_s
    while True:
        time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))
        window = _window(step, start, _figures(client, plan), began, mirrored=mirrored)
        over = time.monotonic() >= deadline
        crossed = _crossed(window, plan) if over or window.requests >= SURE_AFTER else None
        if crossed is not None:
            raise RolledBack(step, f"{plan.endpoint}/{plan.deployment} at {step}: {crossed}\n{window.line()}")
        if over:
            if not window.requests:
                raise RolledBack(
                    step,
                    f"{plan.endpoint}/{plan.deployment} at {step}: no request reached it in "
                    f"{plan.interval_s:g} s, so nothing can be judged (send traffic, or give "
                    "--request-file and --rate)",
                )
            return window


def _crossed(window: Window, plan: RolloutPlan) -> str | None:
    if window.requests and window.error_rate > plan.max_error_rate:
        return (
            f"{window.error_rate:.1f}% of its requests failed; --max-error-rate is {plan.max_error_rate:g}%"
        )
    if plan.max_p99_ms is not None and window.p99_ms is not None and window.p99_ms > plan.max_p99_ms:
        return f"p99 {window.p99_ms:.1f} ms; --max-p99-ms is {plan.max_p99_ms:g}"
    return None


def _figures(client: EngineClient, plan: RolloutPlan) -> DeploymentMetrics:
    return client.metrics(plan.endpoint).deployments.get(plan.deployment) or DeploymentMetrics()


def _window(
    step: str, start: DeploymentMetrics, now: DeploymentMetrics, began: float, *, mirrored: bool
) -> Window:
    """The difference between two readings: requests and failures in between; the worst p99 of
    the seconds since the step began (the router's timeline)."""
    if mirrored:
        statuses = {k: v - start.mirror_statuses.get(k, 0) for k, v in now.mirror_statuses.items()}
        requests = now.mirrored - start.mirrored
        p99 = None
    else:
        statuses = {k: v - start.statuses.get(k, 0) for k, v in now.statuses.items()}
        requests = now.requests - start.requests
        timeline = now.timeline
        recent = [
            p
            for s, p in zip(timeline.second, timeline.p99_ms, strict=False)
            if s >= int(began) and p is not None
        ]
        p99 = max(recent) if recent else None
    failed = sum(n for status, n in statuses.items() if status in ERRORS or status[0] in "05")
    return Window(step, requests, failed, p99)


def _split(others: dict[str, int], new: str, share: int) -> dict[str, int]:
    """`share` to the new deployment, the rest to the others in their proportions (whole
    percents that total 100: the largest takes the rounding)."""
    total = sum(others.values())
    rest = 100 - share
    split = {name: rest * value // total for name, value in others.items()}
    largest = max(others, key=lambda name: others[name])
    split[largest] += rest - sum(split.values())
    return {**split, new: share}


def _shares(table: dict[str, int]) -> str:
    return " ".join(f"{name}={share}" for name, share in table.items() if share) or "none"


def _generate(load: LoadPlan, say: Say) -> None:
    """The load, in a thread of its own for the rollout's length (a rehearsal with no callers)."""
    say(f"  sending {load.rate:g} requests a second for up to {load.duration_s:g} s")
    thread = threading.Thread(target=lambda: asyncio.run(run_load(load)), daemon=True, name="rollout-load")
    thread.start()
