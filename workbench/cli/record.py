"""`workbench record ENDPOINT` and `workbench replay RECORDING ENDPOINT`: live requests kept, then
sent again against a deployment and the answers compared (workbench/replay.py)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from workbench.cli.connect import add_target_arguments, engine_client
from workbench.cli.interrupt import until_interrupted


def add_parser(commands: Any) -> None:
    record = commands.add_parser(
        "record", help="record an endpoint's answered requests (no credentials) for a replay"
    )
    record.add_argument("endpoint")
    record.add_argument("--seconds", type=float, help="stop after this long (default: at Ctrl-C)")
    add_target_arguments(record)
    record.set_defaults(run=run_record)

    replay = commands.add_parser(
        "replay", help="send recorded requests again and compare the answers with the recorded ones"
    )
    replay.add_argument("recording", type=Path)
    replay.add_argument("endpoint")
    replay.add_argument("--deployment", help="send them all to this deployment")
    replay.add_argument("--tolerance", type=float, default=0.0, help="relative, for numbers (e.g. 1e-6)")
    replay.add_argument("--ignore", action="append", default=[], metavar="PATH", help="a JSON path to skip")
    add_target_arguments(replay)
    replay.set_defaults(run=run_replay)


def run_record(args: argparse.Namespace) -> int:
    with engine_client(args) as client:
        started = client.recording(args.endpoint, True)
        with contextlib.suppress(KeyboardInterrupt):  # from the moment it is said: the recording stops
            print(f"recording {args.endpoint}'s requests to {started.file}; Ctrl-C stops", file=sys.stderr)
            until_interrupted(args.seconds)
        done = client.recording(args.endpoint, False)
    print(f"recorded {done.requests} request(s) to {done.file}")
    return 0


def run_replay(args: argparse.Namespace) -> int:
    from workbench.errors import WorkbenchError
    from workbench.replay import replay
    from workbench.router.recorder import RecordingError, read_records

    try:
        read_records(args.recording)  # every line checked before anything is sent
    except RecordingError as exc:
        raise WorkbenchError(f"{exc}: not a recording `workbench record` wrote") from exc
    except OSError as exc:
        raise WorkbenchError(f"cannot read {args.recording}: {exc.strerror}") from exc
    with engine_client(args) as client:
        uri, needed = client.scoring(args.endpoint, args.deployment)
        headers = {k: v for k, v in needed.items() if k != "Content-Type"}  # each request keeps its own
        result = replay(
            args.recording,
            uri,
            headers,
            tolerance=args.tolerance,
            ignore=args.ignore,
            verify=client.verify_scoring,
        )
    for difference in result.differences[:20]:
        print(f"#{difference.index} {difference.target}: differs at {', '.join(difference.where)}")
    print(
        f"{result.same} same, {len(result.differences)} different"
        + (f", {result.skipped} skipped (bodies too large to keep)" if result.skipped else "")
    )
    return 1 if result.differences else 0
