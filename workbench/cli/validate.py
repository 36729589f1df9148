"""`workbench validate [PATH ...] [--json]`: pre-cloud validation of the Azure YAML files."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from workbench.spec import Problem, load_project
from workbench.spec.overrides import parse_overrides


def add_set_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a value at a dotted YAML path, as `az ml ... --set` (the named files, or the folder's "
        "deployment files); repeatable",
    )


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "validate",
        help="check endpoint and deployment YAML before deploying",
        description="Check every endpoint, deployment, model and environment file and report "
        "every problem as file:line:col: key: message. Exit code 2 when there are errors.",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        default=[Path(".")],
        metavar="PATH",
        help="a folder of spec files, or spec files (default: .)",
    )
    parser.add_argument("--json", action="store_true", help="print problems as a JSON list")
    add_set_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    project = load_project(args.paths, parse_overrides(args.set))
    if args.json:
        json.dump([p.to_json() for p in project.problems], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_problems(project.problems, sys.stdout)
        print(
            _summary(
                project.problems,
                len(project.files),
                len(project.endpoints),
                sum(len(e.deployments) for e in project.endpoints),
            )
        )
    return 0 if project.ok else 2


def print_problems(problems: Iterable[Problem], stream: IO[str]) -> None:
    for problem in problems:
        stream.write(problem.format() + "\n")


def _summary(problems: tuple[Problem, ...], files: int, endpoints: int, deployments: int) -> str:
    errors = sum(1 for p in problems if p.is_error)
    warnings = len(problems) - errors
    checked = (
        f"{files} file{_s(files)}: {endpoints} endpoint{_s(endpoints)}, "
        f"{deployments} deployment{_s(deployments)}"
    )
    if not problems:
        return f"ok: {checked}"
    return f"{errors} error{_s(errors)}, {warnings} warning{_s(warnings)} in {checked}"


def _s(count: int) -> str:
    return "" if count == 1 else "s"
