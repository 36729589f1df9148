"""The engine's event loop: uvloop where installed, asyncio's own when asked."""

from __future__ import annotations

import asyncio
import sys

import pytest

from workbench.engine import eventloop


async def kind() -> str:
    await asyncio.sleep(0)
    return eventloop.name()


def test_uvloop_by_default_and_asyncio_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(eventloop.CHOICE, raising=False)
    assert eventloop.run(kind()) == "uvloop"
    monkeypatch.setenv(eventloop.CHOICE, "asyncio")
    assert eventloop.run(kind()) == "asyncio"


def test_a_cancellation_that_gets_lost_is_repeated_until_the_task_ends() -> None:
    """As Python 3.11's wait_for can lose one (gh-86296): a task that swallows its first
    cancellation and goes on waiting is still ended, and the wait for it returns."""
    swallowed = []

    async def stubborn(waiting: asyncio.Event) -> None:
        try:
            waiting.set()
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            swallowed.append(True)  # as wait_for does when the awaited thing completed meanwhile
        await asyncio.Event().wait()

    async def scenario() -> bool:
        waiting = asyncio.Event()
        task = asyncio.ensure_future(stubborn(waiting))
        await waiting.wait()
        await eventloop.cancelled(task, nudge_s=0.01)
        return task.cancelled()

    assert asyncio.run(scenario())
    assert swallowed == [True]


def test_a_stop_under_repeated_cancellation_runs_to_its_end_and_the_cancellation_follows() -> None:
    """The instance's stop inside a task that `cancelled` nudges every interval: every step of
    the stop is taken, and the task still ends cancelled."""
    steps: list[str] = []

    async def stop(release: asyncio.Event) -> None:
        steps.append("SIGTERM")
        await release.wait()  # the grace, through several nudges
        steps.append("SIGKILL")

    async def life(started: asyncio.Event, release: asyncio.Event) -> None:
        try:
            started.set()
            await asyncio.Event().wait()
        finally:
            await eventloop.uncancelled(stop(release))

    async def scenario() -> bool:
        started, release = asyncio.Event(), asyncio.Event()
        task = asyncio.ensure_future(life(started, release))
        await started.wait()
        ending = asyncio.ensure_future(eventloop.cancelled(task, nudge_s=0.001))
        while steps != ["SIGTERM"]:
            await asyncio.sleep(0)
        await nudged(task, ending, times=3)  # three nudges have met the stop's wait, which goes on
        assert not ending.done()
        release.set()
        await ending
        return task.cancelled()

    assert asyncio.run(scenario())
    assert steps == ["SIGTERM", "SIGKILL"]


async def nudged(task: asyncio.Task[None], ending: asyncio.Future[None], *, times: int) -> None:
    """Until `task` has been told to cancel `times` times (or has ended); Python 3.10 cannot count
    them, and gives the nudges a few turns instead (a check that only gets weaker, never false)."""
    if sys.version_info >= (3, 11):
        while task.cancelling() < times and not ending.done():
            await asyncio.wait([ending], timeout=0.001)
    else:
        await asyncio.wait([ending], timeout=0.05)
