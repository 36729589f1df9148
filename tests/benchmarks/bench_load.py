"""`workbench load`'s own ceiling against wrk, in the same run, on the same server.

Run: python tests/benchmarks/bench_load.py [ROUNDS]

The server is the workbench's inference server with the echo fixture and 4 workers, reached
directly (no router), so that the generator is the limit. Each round: `workbench load`'s
generator asked for far more than it can send (20,000 a second for 5 s, 64 in flight), its
achieved rate; then wrk with 64 connections for 5 s. Medians and their ratio.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_server import wrk
from tests.server.harness import FIXTURES, running
from workbench.loadgen import LoadPlan, run_load

SECONDS = 5


def main(rounds: int) -> None:
    with (
        tempfile.TemporaryDirectory() as scratch,
        running(
            "workbench", FIXTURES / "echo.py", log_dir=Path(scratch), env={"WORKER_COUNT": "4"}
        ) as server,
    ):
        plan = LoadPlan(
            uri=server.url + "/score", headers={"Content-Type": "application/json"}, body=b"{}",
            rate=20_000, duration_s=SECONDS, concurrency=64,
        )  # fmt: skip
        ours, theirs = [], []
        for _ in range(rounds):
            result = asyncio.run(run_load(plan))
            ours.append(result.sent / result.seconds)
            theirs.append(wrk(server.url, b"{}", 64, SECONDS, Path(scratch))["rps"])
            print(f"round: workbench load {ours[-1]:.0f} req/s, wrk {theirs[-1]:.0f} req/s", flush=True)
        print(f"median of {rounds}: workbench load {statistics.median(ours):.0f} req/s, "
              f"wrk {statistics.median(theirs):.0f} req/s, "
              f"ratio {statistics.median(ours) / statistics.median(theirs):.2f}")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
