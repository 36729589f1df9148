"""`workbench up --headless examples/quickstart` to Succeeded, with a warm environment cache.

Run: python tests/benchmarks/bench_up.py [ROUNDS]
Reference in the same run: one inference server for the same script started on its own
(`python -m workbench.server`, start to first 200 on /), which is what an instance costs at
least (Python, scikit-learn's import, init()). Interleaved rounds; medians and the ratio.
Azure's own local endpoints take about 35 s with a cached image (reference 3.1: a fixed 15 s
sleep after the container starts, on top of the build check).
"""

from __future__ import annotations

import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart"


def time_up(folder: Path) -> float:
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "workbench", "up", "--headless", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    succeeded: set[str] = set()
    elapsed = float("nan")
    for line in process.stdout:
        if ": Succeeded: " in line and "/" in line.split(":")[2]:
            succeeded.add(line.split()[1].rstrip(":"))
        if {"quickstart/blue", "quickstart/green"} <= succeeded:
            elapsed = time.perf_counter() - start
            break
        if "Failed" in line:
            raise RuntimeError(line)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    return elapsed


def time_single_server(python: Path = Path(sys.executable), env: dict[str, str] | None = None) -> float:
    """Start to the first 200 on / of one inference server for the quickstart's script."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.perf_counter()
    process = subprocess.Popen(
        [
            str(python),
            "-m",
            "workbench.server",
            "--entry_script",
            "score.py",
            "--port",
            str(port),
            "--model_dir",
            str(QUICKSTART / "model-1"),
        ],
        cwd=QUICKSTART / "onlinescoring",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                    return time.perf_counter() - start
            except httpx.HTTPError:
                time.sleep(0.02)
    finally:
        process.terminate()
        process.wait()


def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder) / "quickstart"
        shutil.copytree(QUICKSTART, project)
        time_up(project)  # warm the environment cache
        ups, singles = [], []
        for _ in range(rounds):
            ups.append(time_up(project))
            singles.append(time_single_server())
    up, single = statistics.median(ups), statistics.median(singles)
    print(f"{rounds} interleaved rounds, warm environment cache, seconds")
    print(
        f"  workbench up --headless quickstart -> blue and green Succeeded: median {up:.2f}  "
        f"(min {min(ups):.2f}, max {max(ups):.2f})"
    )
    print(
        f"  one inference server for the same script, start to ready:        median {single:.2f}  "
        f"(min {min(singles):.2f}, max {max(singles):.2f})"
    )
    print(f"  ratio up / single server: {up / single:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
