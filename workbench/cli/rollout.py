"""`workbench rollout ENDPOINT DEPLOYMENT`: the new deployment's traffic in judged steps, and back
at once when a step fails (workbench/rollout.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from workbench.cli.connect import add_target_arguments, engine_client, read_request_file
from workbench.errors import WorkbenchError


def add_parser(commands: Any) -> None:
    rollout = commands.add_parser(
        "rollout",
        help="move traffic to a deployment in judged steps, rolling back at once when one fails",
        description="Azure's safe rollout, automated: optionally mirror a share to DEPLOYMENT first, "
        "then give it each share of --steps for --interval seconds. Each step is judged on the "
        "router's figures for its window: the share of DEPLOYMENT's requests that failed (5xx, 408, "
        "424, 429), its p99, and in the mirror stage the share of its answers that differ. The engine "
        "runs the rollout: a threshold crossed, Ctrl-C, or this command ending any other way (killed, "
        "its SSH tunnel closed) puts the traffic back as it was (exit 4). With --request-file and "
        "--rate, the rollout sends its own traffic (a rehearsal).",
    )
    rollout.add_argument("endpoint")
    rollout.add_argument("deployment")
    rollout.add_argument("--steps", default="10,50,100", help="its shares, in order (default 10,50,100)")
    rollout.add_argument("--interval", type=float, default=30.0, help="seconds per step (default 30)")
    rollout.add_argument(
        "--mirror-first", type=int, default=0, metavar="PERCENT", help="mirror this share first"
    )
    rollout.add_argument("--max-error-rate", type=float, default=1.0, metavar="PERCENT", help="default 1")
    rollout.add_argument(
        "--max-p99-ms", type=float, metavar="MS", help="its p99 in a step at most (default: none)"
    )
    rollout.add_argument(
        "--max-diff-rate",
        type=float,
        metavar="PERCENT",
        help="in the mirror stage, its answers that may differ from the live ones (default: any)",
    )
    rollout.add_argument("--request-file", type=Path, help="send this request during the rollout...")
    rollout.add_argument("--rate", type=float, default=20.0, help="...this many times a second (default 20)")
    add_target_arguments(rollout)
    rollout.set_defaults(run=run_rollout_command)


def run_rollout_command(args: argparse.Namespace) -> int:
    from workbench.canary import RolloutPlan
    from workbench.loadgen import LoadPlan
    from workbench.rollout import ROLLED_BACK, RolledBack, run_rollout

    try:
        steps = tuple(int(s) for s in args.steps.split(","))
    except ValueError as exc:
        raise WorkbenchError(f"--steps {args.steps}: whole percents, e.g. 10,50,100") from exc
    plan = RolloutPlan(
        args.endpoint,
        args.deployment,
        steps=steps,
        interval_s=args.interval,
        mirror_first=args.mirror_first,
        max_error_rate=args.max_error_rate,
        max_p99_ms=args.max_p99_ms,
        max_diff_rate=args.max_diff_rate,
    )

    def say(line: str) -> None:
        print(line, flush=True)

    with engine_client(args) as client:
        load = None
        if args.request_file is not None:
            uri, headers = client.scoring(args.endpoint)
            try:
                load = LoadPlan(
                    uri=uri,
                    headers=headers,
                    body=read_request_file(args.request_file),
                    rate=args.rate,
                    duration_s=min(3600.0, plan.stages * plan.interval_s + 10),
                    verify=client.verify_scoring,
                )
            except ValueError as exc:
                raise WorkbenchError(str(exc)) from exc
        try:
            windows = run_rollout(client, plan, say, load)
        except RolledBack as failed:
            print(f"rolled back: {failed}", file=sys.stderr)
            return ROLLED_BACK
    say("step          requests   failed   p99")
    for window in windows:
        say(window.line())
    return 0
