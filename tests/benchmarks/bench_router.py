"""The router's cost: the whole path (router + workbench server) against the instance called
directly and against azmlinfsrv with one worker, and what 50% mirroring adds to the live path.

The workbench server runs in two sizes, set with WORKER_COUNT in the deployment's
environment_variables as Azure's docs advise: 8 workers (matching
max_concurrent_requests_per_instance) and 4 (two per core on the 2-core machine), both admitting
16 requests in flight. Each is measured directly and through the router (the 4-worker deployment
pinned with the azureml-model-deployment header, through the same pipeline). A second engine on
asyncio's own event loop (WORKBENCH_EVENT_LOOP=asyncio) shows what uvloop brings.

Mirroring under paced load: live requests at PACED_RATE per second (an open model: each sent at
its time, whatever the ones before it are doing), with no mirror, 20% and 50% mirrored, live p50
and p99 and the copies sent and dropped.

Run: python tests/benchmarks/bench_router.py [--seconds 5] [--rounds 3]
Needs wrk. Targets (issue 5): whole path >= 3x azmlinfsrv(1) at 16 connections; router's added
p50 at 1 connection <= 0.3 ms; live p50 with 50% mirroring within 10%.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_server import wrk
from tests.engine.harness import RunningEngine, engine
from tests.server.harness import FIXTURES, running
from workbench.client import EngineClient
from workbench.engine import eventloop

BODY = b'{"data": [1, 2, 3]}'
ECHO_DEPLOYMENT = (
    "name: {name}\nendpoint_name: bench\ncode_configuration: {{code: code, scoring_script: echo.py}}\n"
    "environment: {{image: python:3.11-slim}}\ninstance_type: Standard_DS3_v2\n"
    "request_settings: {{max_concurrent_requests_per_instance: 8}}\n"
    'environment_variables: {{WORKER_COUNT: "{workers}"}}\n'
)


def write_echo_project(root: Path) -> None:
    """Endpoint `bench` with blue (100%), green (0%, the mirror) and four (0%), all the echo
    script: blue and green with 8 workers, four with 4."""
    (root / "code").mkdir(parents=True)
    shutil.copy(FIXTURES / "echo.py", root / "code" / "echo.py")
    (root / "endpoint.yml").write_text("name: bench\nauth_mode: key\ntraffic: {blue: 100}\n")
    for name in ("blue", "green"):
        (root / f"{name}.yml").write_text(ECHO_DEPLOYMENT.format(name=name, workers=8))
    (root / "four.yml").write_text(ECHO_DEPLOYMENT.format(name="four", workers=4))


def wrk_with_key(
    scoring_uri: str,
    key: str,
    connections: int,
    seconds: int,
    folder: Path,
    *,
    deployment: str | None = None,
) -> dict[str, float]:
    base = scoring_uri.removesuffix("/score")  # wrk() adds it
    headers = {"Authorization": f"Bearer {key}"}
    if deployment is not None:
        headers["azureml-model-deployment"] = deployment
    return wrk(base, BODY, connections, seconds, folder, headers=headers)


PACED_RATE = 200.0


def paced(uri: str, key: str, seconds: int) -> dict[str, float]:
    """Requests sent at PACED_RATE for `seconds` (bounded: rate x seconds requests); latency
    percentiles in ms, measured from each request's scheduled time (no coordinated omission)."""

    async def run() -> list[float]:
        latencies: list[float] = []
        headers = {"Authorization": f"Bearer {key}"}
        async with aiohttp.ClientSession() as http:

            async def one(due: float) -> None:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                async with http.post(uri, data=BODY, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"status {response.status}")
                latencies.append((time.perf_counter() - due) * 1000)

            start = time.perf_counter() + 0.1
            count = int(PACED_RATE * seconds)
            await asyncio.gather(*(one(start + i / PACED_RATE) for i in range(count)))
        return latencies

    ordered = sorted(asyncio.run(run()))
    return {
        "p50": ordered[len(ordered) // 2],
        "p99": ordered[int(len(ordered) * 0.99)],
        "count": len(ordered),
    }


def quiet_mirror(client: EngineClient) -> None:
    """Until no mirror copy is queued or in flight."""
    for _ in range(600):
        mirror = client.metrics("bench").mirror
        if not mirror.queued and not mirror.in_flight:
            return
        time.sleep(0.05)


def ready(running: RunningEngine) -> tuple[str, str, dict[str, str]]:
    """The scoring URI, a key and each deployment's instance URL, once all are ready."""
    running.wait_settled(120)
    running.wait_for(lambda eps: bool(eps[0].scoring_uri), 30)
    with EngineClient.for_folder(running.folder) as client:
        (endpoint,) = client.status()
        key = client.credentials("bench").secret
    urls = {d.name: d.instances[0].url or "" for d in endpoint.deployments}
    return endpoint.scoring_uri or "", key, urls


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
        paced_results: dict[int, list[dict[str, float]]] = {}
        with contextlib.ExitStack() as stack:
            real = stack.enter_context(running("azmlinfsrv", FIXTURES / "echo.py", log_dir=folder))
            bench = stack.enter_context(engine(root, folder))
            on_asyncio_root = folder / "on-asyncio"
            write_echo_project(on_asyncio_root)
            os.environ[eventloop.CHOICE] = "asyncio"
            try:
                on_asyncio = stack.enter_context(engine(on_asyncio_root, folder))
            finally:
                del os.environ[eventloop.CHOICE]
            uri, key, url = ready(bench)
            asyncio_uri, asyncio_key, _ = ready(on_asyncio)
            time.sleep(1)
            for _ in range(args.rounds):
                for connections in (1, 16):
                    results.setdefault(f"azmlinfsrv(1) direct c{connections}", []).append(
                        wrk(real.url, BODY, connections, args.seconds, folder)
                    )
                    results.setdefault(f"8 workers: instance direct c{connections}", []).append(
                        wrk(url["blue"], BODY, connections, args.seconds, folder)
                    )
                    results.setdefault(f"8 workers: router + instance c{connections}", []).append(
                        wrk_with_key(uri, key, connections, args.seconds, folder)
                    )
                    results.setdefault(f"4 workers: instance direct c{connections}", []).append(
                        wrk(url["four"], BODY, connections, args.seconds, folder)
                    )
                    results.setdefault(f"4 workers: router + instance c{connections}", []).append(
                        wrk_with_key(uri, key, connections, args.seconds, folder, deployment="four")
                    )
                    results.setdefault(f"8 workers: router on asyncio loop c{connections}", []).append(
                        wrk_with_key(asyncio_uri, asyncio_key, connections, args.seconds, folder)
                    )
                with EngineClient.for_folder(root) as client:
                    client.set_traffic("bench", {"blue": 100, "green": 0}, {"green": 50})
                results.setdefault("8 workers: router, 50% mirrored c1", []).append(
                    wrk_with_key(uri, key, 1, args.seconds, folder)
                )
                results.setdefault("8 workers: router, 50% mirrored c16", []).append(
                    wrk_with_key(uri, key, 16, args.seconds, folder)
                )
                for share in (0, 20, 50):
                    with EngineClient.for_folder(root) as client:
                        client.set_traffic("bench", {"blue": 100, "green": 0}, {"green": share})
                        quiet_mirror(client)  # copies queued by the runs before are not counted here
                        before = client.metrics("bench").mirror
                        figures = paced(uri, key, args.seconds)
                        quiet_mirror(client)  # the last copies answered
                        after = client.metrics("bench").mirror
                    figures["copies"] = after.sent - before.sent
                    figures["dropped"] = after.dropped - before.dropped
                    paced_results.setdefault(share, []).append(figures)
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
    reference = median["azmlinfsrv(1) direct c16"]["rps"]
    print("\nwhole path vs azmlinfsrv(1) at 16 connections:")
    for workers, prefix in (("8 workers", "8 workers: "), ("4 workers", "4 workers: ")):
        ratio = median[f"{prefix}router + instance c16"]["rps"] / reference
        print(f"  workbench server with {workers}: {ratio:.2f}x")
    asyncio_rps = median["8 workers: router on asyncio loop c16"]["rps"]
    print(f"  workbench server with 8 workers, engine on asyncio's loop: {asyncio_rps / reference:.2f}x")
    for workers, prefix in (("8 workers", "8 workers: "), ("4 workers", "4 workers: ")):
        added = median[f"{prefix}router + instance c1"]["p50"] - median[f"{prefix}instance direct c1"]["p50"]
        print(f"router's added p50 at 1 connection ({workers}): {added:.3f} ms")
    growth = (
        median["8 workers: router, 50% mirrored c1"]["p50"] / median["8 workers: router + instance c1"]["p50"]
        - 1
    )
    print(f"live p50 growth with 50% mirroring at 1 connection: {growth * 100:+.1f}%")
    print(f"\npaced load, {PACED_RATE:.0f} req/s for {args.seconds} s, medians of {args.rounds} rounds:")
    base = {f: statistics.median(r[f] for r in paced_results[0]) for f in ("p50", "p99")}
    for share, runs in paced_results.items():
        p50, p99 = (statistics.median(r[f] for r in runs) for f in ("p50", "p99"))
        copies = sum(r["copies"] for r in runs)
        dropped = sum(r["dropped"] for r in runs)
        sent = sum(r["count"] for r in runs)
        print(
            f"  mirror {share:2d}%: live p50 {p50:6.2f} ms ({p50 / base['p50']:.2f}x)  p99 {p99:6.2f} ms "
            f"({p99 / base['p99']:.2f}x)  copies {copies} of {sent} live ({copies / sent * 100:.1f}%), "
            f"dropped {dropped}"
        )
    print(json.dumps(median, indent=1), file=sys.stderr)


if __name__ == "__main__":
    main()
