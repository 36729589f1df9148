"""`azlocal`: Azure's `az` for what an online endpoint's life needs, against the workbench.

It takes `az`'s arguments and answers as `az ml` does (the same JSON shapes and field names,
`-o json|tsv|table|yaml|none`, `--query`, errors on stderr as `ERROR: ...`, exit codes 1, 2 for
arguments and 3 for a resource not found, blocking until done unless `--no-wait`), so that
Azure's own scripts run unchanged with `alias az=azlocal` or a shim `az` first on PATH. What it
creates goes into a local workspace (workbench/workspace/), run by an engine that starts on first
use. Commands that need Azure itself (`acr build`, `storage`, `role assignment`) fail at once,
saying so.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from workbench.errors import NotFound, SpecError, WorkbenchError

if TYPE_CHECKING:
    from workbench.azlocal.commands import Command

NEEDS_AZURE = 1
ARGUMENTS = 2
NOT_FOUND = 3


def main(argv: Sequence[str] | None = None) -> int:
    from workbench.azlocal.commands import COMMANDS, parser_for  # noqa: PLC0415 (after the fast paths)

    words = list(sys.argv[1:] if argv is None else argv)
    path = words[: next((i for i, w in enumerate(words) if w.startswith("-")), len(words))]
    if not path or path == ["help"]:
        print(_usage(COMMANDS))
        return 0
    longest_first = sorted(COMMANDS, key=lambda c: -len(c.words))
    command = next((c for c in longest_first if tuple(path[: len(c.words)]) == c.words), None)
    if command is None:
        return _unknown(path, COMMANDS)
    args = parser_for(command).parse_args(words[len(command.words) :])
    from workbench.azlocal.context import Context, Missing  # noqa: PLC0415
    from workbench.azlocal.output import render  # noqa: PLC0415

    context: Context | None = None
    try:
        context = Context(args)
        result = command.run(context)
        if result is not None:
            sys.stdout.write(render(result, args.output, args.query))
    except SpecError as exc:
        for problem in exc.problems:
            print(f"ERROR: {problem.format()}", file=sys.stderr)
        return 1
    except Missing as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return ARGUMENTS
    except NotFound as exc:
        print(f"ERROR: (ResourceNotFound) {exc}", file=sys.stderr)
        return NOT_FOUND
    except WorkbenchError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        if context is not None:
            context.close()
    return 0


def _unknown(path: list[str], commands: Sequence[Command]) -> int:
    known = {c.words[: len(path) - 1] for c in commands if len(c.words) >= len(path) - 1}
    groups = {c.words[:i] for c in commands for i in range(1, len(c.words))}
    if tuple(path) in groups:
        below = sorted({" ".join(c.words) for c in commands if c.words[: len(path)] == tuple(path)})
        print("azlocal knows:\n  azlocal " + "\n  azlocal ".join(below))
        return 0
    if len(path) > 1 and tuple(path[:-1]) in groups and tuple(path[:-1]) in known:
        print(
            f"ERROR: '{path[-1]}' is misspelled or not recognized by azlocal's "
            f"'{' '.join(path[:-1])}' (azlocal {' '.join(path[:-1])} lists what it knows)",
            file=sys.stderr,
        )
        return ARGUMENTS
    print(
        f"ERROR: 'az {' '.join(path)}' needs Azure: azlocal runs online endpoints, their deployments, "
        "models, environments and autoscale locally, and nothing else",
        file=sys.stderr,
    )
    return NEEDS_AZURE


def _usage(commands: Sequence[Command]) -> str:
    lines = [
        "azlocal: Azure's `az` for online endpoints, run locally by the endpoint workbench.",
        "Use it as az (alias az=azlocal); -w picks a workspace, as does",
        "`azlocal configure --defaults workspace=NAME`.",
        "",
    ]
    for command in commands:
        lines.append(f"  azlocal {' '.join(command.words):40} {command.summary}")
    return "\n".join(lines)


def run() -> None:
    sys.exit(main())
