"""The engine's CPU while nothing happens: the quickstart running, the dashboard attached (in
tmux), no request; beside a bare Python process idling on an event loop over the same window, as
the reference. Reported as the share of one core each used, median of rounds.

Run: python tests/benchmarks/bench_idle.py [ROUNDS] [SECONDS]   (needs tmux)
"""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.terminal import Terminal

REPO = Path(__file__).resolve().parents[2]
IDLE_LOOP = (
    "import asyncio\nasync def main():\n    while True:\n        await asyncio.sleep(1)\nasyncio.run(main())"
)


def cpu_share(pids: list[int], seconds: float) -> list[float]:
    processes = [psutil.Process(pid) for pid in pids]
    before = [sum(p.cpu_times()[:2]) for p in processes]
    time.sleep(seconds)
    after = [sum(p.cpu_times()[:2]) for p in processes]
    return [100 * (b - a) / seconds for a, b in zip(before, after, strict=True)]


def main(rounds: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(shutil.copytree(REPO / "examples" / "quickstart", Path(scratch) / "quickstart"))
        terminal = Terminal(f"bench-idle-{uuid.uuid4().hex[:8]}", 120, 35)
        command = (
            f"cd {shlex.quote(str(project))} && {shlex.quote(sys.executable)} -m workbench up . ; "
            "echo workbench exited; sleep 600"
        )
        terminal.start(f"env -u COLUMNS -u LINES TERM=xterm-256color sh -c {shlex.quote(command)}")
        reference = subprocess.Popen([sys.executable, "-c", IDLE_LOOP])
        try:
            terminal.wait_for("blue-0  Ready", timeout=300)
            terminal.wait_for("green-0  Ready", timeout=120)
            engine = int(json.loads((project / ".workbench" / "connection.json").read_text())["pid"])
            dashboard = next(
                p.pid
                for p in psutil.process_iter(["cmdline"])
                if p.info["cmdline"] and p.info["cmdline"][-2:] == ["up", "."] and p.pid != engine
            )
            time.sleep(5)  # the first frames and polls settle
            shares: dict[str, list[float]] = {"engine": [], "dashboard": [], "bare event loop": []}
            for _ in range(rounds):
                for name, share in zip(
                    shares, cpu_share([engine, dashboard, reference.pid], seconds), strict=True
                ):
                    shares[name].append(share)
            for name, values in shares.items():
                median = statistics.median(values)
                print(f"{name:<16} {median:5.2f} % of a core (median of {rounds} x {seconds:g} s)")
        finally:
            terminal.quit_stopping()
            reference.kill()
            with contextlib.suppress(AssertionError):  # quitting stops the engine: until it has
                terminal.wait_for("workbench exited", timeout=60)
            terminal.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3, float(sys.argv[2]) if len(sys.argv) > 2 else 10.0)
