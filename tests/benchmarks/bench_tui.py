"""The dashboard under load: does it stay responsive, and does it slow the router down?

Run: python tests/benchmarks/bench_tui.py [--seconds 10] [--rounds 3] [--load-seconds 30]
Needs wrk and tmux. An endpoint with two echo deployments (so that the router, not the model, is
what runs at capacity) runs in a headless engine; the dashboard attaches to it in a real terminal
(tmux), following the router's access log, which gets a line per request.

1. Throughput: wrk (16 connections) through the router, headless and with the dashboard attached,
   interleaved, `rounds` times each. Target (issue 7): attached within 10% of headless.
2. Key latency: while a paced load of 500 requests/s runs for `load-seconds`, '?' is pressed
   over and over and timed until the help screen is on screen (capture-pane polling every 10 ms
   resolution); the same with no load is the reference. Target: answered within 100 ms.
3. Start-up: `workbench up` on a fresh project (a new engine each time), timed in tmux to its
   first output, to the dashboard's first frame and to the instance Ready; the reference is a
   minimal Textual app's first frame, in the same run. `--workbench-path DIR` runs another
   checkout's dashboard (an older commit) through all three, for a before / after.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import shlex
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import aiohttp

from tests.benchmarks.bench_router import BODY, write_echo_project
from tests.benchmarks.bench_server import wrk
from tests.engine.harness import engine
from tests.terminal import Terminal
from workbench.client import EngineClient

HELP_TEXT = "restart the selected instance"


def paced_load(uri: str, key: str, body: bytes, rate: int, seconds: float, *, results: Any) -> None:
    """Open-loop load: request i leaves at start + i / rate, whatever the answers do."""

    async def main() -> tuple[int, int, int]:
        ok = failed = late = 0
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one() -> None:
                nonlocal ok, failed
                try:
                    async with session.post(uri, data=body, headers=headers) as response:
                        await response.read()
                        ok, failed = (ok + 1, failed) if response.status == 200 else (ok, failed + 1)
                except aiohttp.ClientError:
                    failed += 1

            start = time.perf_counter()
            tasks = []
            for index in range(int(rate * seconds)):
                delay = start + index / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -0.05:
                    late += 1
                tasks.append(asyncio.ensure_future(one()))
            await asyncio.gather(*tasks)
        return ok, failed, late

    results.put(asyncio.run(main()))


def key_latencies(terminal: Terminal, until: float, pause_s: float = 0.3) -> list[float]:
    """Press '?' and time until the help screen shows; close it; again until `until`."""
    timings = []
    while time.monotonic() < until:
        sent = time.perf_counter()
        terminal.press("?")
        terminal.wait_for(HELP_TEXT, timeout=10, poll_s=0.01)
        timings.append((time.perf_counter() - sent) * 1000)
        terminal.press("Escape")
        terminal.wait_for_gone(HELP_TEXT)
        time.sleep(pause_s)
    return timings


def attach(folder: Path, workbench_path: str | None = None) -> Terminal:
    terminal = Terminal(f"workbench-bench-{uuid.uuid4().hex[:8]}", 120, 36)
    path = f"PYTHONPATH={shlex.quote(workbench_path)} " if workbench_path else ""
    command = f"cd {shlex.quote(str(folder))} && {path}{shlex.quote(sys.executable)} -m workbench up ."
    terminal.start(f"env -u COLUMNS -u LINES TERM=xterm-256color sh -c {shlex.quote(command)}")
    terminal.wait_for("blue-0  Ready", timeout=60)
    terminal.press("Down")  # blue
    terminal.press("[")  # the router's access log, which gets a line per request
    terminal.wait_for("router", timeout=10)
    return terminal


MINIMAL_APP = """
from textual.app import App
from textual.widgets import Header, Static
class Minimal(App):
    def compose(self):
        yield Header()
        yield Static("minimal app ready")
