"""The `workbench` command: parses arguments, runs one command, prints errors, picks exit codes.

This is the only place that prints an error and chooses an exit code (2 spec, 3 start-up
failure, 4 promote, 1 other). Commands live in modules of their own and are imported only when run, so
`workbench validate` never loads the engine, the TUI or docker.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence

from workbench import __version__
from workbench.errors import SpecError, WorkbenchError

COMMANDS = {
    "validate": "workbench.cli.validate",
    "serve": "workbench.cli.serve",
    "engine": "workbench.cli.engine_commands",
    "endpoint": "workbench.cli.endpoint_commands",
    "dev": "workbench.cli.dev_commands",
    "collected": "workbench.cli.collected",
    "promote": "workbench.cli.promote",
    "export": "workbench.cli.export",
    "load": "workbench.cli.load",
    "rollout": "workbench.cli.rollout",
    "record": "workbench.cli.record",
    "doctor": "workbench.cli.doctor",
    "completion": "workbench.cli.completion",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Run Azure ML online endpoints on your own machine, from their YAML files.",
    )
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS.values():
        importlib.import_module(module).add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        code: int = args.run(args)
    except SpecError as exc:
        for problem in exc.problems:
            print(problem.format(), file=sys.stderr)
        return exc.exit_code
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into head and friends: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


def _interrupted(*_: object) -> None:
    """SIGTERM (`kill`, a supervisor, a test's terminate) ends a command as Ctrl-C does, so that
    what it opened is closed on the way out: a --remote command's SSH master and forwards, a
    tunnel. The engine and `serve` handle it themselves."""
    raise KeyboardInterrupt


def run() -> None:
    sys.exit(main())
