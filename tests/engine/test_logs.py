"""Logs stay bounded and are read as far as asked: rotation with writers that keep appending,
tails of any length."""

from __future__ import annotations

from pathlib import Path

from workbench.engine.instances import log_tail
from workbench.engine.logrotation import logs_under, rotate_if_large


def test_a_log_past_its_bound_rotates_and_its_writer_carries_on(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "e" / "blue" / "blue-0" / "inference-server.log"
    log.parent.mkdir(parents=True)
    with log.open("ab", buffering=0) as writer:  # as an instance writes its output: O_APPEND
        for generation in range(5):
            writer.write(f"generation {generation}\n".encode() * 200)
            assert rotate_if_large(log, limit=1000, generations=3)
        writer.write(b"after the last rotation\n")
    assert log.read_text() == "after the last rotation\n"
    assert log.with_name("inference-server.log.1").read_text().startswith("generation 4\n")
    assert log.with_name("inference-server.log.3").read_text().startswith("generation 2\n")
    assert not log.with_name("inference-server.log.4").exists()
    assert not rotate_if_large(log, limit=1000)
    assert log in set(logs_under(tmp_path))


def test_a_tail_reads_as_many_lines_as_asked(tmp_path: Path) -> None:
    log = tmp_path / "chatty.log"
    log.write_text("".join(f"line {n} " + "x" * 100 + "\n" for n in range(5000)))

    tail = log_tail(log, 3000)

    assert len(tail) == 3000
    assert tail[0].startswith("line 2000 ")
    assert tail[-1].startswith("line 4999 ")
    assert log_tail(log, 10_000)[0].startswith("line 0 ")
    assert log_tail(tmp_path / "missing.log", 5) == []