Minimal().run()
"""


def first_seen(terminal: Terminal, texts: list[str], timeout: float) -> list[float]:
    """Seconds from now until each of `texts` is first on screen (in order)."""
    start, seen = time.perf_counter(), []
    for text in texts:
        terminal.wait_for(text, timeout=timeout, poll_s=0.01)
        seen.append(time.perf_counter() - start)
    return seen


def startup_times(rounds: int, workbench_path: str | None) -> tuple[list[list[float]], list[float]]:
    """Per round: to the first output, to the dashboard's first frame, to Ready; and the minimal
    Textual app's first frame per round."""
    figures, minimal = [], []
    path = f"PYTHONPATH={shlex.quote(workbench_path)} " if workbench_path else ""
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "startup"
            write_echo_project(folder)
            for extra in ("green.yml", "four.yml"):
                (folder / extra).unlink()
            terminal = Terminal(f"workbench-start-{uuid.uuid4().hex[:8]}", 120, 36)
            command = (
                f"cd {shlex.quote(str(folder))} && {path}{shlex.quote(sys.executable)} -m workbench up ."
            )
            terminal.start(
                f"env -u COLUMNS -u LINES TERM=xterm-256color sh -c {shlex.quote(command)}; sleep 60"
            )
            try:
                figures.append(
                    first_seen(terminal, ["workbench", "endpoint workbench", "blue-0  Ready"], 120)
                )
                terminal.quit_stopping()
                terminal.wait_for("engine stopped", timeout=60)
            finally:
                terminal.stop()
        terminal = Terminal(f"workbench-minimal-{uuid.uuid4().hex[:8]}", 120, 36)
        script = f"{shlex.quote(sys.executable)} -c {shlex.quote(MINIMAL_APP)}"
        terminal.start(f"env -u COLUMNS -u LINES TERM=xterm-256color sh -c {shlex.quote(script)}")
        try:
            minimal.append(first_seen(terminal, ["minimal app ready"], 60)[0])
        finally:
            terminal.stop()
    return figures, minimal


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--load-seconds", type=float, default=30)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--startup-rounds", type=int, default=5)
    parser.add_argument("--workbench-path", help="time this checkout's dashboard instead (an older commit)")
    parser.add_argument("--startup-only", action="store_true")
    args = parser.parse_args()
    for program in ("wrk", "tmux"):
        if shutil.which(program) is None:
            sys.exit(f"needs {program}: apt-get install {program}")
    started, minimal = startup_times(args.startup_rounds, args.workbench_path)
    print(f"\nstart-up, {args.startup_rounds} rounds (medians, seconds from `workbench up`)")
    for index, name in enumerate(("first output", "dashboard's first frame", "instance Ready")):
        print(f"  {name:25} {statistics.median(r[index] for r in started):6.2f} s")
    reference = statistics.median(minimal)
    frame = statistics.median(r[1] for r in started)
    print(
        f"  a minimal Textual app's first frame: {reference:.2f} s "
        f"(the dashboard's / it: {frame / reference:.2f}x)"
    )
    if args.startup_only:
        return
    body = BODY
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "project"
        write_echo_project(folder)
        with engine(folder, Path(tmp)) as running:
            running.wait_settled()
            with EngineClient.for_folder(folder) as client:
                uri = client.status()[0].scoring_uri
                key = client.credentials("bench").secret
            assert uri is not None
            base = uri.removesuffix("/score")
            auth = {"Authorization": f"Bearer {key}"}
            wrk(base, body, 16, 2, Path(tmp), headers=auth)  # warm-up

            figures: dict[str, list[dict[str, float]]] = {"headless": [], "dashboard attached": []}
            for _ in range(args.rounds):
                figures["headless"].append(wrk(base, body, 16, args.seconds, Path(tmp), headers=auth))
                terminal = attach(folder, args.workbench_path)
                try:
                    figures["dashboard attached"].append(
                        wrk(base, body, 16, args.seconds, Path(tmp), headers=auth)
                    )
                    assert "Succeeded" in terminal.screen(), terminal.screen()
                finally:
                    terminal.press("D")  # detach: the engine keeps running
                    time.sleep(1)
                    terminal.stop()

            terminal = attach(folder, args.workbench_path)
            try:
                time.sleep(2)  # the first log tail drawn: start-up is not what is measured
                idle = key_latencies(terminal, time.monotonic() + 10)
                results: Any = multiprocessing.Queue()
                load = multiprocessing.Process(
                    target=paced_load,
                    args=(uri, key, body, args.rate, args.load_seconds),
                    kwargs={"results": results},
                )
                load.start()
                loaded = key_latencies(terminal, time.monotonic() + args.load_seconds - 1)
                load.join()
                ok, failed, late = results.get()
            finally:
                terminal.press("D")
                time.sleep(1)
                terminal.stop()

    print(
        f"\nrouter throughput, echo deployments, wrk 16 connections, "
        f"{args.seconds} s x {args.rounds} rounds (medians)"
    )
    medians = {name: statistics.median(r["rps"] for r in runs) for name, runs in figures.items()}
    for name, runs in figures.items():
        errors = sum(r["errors"] + r["socket_errors"] for r in runs)
        if errors:
            sys.exit(f"{name}: failed requests, the figures would not mean anything: {runs}")
        p50 = statistics.median(r["p50"] for r in runs)
        print(f"  {name:20} {medians[name]:8.0f} req/s   p50 {p50:6.3f} ms   errors {errors:.0f}")
    ratio = medians["dashboard attached"] / medians["headless"]
    print(f"  attached / headless: {ratio:.3f} (target >= 0.90)")

    def describe(timings: list[float]) -> str:
        ordered = sorted(timings)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        return (
            f"median {statistics.median(ordered):6.1f} ms  p95 {p95:6.1f} ms  "
            f"max {ordered[-1]:6.1f} ms  (n={len(ordered)})"
        )

    print("\nkey press to help screen on screen (tmux capture-pane), dashboard following the router log")
    print(f"  idle:                {describe(idle)}")
    print(f"  under {args.rate} req/s:     {describe(loaded)}   (target: within 100 ms)")
    achieved = (ok + failed) / args.load_seconds
    print(
        f"  load: {ok} ok, {failed} failed, {late} sent late; "
        f"{achieved:.0f} req/s offered over {args.load_seconds:.0f} s"
    )


if __name__ == "__main__":
    main()
