"""The canary rollout, run by the engine: the new deployment's traffic moved in steps (optionally
mirrored copies first), each step judged on the router's figures for its window alone, and the
traffic put back as it was, at once, when a threshold is crossed, when the caller leaves (Ctrl-C,
a killed command, a laptop closed on the SSH tunnel to a remote host) or when the engine stops.

Running it here rather than in the command is what makes that hold: the engine sets the traffic,
so the engine is the one that can always put it back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from workbench.canary import SURE_AFTER, RolloutNews, RolloutPlan, Window, crossed, said, split, window
from workbench.contract import DeploymentMetrics, EndpointMetrics
from workbench.engine.routing import Routing
from workbench.engine.store import Store
from workbench.errors import EngineError, NotFound
from workbench.state import EventKind, EventSeverity

POLL_S = 1.0
Tell = Callable[[RolloutNews], Awaitable[None]]
"""Sends one line to the caller; raises ConnectionError once the caller has gone."""
Gone = Callable[[], bool]


class RollbackNeeded(Exception):
    """A step failed, the caller stopped it or left: the traffic goes back."""

    def __init__(self, step: str | None, message: str, cause: str | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.cause = cause or (f"step {step} failed" if step else "rolled back")
        """In the line that says the traffic is back: `step 10% failed`, `interrupted`."""


class Canaries:
    """The rollouts in progress, one per endpoint at most."""

    def __init__(self, routing: Routing, store: Store) -> None:
        self.routing = routing
        self.store = store
        self.running: dict[str, _Run] = {}

    def begin(self, plan: RolloutPlan, tell: Tell, gone: Gone) -> _Run:
        """A rollout of `plan`, checked and held as the endpoint's one (refused with why: no such
        deployment, nothing to roll out from, one already running); `run` runs it."""
        if plan.endpoint in self.running:
            raise EngineError(f"a rollout of {plan.endpoint} is already running: one at a time")
        if plan.endpoint not in self.routing.routers:
            raise NotFound(f"Local endpoint ({plan.endpoint}) does not exist.")
        deployments = self.routing.deployments_of(plan.endpoint)
        if plan.deployment not in deployments:
            known = ", ".join(deployments) or "none"
            raise NotFound(f"endpoint {plan.endpoint} has no deployment {plan.deployment} (it has: {known})")
        traffic, mirror = self.routing.effective_traffic(plan.endpoint)
        others = {name: share for name, share in traffic.items() if share and name != plan.deployment}
        if not others:
            raise EngineError(
                f"no other deployment of {plan.endpoint} takes traffic: there is nothing to roll out "
                f"from (`workbench traffic {plan.endpoint} {plan.deployment}=100` moves it all at once)"
            )
        run = self.running[plan.endpoint] = _Run(self, plan, _Before(traffic, mirror, others), tell, gone)
        return run

    async def run(self, run: _Run) -> RolloutNews:
        """The rollout, step by step, told as it goes; its end (also told). Cancelled (the
        engine stopping), it puts the traffic back before the cancellation goes on."""
        try:
            news = await run.steps()
        finally:
            del self.running[run.plan.endpoint]
        run.ended.set_result(news)
        return news

    async def stop(self, endpoint: str) -> RolloutNews:
        """Stop the endpoint's rollout (Ctrl-C in the command that runs it): the traffic back as
        it was; its last word."""
        run = self.running.get(endpoint)
        if run is None:
            raise NotFound(f"no rollout of {endpoint} is running")
        run.stop("interrupted")
        return await asyncio.shield(run.ended)

    async def stop_all(self) -> None:
        """Every rollout's traffic back as it was, before the engine stops (its routers with it)."""
        runs = list(self.running.values())
        for run in runs:
            run.stop("the engine stopped")
        for run in runs:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(run.ended)


@dataclass(frozen=True)
class _Before:
    """The traffic and mirror before the rollout (where it goes back to), and the deployments
    that served then (which share what the new one does not take)."""

    traffic: dict[str, int]
    mirror: dict[str, int]
    others: dict[str, int]


