"""`workbench load ENDPOINT`: open-model load through the scoring URI (workbench/loadgen.py)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from workbench.cli.connect import add_target_arguments, engine_client, read_request_file
from workbench.errors import WorkbenchError


def add_parser(commands: Any) -> None:
    load = commands.add_parser(
        "load",
        help="send requests at a steady rate (or a ramp) and report latency percentiles",
        description="An open-model load generator through the endpoint's scoring URI, with its "
        "key or token: requests are due on a schedule whether or not earlier ones were answered, "
        "and latency counts from when each was due. Bounded by --duration and --requests.",
    )
    load.add_argument("endpoint")
    load.add_argument("--request-file", required=True, type=Path)
    load.add_argument("--rate", type=float, default=20.0, help="requests a second (default 20)")
    load.add_argument("--ramp-to", type=float, help="the rate at the end: a linear ramp from --rate")
    load.add_argument("--duration", type=float, default=10.0, help="seconds (default 10)")
    load.add_argument("--requests", type=int, help="stop after this many")
    load.add_argument("--concurrency", type=int, default=64, help="at most this many in flight (default 64)")
    load.add_argument("--deployment", help="pin every request to this deployment")
    load.add_argument("--json", action="store_true", help="the summary as JSON")
    add_target_arguments(load)
    load.set_defaults(run=run_load_command)


def run_load_command(args: argparse.Namespace) -> int:
    from workbench.loadgen import LoadPlan, run_load

    body = read_request_file(args.request_file)
    with engine_client(args) as client:
        uri, headers = client.scoring(args.endpoint, args.deployment)
        try:
            plan = LoadPlan(
                uri=uri,
                headers=headers,
                body=body,
                rate=args.rate,
                duration_s=args.duration,
                requests=args.requests,
                concurrency=args.concurrency,
                ramp_to=args.ramp_to,
                verify=client.verify_scoring,
            )
        except ValueError as exc:
            raise WorkbenchError(str(exc)) from exc
        result = asyncio.run(run_load(plan, lambda line: print(line, file=sys.stderr, flush=True)))
    summary = result.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    latency = summary["latency_ms"]
    assert isinstance(latency, dict)
    print(f"{summary['requests']} requests in {summary['seconds']} s ({summary['rate']} a second)")
    print("latency ms (from when due): " + "  ".join(f"{k} {v}" for k, v in latency.items()))
    print(f"statuses: {summary['statuses']}  deployments: {summary['deployments']}")
    if summary["errors"]:
        print(f"errors: {summary['errors']}")
    for line in plot(result.per_second(), result.latencies_ms):
        print(line)
    return 0


BARS = " ▁▂▃▄▅▆▇█"
HISTOGRAM_MS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
PLOT_WIDTH = 60


def plot(seconds: list[dict[str, float | int | None]], latencies_ms: list[float]) -> list[str]:
    """The run in the terminal: answered requests and p99 per second as bars (the last
    PLOT_WIDTH seconds, each row scaled to its own maximum), then the latency distribution."""
    shown = seconds[-PLOT_WIDTH:]
    lines = []
    for label, key in (("answered/s", "answered"), ("p99 ms", "p99_ms")):
        values = [float(row[key] or 0) for row in shown]
        top = max(values, default=0.0)
        bars = "".join(BARS[round(v / top * (len(BARS) - 1))] if top else " " for v in values)
        lines.append(f"{label:>10} │{bars}│ max {top:,.1f}")
    if seconds:
        lines.append(f"{'':>10}  second {shown[0]['second']} … {shown[-1]['second']}")
    counts = [0] * (len(HISTOGRAM_MS) + 1)
    for latency in latencies_ms:
        counts[next((i for i, bound in enumerate(HISTOGRAM_MS) if latency <= bound), len(HISTOGRAM_MS))] += 1
    most = max(counts, default=0)
    for index, count in enumerate(counts):
        if count:
            bound = (
                f"≤ {HISTOGRAM_MS[index]:g} ms" if index < len(HISTOGRAM_MS) else f"> {HISTOGRAM_MS[-1]:g} ms"
            )
            lines.append(f"{bound:>10} │{'█' * max(1, round(count / most * 40))} {count:,}")
    return lines
