"""The file watcher with real files and real tools: `sed -i` (a temporary file renamed onto the
script) is reported as the script alone, as an editor's plain save is; a new file is reported."""

from __future__ import annotations

import asyncio
import queue
import subprocess
import threading
from pathlib import Path

from workbench.dev.watch import Watcher


def changes_after(folder: Path, action: list[str]) -> set[Path]:
    seen: queue.Queue[set[Path]] = queue.Queue()
    with Watcher([folder], seen.put, debounce_s=1.0):  # a busy machine may be slow between steps
        subprocess.run(action, cwd=folder, check=True)
        return {p.relative_to(folder.resolve()) for p in seen.get(timeout=30)}


def test_sed_in_place_is_reported_as_the_file_it_edits(tmp_path: Path) -> None:
    (tmp_path / "score.py").write_text("def run(data):\n    return 1\n")
    assert changes_after(tmp_path, ["sed", "-i", "s/return 1/return 2/", "score.py"]) == {Path("score.py")}
    assert (tmp_path / "score.py").read_text().endswith("return 2\n")


def test_a_plain_write_and_a_new_file_are_reported(tmp_path: Path) -> None:
    (tmp_path / "score.py").write_text("x = 1\n")
    assert changes_after(tmp_path, ["sh", "-c", "echo 'x = 2' > score.py"]) == {Path("score.py")}
    assert changes_after(tmp_path, ["sh", "-c", "echo 'y = 1' > helper.py"]) == {Path("helper.py")}


def test_a_file_renamed_that_was_there_before_is_reported_by_both_names(tmp_path: Path) -> None:
    (tmp_path / "old.py").write_text("x = 1\n")
    assert changes_after(tmp_path, ["mv", "old.py", "new.py"]) == {Path("old.py"), Path("new.py")}


def test_on_a_loop_the_changes_arrive_on_the_loop_once_per_gathering(tmp_path: Path) -> None:
    """The engine's way: the gathering and the delivery on its own loop, no thread per event."""
    (tmp_path / "score.py").write_text("x = 1\n")

    async def watch() -> tuple[set[Path], bool, bool]:
        loop = asyncio.get_running_loop()
        arrived: asyncio.Queue[tuple[set[Path], bool]] = asyncio.Queue()
        with Watcher(
            [tmp_path], lambda paths: arrived.put_nowait((paths, _on(loop))), loop=loop, debounce_s=1.0
        ):
            for n in range(5):  # five writes in a row: one gathering
                (tmp_path / "score.py").write_text(f"x = {n}\n")
            paths, on_loop = await asyncio.wait_for(arrived.get(), 30)
            timers = any(isinstance(t, threading.Timer) for t in threading.enumerate())
        return {p.relative_to(tmp_path.resolve()) for p in paths}, on_loop, timers

    paths, on_loop, timers = asyncio.run(watch())
    assert paths == {Path("score.py")}
    assert on_loop, "delivered on the loop's own thread"
    assert not timers, "the gathering's timer is the loop's, not a thread per event"


def _on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
