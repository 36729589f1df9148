"""Throughput and latency of the workbench server against the real azmlinfsrv, and reload time.

Run: python tests/benchmarks/bench_server.py [--seconds 5] [--rounds 3]
Needs `wrk` (Debian package) and builds azmlinfsrv's venv like the parity tests. Not part of
the test run. Targets are measured in interleaved rounds on the same machine; medians across
rounds are reported, with the ratio to azmlinfsrv with one worker.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.conftest import QUICKSTART
from tests.server.harness import FIXTURES, running

SCRIPTS = {
    "echo": (FIXTURES / "echo.py", {}, b'{"data": [1, 2, 3]}'),
    "sklearn": (
        FIXTURES / "sklearn_model.py",
        {"AZUREML_MODEL_DIR": str(QUICKSTART / "model-1")},
        (QUICKSTART / "sample-request.json").read_bytes(),
    ),
}
TARGETS = [("workbench", 1), ("azmlinfsrv", 1), ("azmlinfsrv", 2)]
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(
    url: str,
    body: bytes,
    connections: int,
    seconds: int,
    lua_dir: Path,
    *,
    headers: dict[str, str] | None = None,
) -> dict[str, float]:
    """POST `body` for `seconds`; requests/s, p50 and p99 in ms, and error counts."""
    lua = lua_dir / "post.lua"
    extra = "".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in (headers or {}).items())
    lua.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"{extra}wrk.body = {json.dumps(body.decode())}\n"
    )
    result = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(lua), url + "/score"],
        capture_output=True,
        text=True,
        check=True,
    )
    out = result.stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        figures[f"p{pct}"] = float(value) * UNITS[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    figures["errors"] = float(errors.group(1)) if errors else 0.0
    # azmlinfsrv closes every connection, which wrk counts as read errors: only ours are counted
    figures["socket_errors"] = float(sum(int(g) for g in sockets.groups())) if sockets else 0.0
    return figures


def throughput(seconds: int, rounds: int, log_dir: Path) -> None:
    results: dict[tuple[str, str, int, int], list[dict[str, float]]] = {}
    with contextlib.ExitStack() as stack:
        servers = {}
        for script_name, (script, env, _) in SCRIPTS.items():
            for kind, workers in TARGETS:
                servers[(script_name, kind, workers)] = stack.enter_context(
                    running(kind, script, env={**env, "WORKER_COUNT": str(workers)}, log_dir=log_dir)
                )
        time.sleep(2)
        for round_number in range(rounds):
            for (script_name, kind, workers), server in servers.items():
                body = SCRIPTS[script_name][2]
                for connections in (1, 16):
                    figures = wrk(server.url, body, connections, seconds, log_dir)
                    results.setdefault((script_name, kind, workers, connections), []).append(figures)
            print(f"round {round_number + 1}/{rounds} done", file=sys.stderr)
    print(f"\nthroughput: wrk -t1, {seconds} s per run, {rounds} interleaved rounds, medians")
    print(
        f"{'script':8} {'server':12} {'workers':>7} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'non-2xx':>7} {'vs azmlinfsrv(1)':>17}"
    )
    for (script_name, kind, workers, connections), runs in sorted(results.items()):
        median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        base = results[(script_name, "azmlinfsrv", 1, connections)]
        base_rps = statistics.median(r["rps"] for r in base)
        print(
            f"{script_name:8} {kind:12} {workers:>7} {connections:>4} {median['rps']:>9.0f} "
            f"{median['p50']:>8.3f} {median['p99']:>8.3f} {median['errors']:>7.0f} "
            f"{median['rps'] / base_rps:>16.2f}x"
        )


def reload_under_load(reloads: int, log_dir: Path) -> None:
    code = log_dir / "reload-code"
    code.mkdir()
    shutil.copy(FIXTURES / "echo.py", code / "score.py")
    token = "bench-token"
    with running(
        "workbench", code / "score.py", env={"WORKBENCH_ADMIN_TOKEN": token}, log_dir=log_dir
    ) as server:
        load: dict[str, float] = {}
        seconds = max(5, reloads // 2 + 3)
        worker = threading.Thread(
            target=lambda: load.update(wrk(server.url, b"{}", 4, seconds, log_dir)), daemon=True
        )
        worker.start()
        time.sleep(1)
        totals, loads = [], []
        for number in range(reloads):
            (code / "score.py").write_text(
                f"def init():\n    pass\n\n\ndef run(data):\n    return {{'version': {number}}}\n"
            )
            outcome = httpx.post(
                server.url + "/-/reload", headers={"Authorization": f"Bearer {token}"}
            ).json()
            assert outcome["status"] == "reloaded", outcome
            totals.append(outcome["total_ms"] - outcome["init_ms"])
            loads.append(outcome["load_ms"])
            time.sleep(0.2)
        worker.join()
    print(f"\nreload under load (wrk -c4 for {seconds} s, {reloads} reloads of the echo script):")
    print(
        f"  reload time excluding init(): median {statistics.median(totals):.2f} ms, "
        f"max {max(totals):.2f} ms (import alone: median {statistics.median(loads):.2f} ms)"
    )
    print(
        f"  requests during the run: {load['rps'] * seconds:.0f}, non-2xx answers: {load['errors']:.0f}, "
        f"socket errors: {load['socket_errors']:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reloads", type=int, default=20)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("needs wrk: apt-get install wrk")
    with tempfile.TemporaryDirectory() as folder:
        throughput(args.seconds, args.rounds, Path(folder))
        reload_under_load(args.reloads, Path(folder))


if __name__ == "__main__":
    main()
