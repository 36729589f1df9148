"""Logs stay bounded and are read as far as asked: rotation with writers that keep appending,
tails of any length."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.engine.harness import ECHO, deployment_yaml, engine, folder_with, until
from workbench.engine.instances import log_tail
from workbench.engine.logrotation import logs_under, rotate_if_large
from workbench.logfile import GENERATIONS, MAX_LOG_BYTES, PIPE_CHUNK


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


CHATTY = (
    "def init():\n    pass\n\n\n"
    "def run(data):\n    line = 'x' * 1_000_000\n    for _ in range(200):\n        print(line)\n"
    "    return 'printed'\n"
)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_200_mb_printed_by_run_leave_at_most_the_bound_on_disk(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"chatty.py": CHATTY}, {"blue": deployment_yaml("blue", "chatty.py")})
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(120)
        instance = endpoint.deployments[0].instances[0]
        answer = httpx.post(f"{instance.url}/score", json={}, timeout=240)  # straight to the instance
        assert answer.json() == "printed"
        log = folder / ".workbench" / "logs" / "tests" / "blue" / "blue-0" / "inference-server.log"
        until(lambda: sum(p.stat().st_size for p in log.parent.glob("inference-server.log*")) > 0)
        assert httpx.post(f"{instance.url}/score", json={}, timeout=240).status_code == 200  # still serving
    kept = sorted(log.parent.glob("inference-server.log*"))
    assert [p.name for p in kept] == [f"inference-server.log{s}" for s in ("", ".1", ".2", ".3")]
    assert sum(p.stat().st_size for p in kept) <= (GENERATIONS + 1) * MAX_LOG_BYTES + PIPE_CHUNK


def test_the_build_log_of_a_cached_environment_says_it_was_built_before(tmp_path: Path) -> None:
    """Not an empty build tab: what the deployment runs in, and with which packages."""
    logs = []
    for name in ("first", "second"):  # the same environment: the second finds it built
        folder = folder_with(tmp_path / name, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
        with engine(folder, tmp_path / name) as running:
            running.wait_settled(180)
        logs.append((folder / ".workbench" / "logs" / "tests" / "blue" / "build.log").read_text())
    said = logs[1].splitlines()
    assert "Resolved" not in logs[1], "nothing built the second time"
    assert said[0].endswith("built before, from the cache; nothing to build"), said
    assert "| build | environment " in said[0]
    assert "packages: aiohttp" in said[1], said
