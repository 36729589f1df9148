"""The bounded log writer with real files: rotation as it writes keeps the disk under its bound
whatever the speed; a full disk (a filled tmpfs) drops lines, counts them and says so when writing
works again; it never raises."""

from __future__ import annotations

import os
from pathlib import Path

from tests.engine.test_full_disk import fill, small_disk
from workbench.logfile import BoundedLog, start_pump


def on_disk(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def test_the_bound_holds_as_it_writes(tmp_path: Path) -> None:
    log = BoundedLog(tmp_path / "out.log", limit=100_000, generations=3)
    for _ in range(10_000):  # 2 MB, twenty times the limit
        log.write(b"x" * 199 + b"\n")
    log.close()
    assert on_disk(tmp_path / "out.log") <= 4 * 100_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.log", "out.log.1", "out.log.2", "out.log.3"]
    assert (tmp_path / "out.log.1").stat().st_size <= 100_000


def test_a_pipe_is_copied_until_its_writers_close_it(tmp_path: Path) -> None:
    log = BoundedLog(tmp_path / "out.log")
    reader, writer = os.pipe()
    thread = start_pump(reader, log, "test")
    for n in range(1000):
        os.write(writer, f"line {n}\n".encode())
    os.close(writer)
    thread.join(30)
    assert not thread.is_alive()
    assert (tmp_path / "out.log").read_text().splitlines()[-1] == "line 999"


def test_a_full_disk_drops_and_says_so_once_it_can(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk") as disk:
        log = BoundedLog(disk / "out.log")
        log.write(b"before\n")
        filler = fill(disk)
        log.write(b"lost\n" * 20_000)  # more than the last page has room for; never raises
        assert log.dropped == 100_000
        filler.unlink()
        log.write(b"after\n")
        log.close()
        lines = (disk / "out.log").read_text().splitlines()
    assert lines[0] == "before"
    assert lines[-2:] == [
        "[workbench] 100000 byte(s) of output dropped: the log could not be written",
        "after",
    ]
