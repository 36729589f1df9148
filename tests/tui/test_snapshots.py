"""Snapshots of the dashboard's main screens with fixed data (`--snapshot-update` accepts new
ones after a human looked at them: the SVGs open in a browser)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.tui.fixed import FixedSource, crowded, quickstart
from tests.tui.screenshots import FOLDER, screenshots
from workbench.tui.app import WorkbenchApp

SMALL, LARGE = (80, 24), (200, 60)


async def settle(pilot: Pilot[Any]) -> None:
    """Let the status poll, the log stream and the metrics arrive."""
    await pilot.pause(0.3)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.3)


def pressing(*keys: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Settle, press `keys`, then wait again for what they started (a tab's metrics, an invoke)
    to finish, so that the snapshot shows its outcome however busy the machine is."""

    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press(*keys)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return run


def app(endpoints: Any = None) -> WorkbenchApp:
    return WorkbenchApp(FixedSource(endpoints if endpoints is not None else quickstart()))


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "200x60"])
def test_logs_of_a_deployment(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(app(), terminal_size=size, run_before=pressing("down"))


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "200x60"])
def test_metrics(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(app(), terminal_size=size, run_before=pressing("2"))


def test_invoke_answer(snap_compare: Any) -> None:
    assert snap_compare(app(), terminal_size=(120, 40), run_before=pressing("ctrl+s"))


def test_mirror_comparison(snap_compare: Any) -> None:
    assert snap_compare(app(), terminal_size=(120, 30), run_before=pressing("4"))


def test_traffic_editor_shows_the_rule_a_change_breaks(snap_compare: Any) -> None:
    assert snap_compare(app(), terminal_size=SMALL, run_before=pressing("t", "m", "right"))


def test_help_lists_every_key(snap_compare: Any) -> None:
    assert snap_compare(app(), terminal_size=(100, 50), run_before=pressing("question_mark"))


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "200x60"])
def test_twenty_deployments_with_long_names(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(app(crowded()), terminal_size=size, run_before=settle)


def test_the_docs_screenshots_are_current() -> None:
    """docs/dashboard.md shows one per tab; `python -m tests.tui.screenshots` writes them anew."""
    for tab, svg in screenshots().items():
        path = FOLDER / f"dashboard-{tab}.svg"
        assert path.is_file(), f"{path} missing: python -m tests.tui.screenshots"
        assert path.read_text() == svg, f"{path} is stale: python -m tests.tui.screenshots"
        assert f"(images/dashboard-{tab}.svg)" in (FOLDER.parent / "dashboard.md").read_text()
