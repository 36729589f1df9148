"""The request path against the limit: `workbench serve` and the whole path (router + instance)
as shares of what a minimal Python server does on the same core (limit_server.py: uvloop and
httptools, the echo script's work and nothing else), beside azmlinfsrv with one worker.

The load generator (wrk, one thread) is pinned to the last core, as the issue measured it; the
servers run where the kernel puts them. The echo script, one worker everywhere.
Targets (issue 37): serve >= 0.3 of the limit, the whole path >= 0.25, the router's added p50 at
one connection <= 0.05 ms. Medians of interleaved rounds, ratios computed within each round.

Run: python tests/benchmarks/bench_limit.py [--seconds 5] [--rounds 3]
Needs wrk (Debian package) and builds azmlinfsrv's venv like the parity tests.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_server import wrk
from tests.engine.harness import engine
from tests.server.harness import FIXTURES, Server, free_port, running, wait_ready
from workbench.client import EngineClient
from workbench.server import loops

BODY = b'{"data": [1, 2, 3]}'
DEPLOYMENT = (
    "name: blue\nendpoint_name: bench\ncode_configuration: {code: code, scoring_script: echo.py}\n"
    "environment: {image: python:3.11-slim}\ninstance_type: Standard_DS3_v2\n"
    'environment_variables: {WORKER_COUNT: "1"}\n'
    "request_settings: {max_concurrent_requests_per_instance: 16}\n"  # wrk's connections, no 429
)


@contextlib.contextmanager
def limit_server(log_dir: Path) -> Iterator[Server]:
    port = free_port()
    with (log_dir / "limit.log").open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("limit_server.py")), str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server("limit", f"http://127.0.0.1:{port}", process, log_dir / "limit.log")
    try:
        wait_ready(server, 30)
        yield server
    finally:
        process.kill()
        process.wait()


@contextlib.contextmanager
def whole_path(log_dir: Path) -> Iterator[tuple[str, dict[str, str], str]]:
    """An engine serving the echo script with one worker: its scoring URI, the headers to reach
    blue, and the instance's own URL."""
    root = log_dir / "bench"
    (root / "code").mkdir(parents=True)
    shutil.copy(FIXTURES / "echo.py", root / "code" / "echo.py")
    (root / "endpoint.yml").write_text("name: bench\nauth_mode: key\ntraffic: {blue: 100}\n")
    (root / "blue.yml").write_text(DEPLOYMENT)
    with engine(root, log_dir) as running_engine:
        (endpoint,) = running_engine.wait_settled(180)
        with EngineClient.for_folder(root) as client:
            key = client.credentials("bench").secret
        instance = endpoint.deployments[0].instances[0].url or ""
        uri = (endpoint.scoring_uri or "").removesuffix("/score")
        yield uri, {"Authorization": f"Bearer {key}", "azureml-model-deployment": "blue"}, instance


def measure(seconds: int, rounds: int, log_dir: Path) -> None:
    wrk_core = (os.cpu_count() or 2) - 1
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    with contextlib.ExitStack() as stack:
        echo = FIXTURES / "echo.py"
        one = {"WORKER_COUNT": "1"}
        targets: dict[str, tuple[str, dict[str, str]]] = {}
        limit = stack.enter_context(limit_server(log_dir))
        targets["limit"] = (limit.url, {})
        serve = stack.enter_context(running("workbench", echo, env=one, log_dir=log_dir))
        targets["workbench serve"] = (serve.url, {})
        on_asyncio = {**one, loops.CHOICE: "asyncio"}  # what an environment without uvloop runs
        plain = stack.enter_context(running("workbench", echo, env=on_asyncio, log_dir=log_dir))
        targets["serve (asyncio)"] = (plain.url, {})
        azure = stack.enter_context(running("azmlinfsrv", echo, env=one, log_dir=log_dir))
        targets["azmlinfsrv(1)"] = (azure.url, {})
        uri, headers, instance = stack.enter_context(whole_path(log_dir))
        targets["whole path"] = (uri, headers)
        targets["its instance"] = (instance, {})
        for number in range(rounds):
            for name, (url, extra) in targets.items():
                for connections in (1, 16):
                    figures = _pinned_wrk(url, connections, seconds, log_dir, extra, core=wrk_core)
                    results.setdefault((name, connections), []).append(figures)
            print(f"round {number + 1}/{rounds} done", file=sys.stderr)
    report(results, seconds, rounds)


def _pinned_wrk(
    url: str, connections: int, seconds: int, log_dir: Path, headers: dict[str, str], *, core: int
) -> dict[str, float]:
    os.sched_setaffinity(0, {core})  # wrk inherits it
    try:
        return wrk(url, BODY, connections, seconds, log_dir, headers=headers)
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


def report(results: dict[tuple[str, int], list[dict[str, float]]], seconds: int, rounds: int) -> None:
    print(f"\nwrk -t1 pinned to one core; {seconds} s per run, {rounds} rounds, medians")
    print(f"{'target':16} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'of limit':>9}")
    for (name, connections), runs in results.items():
        limit_runs = results[("limit", connections)]
        shares = [r["rps"] / base["rps"] for r, base in zip(runs, limit_runs, strict=True)]
        median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        print(
            f"{name:16} {connections:>4} {median['rps']:>9.0f} {median['p50']:>8.3f} {median['p99']:>8.3f} "
            f"{median['errors'] + median['socket_errors']:>6.0f} {statistics.median(shares):>8.2f}x"
        )
    added = [
        path["p50"] - direct["p50"]
        for path, direct in zip(results[("whole path", 1)], results[("its instance", 1)], strict=True)
    ]
    print(f"\nthe router's added p50 at one connection: {statistics.median(added):.3f} ms (median of rounds)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("needs wrk: apt-get install wrk")
    with tempfile.TemporaryDirectory() as folder:
        measure(args.seconds, args.rounds, Path(folder))


if __name__ == "__main__":
    main()
