"""One screenshot per tab of the dashboard for docs/dashboard.md, from the same fixed data as the
snapshot tests: `python -m tests.tui.screenshots` writes docs/images/dashboard-TAB.svg (SVGs, as
Textual exports them; a browser shows them). tests/test_docs.py fails when one is stale."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.tui.fixed import FixedSource, quickstart
from workbench.tui.app import WorkbenchApp
from workbench.tui.keys import TABS

SIZE = (120, 32)
FOLDER = Path(__file__).parents[2] / "docs" / "images"
KEYS = {"logs": ("down",), "metrics": ("2",), "invoke": ("ctrl+s",), "mirror": ("4",), "events": ("5",)}
"""What is pressed for each tab: blue's log, the rest from the endpoint."""


async def screenshot(tab: str) -> str:
    app = WorkbenchApp(FixedSource(quickstart()))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        await pilot.press(*KEYS[tab])
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        return app.export_screenshot(title=f"workbench up: the {tab} tab")


def screenshots() -> dict[str, str]:
    return {tab: asyncio.run(screenshot(tab)) for tab in TABS}


def main(folder: Path = FOLDER) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for tab, svg in screenshots().items():
        (folder / f"dashboard-{tab}.svg").write_text(svg)
        print(f"wrote {folder / f'dashboard-{tab}.svg'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else FOLDER)
