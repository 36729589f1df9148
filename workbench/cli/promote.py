"""`workbench promote REMOTE`: the project onto a remote host of workbench.yaml (promote/)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from workbench.cli.validate import add_set_argument
from workbench.spec.overrides import parse_overrides


def add_parser(commands: Any) -> None:
    promote = commands.add_parser(
        "promote",
        help="run the project on a remote host (workbench.yaml remotes:), over SSH",
        description="Send the project to a remote host and run it there with the same engine: only "
        "what changed is sent and rolled out. Nothing there changes before preflight passes.",
    )
    promote.add_argument("remote", metavar="REMOTE", help="a name under remotes: in workbench.yaml")
    promote.add_argument("path", nargs="?", type=Path, default=Path("."), metavar="PATH")
    promote.add_argument(
        "--dry-run", action="store_true", help="check the host and print the plan; change nothing"
    )
    promote.add_argument(
        "--keep-traffic",
        action="store_true",
        help="leave the remote's traffic as it is (default: the spec's)",
    )
    promote.add_argument(
        "--rollback",
        nargs="?",
        const="",
        metavar="RELEASE",
        help="apply an earlier release again (default: the one before the current)",
    )
    promote.add_argument(
        "--lock",
        choices=("status", "release"),
        help="who holds the remote's promote lock; release it (a promote killed outright leaves it)",
    )
    add_set_argument(promote)
    promote.set_defaults(run=run_promote)

    listing = commands.add_parser(
        "releases",
        help="a remote's releases: who sent each, when, from which commit, and how it went",
    )
    listing.add_argument("remote", metavar="REMOTE", help="a name under remotes: in workbench.yaml")
    listing.add_argument("path", nargs="?", type=Path, default=Path("."), metavar="PATH")
    listing.set_defaults(run=run_releases)


def run_promote(args: argparse.Namespace) -> int:
    from workbench.cli.connect import remote_of
    from workbench.promote.promote import promote, rollback
    from workbench.spec import load_project

    folder = args.path if args.path.is_dir() else args.path.parent
    remote = remote_of(folder, args.remote)

    def say(line: str) -> None:
        print(line, flush=True)

    if args.lock is not None:
        from workbench.promote.promote import lock_command

        return lock_command(remote, args.lock, say)
    if args.rollback is not None:
        return rollback(remote, args.rollback or None, say, dry_run=args.dry_run)
    project = load_project(args.path, parse_overrides(args.set)).raise_for_errors()
    for problem in project.problems:
        print(problem.format(), file=sys.stderr)
    return promote(project, remote, say, dry_run=args.dry_run, keep_traffic=args.keep_traffic)


def run_releases(args: argparse.Namespace) -> int:
    from workbench.cli.connect import remote_of
    from workbench.promote.promote import list_releases

    folder = args.path if args.path.is_dir() else args.path.parent
    for line in list_releases(remote_of(folder, args.remote)):
        print(line)
    return 0
