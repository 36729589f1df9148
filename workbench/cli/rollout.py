"""`workbench rollout ENDPOINT DEPLOYMENT`: the new deployment's traffic in judged steps, and back
at once when a step fails (workbench/rollout.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from workbench.cli.connect import add_target_arguments, engine_client, read_request_file
from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.canary import RolloutPlan

T = TypeVar("T")


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
        "--rate, the rollout sends its own traffic (a rehearsal). Defaults come from the endpoint's "
        "`rollout:` in workbench.yaml where it has one; a flag wins over it.",
    )
    rollout.add_argument("endpoint")
    rollout.add_argument("deployment")
    rollout.add_argument("--steps", help="its shares, in order (default 10,50,100)")
    rollout.add_argument("--interval", type=float, help="seconds per step (default 30)")
    rollout.add_argument("--mirror-first", type=int, metavar="PERCENT", help="mirror this share first")
    rollout.add_argument("--max-error-rate", type=float, metavar="PERCENT", help="default 1")
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
    from workbench.cli.connect import project_folder
    from workbench.layout import ProjectFiles
    from workbench.loadgen import LoadPlan
    from workbench.rollout import ROLLED_BACK, RolledBack, run_rollout

    plan = plan_of(args)

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
            report = run_rollout(client, plan, say, load)
        except RolledBack as failed:
            say(f"report: {failed.report.write(ProjectFiles(project_folder(args)).rollouts)}")
            print(f"rolled back: {failed}", file=sys.stderr)
            return ROLLED_BACK
    say("step          requests   failed   p99")
    for window in report.windows:
        say(window.line())
    say(f"report: {report.write(ProjectFiles(project_folder(args)).rollouts)}")
    return 0


def plan_of(args: argparse.Namespace) -> RolloutPlan:
    """The plan from the flags given, the endpoint's `rollout:` in workbench.yaml for the rest."""
    from workbench.canary import RolloutPlan
    from workbench.cli.connect import local_settings, project_folder
    from workbench.spec.rollout import RolloutSettings

    settings = local_settings(project_folder(args))
    endpoint = settings.endpoints.get(args.endpoint) if settings is not None else None
    written = (endpoint.rollout if endpoint is not None else None) or RolloutSettings()
    steps = written.steps
    if args.steps is not None:
        try:
            steps = tuple(int(s) for s in args.steps.split(","))
        except ValueError as exc:
            raise WorkbenchError(f"--steps {args.steps}: whole percents, e.g. 10,50,100") from exc
    return RolloutPlan(
        args.endpoint,
        args.deployment,
        steps=steps,
        interval_s=_given(args.interval, written.interval_s),
        mirror_first=_given(args.mirror_first, written.mirror_first),
        max_error_rate=_given(args.max_error_rate, written.max_error_rate),
        max_p99_ms=_given(args.max_p99_ms, written.max_p99_ms),
        max_diff_rate=_given(args.max_diff_rate, written.max_diff_rate),
    )


def _given(flag: T, written: T) -> T:
    return written if flag is None else flag
