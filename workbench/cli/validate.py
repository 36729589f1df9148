"""`workbench validate [PATH ...] [--json]`: pre-cloud validation of the Azure YAML files."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from workbench.spec import Problem, Project, load_project
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
    parser.add_argument(
        "--runtime",
        choices=["process", "docker"],
        help="check for this runtime too (docker: what the base image would change, asking the "
        "Docker engine which images are here)",
    )
    add_set_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    project = load_project(args.paths, parse_overrides(args.set))
    if project.ok and _uses_docker(project, args.runtime):
        from workbench.engine.baseimage import foreseen_python_mismatches
        from workbench.runtimes import docker_runtime

        runtime = docker_runtime(project.root)
        found = foreseen_python_mismatches(runtime, project, args.runtime)
        project = dataclasses.replace(project, problems=(*project.problems, *found))
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


def _uses_docker(project: Project, override: str | None) -> bool:
    if override is not None:
        return bool(override == "docker")
    return any(
        project.settings.runtime_for(e.name, d.name) == "docker"
        for e in project.endpoints
        for d in e.deployments
    )


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