class _Run:
    def __init__(
        self, canaries: Canaries, plan: RolloutPlan, before: _Before, tell: Tell, gone: Gone
    ) -> None:
        self.routing, self.store = canaries.routing, canaries.store
        self.plan, self._tell, self.gone = plan, tell, gone
        self.before, self.mirror_before, self.others = before.traffic, before.mirror, before.others
        self.subject = f"{plan.endpoint}/{plan.deployment}"
        self.stopping = asyncio.Event()
        self.stopped_because = "interrupted"
        self.ended: asyncio.Future[RolloutNews] = asyncio.get_running_loop().create_future()

    async def steps(self) -> RolloutNews:
        plan = self.plan
        try:
            await self.say(f"{plan.endpoint}: rolling out {plan.deployment} from {said(self.before)}")
            if plan.mirror_first:
                kept = {**self.before, plan.deployment: 0}
                self.set(kept, {plan.deployment: plan.mirror_first})
                await self.say(
                    f"  mirror {plan.mirror_first}% to {plan.deployment} for {plan.interval_s:g} s"
                )
                await self.judge(f"mirror {plan.mirror_first}%", kept, mirrored=True)
                self.set(kept, {})
            for share in plan.steps:
                traffic = split(self.others, plan.deployment, share)
                self.set(traffic, {})
                await self.say(f"  {plan.deployment} {share}% ({said(traffic)}) for {plan.interval_s:g} s")
                await self.judge(f"{share}%", traffic, mirrored=False)
        except RollbackNeeded as failed:
            return await self.back(failed)
        except BaseException:  # the engine stopping, or a bug: never traffic left half moved
            self.put_back(RollbackNeeded(None, "the rollout ended unfinished", "the engine stopped"))
            if not self.ended.done():
                self.ended.cancel()
            raise
        rest = ", ".join(self.others)
        message = f"{plan.endpoint}: {plan.deployment} takes 100%; {rest} kept, with no traffic"
        self.store.publish(EventKind.ROLLOUT, self.subject, message)
        return await self.end(RolloutNews(finished=True, message=message, traffic={plan.deployment: 100}))

    def stop(self, because: str) -> None:
        self.stopped_because = because
        self.stopping.set()

    async def judge(self, step: str, traffic: dict[str, int], *, mirrored: bool) -> None:
        """The step's window, read each second; a threshold crossed ends it at once, as does the
        caller leaving."""
        plan = self.plan
        start = self.figures()
        began = time.time()
        deadline = time.monotonic() + plan.interval_s
        while True:
            pause = min(POLL_S, max(0.0, deadline - time.monotonic()))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), pause)
            where = f"{self.subject} at {step}"
            if self.stopping.is_set():
                why = self.stopped_because
                raise RollbackNeeded(step, f"{where}: stopped ({why})", why)
            if self.gone():
                raise RollbackNeeded(step, f"{where}: the rollout's caller left", "caller gone")
            now = self.figures()
            judged = self.window(step, start, now, began, traffic, mirrored=mirrored)
            over = time.monotonic() >= deadline
            reason = crossed(judged, plan) if over or judged.requests >= SURE_AFTER else None
            if reason is not None:
                await self.tell(RolloutNews(window=judged))
                raise RollbackNeeded(step, f"{where}: {reason}\n{judged.line()}")
            if over:
                if not judged.requests:
                    raise RollbackNeeded(
                        step,
                        f"{self.subject} at {step}: no request reached it in {plan.interval_s:g} s, so "
                        "nothing can be judged (send traffic, or give --request-file and --rate)",
                    )
                self.store.publish(
                    EventKind.ROLLOUT, self.subject, f"step {step} passed: {judged.line().strip()}"
                )
                await self.tell(RolloutNews(window=judged))
                return

    def window(
        self,
        step: str,
        start: EndpointMetrics,
        now: EndpointMetrics,
        began: float,
        traffic: dict[str, int],
        *,
        mirrored: bool,
    ) -> Window:
        name = self.plan.deployment
        differing = None
        if mirrored:
            differing = now.mirror.differed.get(name, 0) - start.mirror.differed.get(name, 0)
        return window(
            step,
            start.deployments.get(name) or DeploymentMetrics(),
            now.deployments.get(name) or DeploymentMetrics(),
            began,
            traffic,
            mirrored=mirrored,
            differing=differing,
        )

    def figures(self) -> EndpointMetrics:
        return self.routing.metrics(self.plan.endpoint)

    def set(self, traffic: dict[str, int], mirror: dict[str, int]) -> None:
        problems = self.routing.set_traffic(self.plan.endpoint, traffic, mirror)
        if problems:
            raise RollbackNeeded(None, f"{self.subject}: the traffic was refused: {'; '.join(problems)}")
        self.store.publish(EventKind.ROLLOUT, self.subject, f"traffic {said(traffic)}, mirror {said(mirror)}")

    async def back(self, failed: RollbackNeeded) -> RolloutNews:
        """The traffic and mirror as they were before the rollout, at once; told if the caller
        is still there."""
        restored = self.put_back(failed)
        news = RolloutNews(
            said=restored,
            finished=True,
            rolled_back=True,
            step=failed.step,
            message=str(failed),
            traffic=dict(self.before),
        )
        return await self.end(news)

    def put_back(self, failed: RollbackNeeded) -> str:
        problems = self.routing.set_traffic(self.plan.endpoint, self.before, self.mirror_before)
        if problems:  # a deployment of then has gone meanwhile: said, for the user to set it
            self.store.publish(
                EventKind.ROLLOUT,
                self.subject,
                f"the traffic before the rollout cannot be set again: {'; '.join(problems)}",
                EventSeverity.ERROR,
            )
        restored = (
            f"{self.plan.endpoint}: traffic back to {said(self.before)}, mirror {said(self.mirror_before)} "
            f"({failed.cause})"
        )
        self.store.publish(
            EventKind.ROLLOUT,
            self.subject,
            f"{restored}: {str(failed).splitlines()[0]}",
            EventSeverity.WARNING,
        )
        return restored

    async def say(self, line: str) -> None:
        self.store.publish(EventKind.ROLLOUT, self.subject, line.strip())
        await self.tell(RolloutNews(said=line))

    async def tell(self, news: RolloutNews) -> None:
        try:
            await self._tell(news)
        except ConnectionError as exc:
            raise RollbackNeeded(None, f"{self.subject}: the rollout's caller left", "caller gone") from exc

    async def end(self, news: RolloutNews) -> RolloutNews:
        with contextlib.suppress(ConnectionError):  # the traffic is where it must be: nobody to tell
            await self._tell(news)
        return news
