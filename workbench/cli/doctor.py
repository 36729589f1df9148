"""`workbench doctor [--json] [--fix]`: what each feature needs on this machine, with the fix for
each missing piece (workbench/doctor.py). Exit code 1 when something a feature needs is missing."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

MARKS = {"ok": "ok  ", "warning": "warn", "missing": "MISS"}


def add_parser(commands: Any) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="check what each feature needs on this machine, and say how to fix what is missing",
        description="Check the Docker engine and your access to it, the base image, GPUs, ssh, the "
        "terminal, free disk and uv; print each missing piece with its fix.",
    )
    doctor.add_argument("--json", action="store_true", help="the findings as a JSON list")
    doctor.add_argument(
        "--fix", action="store_true", help="make what can be made here: the Docker runtime's base image"
    )
    doctor.add_argument("--project", type=Path, default=Path("."), help="the project folder (default: .)")
    doctor.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from workbench.doctor import MISSING, examine, fix_base_image

    if args.fix:
        fix_base_image(args.project, lambda line: print(line, file=sys.stderr, flush=True))
    findings = examine(args.project)
    if args.json:
        json.dump([f.to_json() for f in findings], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        width = max(len(f.check) for f in findings)
        for finding in findings:
            print(f"{MARKS[finding.status]}  {finding.check:<{width}}  {finding.detail}")
            if finding.fix:
                print(f"      {'':<{width}}  fix: {finding.fix}  (for {finding.needed_for})")
    return 1 if any(f.status == MISSING for f in findings) else 0
