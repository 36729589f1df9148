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
