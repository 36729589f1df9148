"""The router's cost: the whole path (router + workbench server) against the instance called
directly and against azmlinfsrv with one worker, and what 50% mirroring adds to the live path.

Run: python tests/benchmarks/bench_router.py [--seconds 5] [--rounds 3]
Needs wrk. Targets (issue 5): whole path >= 3x azmlinfsrv(1) at 16 connections; router's added
p50 at 1 connection <= 0.3 ms; live p50 with 50% mirroring within 10%.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_server import wrk
from tests.engine.harness import engine
from tests.server.harness import FIXTURES, running
from workbench.client import EngineClient

BODY = b'{"data": [1, 2, 3]}'
ECHO_DEPLOYMENT = (
    "name: {name}\nendpoint_name: bench\ncode_configuration: {{code: code, scoring_script: echo.py}}\n"
    "environment: {{image: python:3.11-slim}}\ninstance_type: Standard_DS3_v2\n"
    "request_settings: {{max_concurrent_requests_per_instance: 8}}\n"
)


def write_echo_project(root: Path) -> None:
    """Endpoint `bench` with blue (100%) and green (0%), both the echo script with 8 workers:
    the instances are cheap, so the router is what a benchmark measures."""
    (root / "code").mkdir(parents=True)
    shutil.copy(FIXTURES / "echo.py", root / "code" / "echo.py")
    (root / "endpoint.yml").write_text("name: bench\nauth_mode: key\ntraffic: {blue: 100}\n")
    for name in ("blue", "green"):
        (root / f"{name}.yml").write_text(ECHO_DEPLOYMENT.format(name=name))


def wrk_with_key(
    scoring_uri: str, key: str, connections: int, seconds: int, folder: Path
) -> dict[str, float]:
    base = scoring_uri.removesuffix("/score")  # wrk() adds it
    return wrk(base, BODY, connections, seconds, folder, headers={"Authorization": f"Bearer {key}"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("needs wrk: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        root = folder / "project"
        write_echo_project(root)
        results: dict[str, list[dict[str, float]]] = {}
        with contextlib.ExitStack() as stack:
            real = stack.enter_context(running("azmlinfsrv", FIXTURES / "echo.py", log_dir=folder))
            bench = stack.enter_context(engine(root, folder))
            bench.wait_settled(120)
            bench.wait_for(lambda eps: bool(eps[0].scoring_uri), 30)
            with EngineClient.for_folder(root) as client:
                (endpoint,) = client.status()
                key = client.credentials("bench")["primaryKey"]
            uri = endpoint.scoring_uri or ""
            blue = next(d for d in endpoint.deployments if d.name == "blue").instances[0].url or ""
            time.sleep(1)
            for _ in range(args.rounds):
                for connections in (1, 16):
                    results.setdefault(f"azmlinfsrv(1) direct c{connections}", []).append(
                        wrk(real.url, BODY, connections, args.seconds, folder)
                    )
                    results.setdefault(f"workbench instance direct c{connections}", []).append(
                        wrk(blue, BODY, connections, args.seconds, folder)
                    )
                    results.setdefault(f"router + instance c{connections}", []).append(
                        wrk_with_key(uri, key, connections, args.seconds, folder)
                    )
                with EngineClient.for_folder(root) as client:
                    client.set_traffic("bench", {"blue": 100, "green": 0}, {"green": 50})
                results.setdefault("router + instance, 50% mirrored c1", []).append(
                    wrk_with_key(uri, key, 1, args.seconds, folder)
                )
                results.setdefault("router + instance, 50% mirrored c16", []).append(
                    wrk_with_key(uri, key, 16, args.seconds, folder)
                )
                with EngineClient.for_folder(root) as client:
                    client.set_traffic("bench", {"blue": 100, "green": 0}, {"green": 0})
                print("round done", file=sys.stderr)
    median = {k: {f: statistics.median(r[f] for r in v) for f in v[0]} for k, v in results.items()}
    failed = {
        name: {
            "non-2xx": sum(r["errors"] for r in runs),
            "socket errors": sum(r["socket_errors"] for r in runs),
        }
        for name, runs in results.items()
        # azmlinfsrv closes every connection, which wrk counts as socket errors
        if any(r["errors"] or (r["socket_errors"] and "azmlinfsrv" not in name) for r in runs)
    }
    if failed:
        sys.exit(f"failed requests during the runs, figures would mislead: {failed}")
    print(f"\nwrk -t1, {args.seconds} s runs, {args.rounds} interleaved rounds, medians")
    for name, figures in median.items():
        print(
            f"  {name:40} {figures['rps']:9.0f} req/s   p50 {figures['p50']:7.3f} ms   "
            f"non-2xx {figures['errors']:.0f}"
        )
    ratio = median["router + instance c16"]["rps"] / median["azmlinfsrv(1) direct c16"]["rps"]
    print(f"\nwhole path vs azmlinfsrv(1) at 16 connections: {ratio:.2f}x")
    added = median["router + instance c1"]["p50"] - median["workbench instance direct c1"]["p50"]
    print(f"router's added p50 at 1 connection: {added:.3f} ms")
    growth = median["router + instance, 50% mirrored c1"]["p50"] / median["router + instance c1"]["p50"] - 1
    print(f"live p50 growth with 50% mirroring at 1 connection: {growth * 100:+.1f}%")
    print(json.dumps(median, indent=1), file=sys.stderr)


if __name__ == "__main__":
    main()
