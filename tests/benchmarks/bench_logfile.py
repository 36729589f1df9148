"""The bounded log writer's throughput against a plain append to a file, in the same run: the
price of rotating as it writes. Both write the same 200 MB in 64 KiB chunks (what a pipe from a
chatty instance delivers) and in 200-byte lines (the access log's size); rounds are interleaved,
and medians and the ratio are reported.

Run: python tests/benchmarks/bench_logfile.py [ROUNDS]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from workbench.logfile import BoundedLog

TOTAL = 200 * 1024 * 1024


def plain(folder: Path, chunk: bytes) -> None:
    fd = os.open(folder / "plain.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    for _ in range(TOTAL // len(chunk)):
        os.write(fd, chunk)
    os.close(fd)


def bounded(folder: Path, chunk: bytes) -> None:
    log = BoundedLog(folder / "bounded.log")
    for _ in range(TOTAL // len(chunk)):
        log.write(chunk)
    log.close()


def main(rounds: int) -> None:
    writers: dict[str, Callable[[Path, bytes], None]] = {"plain append": plain, "BoundedLog": bounded}
    for size in (64 * 1024, 200):
        chunk = b"x" * (size - 1) + b"\n"
        timings: dict[str, list[float]] = {name: [] for name in writers}
        for _ in range(rounds):
            for name, write in writers.items():
                with tempfile.TemporaryDirectory() as scratch:
                    start = time.perf_counter()
                    write(Path(scratch), chunk)
                    timings[name].append(time.perf_counter() - start)
        medians = {name: statistics.median(values) for name, values in timings.items()}
        for name, median in medians.items():
            print(
                f"{size:>6} B writes, {name:<13} {TOTAL / median / 2**20:8.0f} MB/s (median {median:.3f} s)"
            )
        print(
            f"{size:>6} B writes: BoundedLog at {medians['plain append'] / medians['BoundedLog']:.2f}x plain"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
