"""How long `workbench validate` takes on the quickstart, against a bare interpreter start.

Run: python tests/benchmarks/bench_validate.py [ROUNDS]
Not part of the test run. The machines are shared and noisy: the two commands are interleaved
and the medians and their difference are reported, not single timings.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMMANDS = {
    "python -c pass (reference)": [sys.executable, "-c", "pass"],
    "workbench validate examples/quickstart": [
        sys.executable,
        "-m",
        "workbench",
        "validate",
        "examples/quickstart",
    ],
    "workbench validate fixtures/specs/invalid": [
        sys.executable,
        "-m",
        "workbench",
        "validate",
        "fixtures/specs/invalid",
    ],
}


def main(rounds: int) -> None:
    timings: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(rounds):
        for name, command in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run(command, cwd=REPO, capture_output=True, check=False)
            timings[name].append((time.perf_counter() - start) * 1000)
    reference = statistics.median(timings["python -c pass (reference)"])
    print(f"{rounds} rounds, interleaved; wall-clock ms per run")
    for name, values in timings.items():
        median = statistics.median(values)
        print(
            f"  {name:45s} median {median:7.1f}  p90 {statistics.quantiles(values, n=10)[-1]:7.1f}"
            f"  ratio {median / reference:5.2f}x  over reference {median - reference:6.1f}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 21)
