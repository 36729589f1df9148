"""Azure's safe-rollout sequence through azlocal, warm, against the floor of the same number of
az-shaped commands that do no work, in the same run.

Run: python tests/benchmarks/bench_azlocal.py [ROUNDS]

Each round, in a fresh workspace with its engine already running (warm: as the second script of
a day runs), as azureml-examples' cli/deploy-safe-rollout-online-endpoints.sh does it: create the
endpoint, blue with all traffic, scale blue to 2, green, mirror 10% to green and off again,
split 90/10, all traffic to green, delete blue, delete the endpoint (the deletes wait: no
--no-wait). Timed per step and in all. The reference: as many `azlocal account show` calls (a
Python start, azlocal's import, a print: what any command costs before it does anything).
Medians of the rounds; Azure documents minutes per deployment.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.azlocal.harness import azure_examples, shim

S = "endpoints/online/managed/saferollout"
STEPS = (
    ("endpoint", "ml online-endpoint create -n bench-ep -f {s}/endpoint.yml -o none"),
    (
        "blue",
        "ml online-deployment create -n blue -e bench-ep -f {s}/blue-deployment.yml --all-traffic -o none",
    ),
    ("scale blue", "ml online-deployment update -n blue -e bench-ep --set instance_count=2 -o none"),
    ("green", "ml online-deployment create -n green -e bench-ep -f {s}/green-deployment.yml -o none"),
    ("mirror", "ml online-endpoint update -n bench-ep --mirror-traffic green=10 -o none"),
    ("mirror off", "ml online-endpoint update -n bench-ep --mirror-traffic green=0 -o none"),
    ("split", "ml online-endpoint update -n bench-ep --traffic blue=90 green=10 -o none"),
    (
        "all green",
        "ml online-endpoint update -n bench-ep --traffic blue=0 green=100 --mirror-traffic green=0 -o none",
    ),
    ("delete blue", "ml online-deployment delete -n blue -e bench-ep --yes -o none"),
    ("delete", "ml online-endpoint delete -n bench-ep --yes -o none"),
)


def az(folder: Path, env: dict[str, str], command: str) -> float:
    started = time.perf_counter()
    subprocess.run(["az", *command.format(s=S).split()], cwd=folder, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main(rounds: int) -> None:
    sequences: list[float] = []
    floors: list[float] = []
    per_step: dict[str, list[float]] = {name: [] for name, _ in STEPS}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        folder = azure_examples(root / "cli")
        env = {
            **os.environ,
            "PATH": f"{shim(root / 'bin')}{os.pathsep}{os.environ['PATH']}",
            "XDG_DATA_HOME": str(root / "data"),
            "XDG_CONFIG_HOME": str(root / "config"),
        }
        try:
            for round_ in range(rounds + 1):  # the first round warms the engine and the caches
                times = {name: az(folder, env, command) for name, command in STEPS}
                floor = sum(az(folder, env, "account show -o none") for _ in STEPS)
                if round_ == 0:
                    continue
                sequences.append(sum(times.values()))
                floors.append(floor)
                for name, seconds in times.items():
                    per_step[name].append(seconds)
        finally:
            subprocess.run(
                [sys.executable, "-m", "workbench", "down", "--workspace", "local"],
                env=env,
                capture_output=True,
                check=False,
            )
    sequence, floor = statistics.median(sequences), statistics.median(floors)
    print(f"safe-rollout sequence through azlocal, warm: median {sequence:.2f} s over {rounds} rounds")
    for name, timings in per_step.items():
        print(f"  {name:12} {statistics.median(timings):6.2f} s")
    print(f"reference: {len(STEPS)} no-op commands (azlocal account show): median {floor:.2f} s")
    print(
        f"ratio: {sequence / floor:.1f}x the floor; {sequence - floor:.2f} s of work beyond starting commands"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
