"""The engine's event loop: uvloop where installed, asyncio's own when asked."""

from __future__ import annotations

import asyncio

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
