"""`workbench completion bash|zsh|fish`: shell completion for commands, their options, and the
endpoint and deployment names of the running engine.

The script a shell sources asks `workbench completion --words WORD...` (the words typed so far,
the last one being completed) for the candidates, one a line; the shell filters them by what is
typed. Names come from the engine the command would talk to (the project's, or the one running);
without one, none are offered, and nothing is printed on stderr.

    source <(workbench completion bash)      # in ~/.bashrc
    workbench completion zsh > "${fpath[1]}/_workbench"
    workbench completion fish > ~/.config/fish/completions/workbench.fish
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

SCRIPTS = {
    "bash": """_workbench() {
    local IFS=$'\\n'
    local candidates
    candidates=$(workbench completion --words "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
    COMPREPLY=($(compgen -W "$candidates" -- "${COMP_WORDS[COMP_CWORD]}"))
}
complete -o default -F _workbench workbench
""",
    "zsh": """#compdef workbench
_workbench() {
    local -a candidates
    candidates=("${(@f)$(workbench completion --words "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    compadd -a candidates
}
compdef _workbench workbench
""",
    "fish": "complete -c workbench -f -a "
    "'(workbench completion --words (commandline -opc)[2..-1] (commandline -ct))'\n",
}
NAMED = ("endpoint", "deployment")
"""Positional arguments whose candidates are the running engine's names."""


def add_parser(commands: Any) -> None:
    completion = commands.add_parser(
        "completion",
        help="print the shell completion script for bash, zsh or fish",
        description="Print a completion script: `source <(workbench completion bash)` in ~/.bashrc; "
        'zsh: `workbench completion zsh > "${fpath[1]}/_workbench"`; fish: `workbench completion fish '
        "> ~/.config/fish/completions/workbench.fish`.",
    )
    completion.add_argument("shell", nargs="?", choices=sorted(SCRIPTS))
    completion.add_argument("--words", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    completion.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.words is not None:
        for candidate in candidates(list(args.words) or [""]):
            print(candidate)
        return 0
    if args.shell is None:
        print("name a shell: workbench completion bash|zsh|fish", file=sys.stderr)
        return 2
    sys.stdout.write(SCRIPTS[args.shell])
    return 0


def candidates(words: list[str]) -> list[str]:
    """What may stand in place of the last of `words` (the command line after `workbench`)."""
    from workbench.cli import build_parser

    parser = build_parser()
    subcommands = _subcommands(parser)
    *before, current = words
    if not before:
        return sorted(subcommands) if not current.startswith("-") else ["--help", "--version"]
    command = subcommands.get(before[0])
    if command is None:
        return []
    if current.startswith("-"):
        return sorted(s for action in command._actions for s in action.option_strings)
    option = next((a for a in command._actions if before[-1] in a.option_strings), None)
    if option is not None and option.nargs != 0:  # the option's value
        return sorted(str(c) for c in option.choices or ())
    positionals = [a for a in command._actions if not a.option_strings and a.dest != "help"]
    index = _positional_index(command, before[1:])
    if index >= len(positionals):
        return []
    action = positionals[index]
    if action.choices:
        return sorted(str(c) for c in action.choices)
    if action.dest in NAMED:
        return _names(action.dest, before[1:])
    return []


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _positional_index(command: argparse.ArgumentParser, words: list[str]) -> int:
    """How many positional words come before the one being completed (options and their values
    skipped)."""
    takes_value = {s for a in command._actions if a.option_strings and a.nargs != 0 for s in a.option_strings}
    count, skip = 0, False
    for word in words:
        if skip:
            skip = False
        elif word.startswith("-"):
            skip = word in takes_value
        else:
            count += 1
    return count


def _names(kind: str, words: list[str]) -> list[str]:
    """The running engine's endpoint names, or the named endpoint's deployment names."""
    from workbench.client import EngineClient

    project = _option_value(words, "--project")
    endpoint = next((w for w in words if not w.startswith("-") and w != project), None)
    with contextlib.suppress(Exception):  # no engine, or one that does not answer: no names
        with EngineClient.for_folder(Path(project or "."), anywhere=project is None) as client:
            endpoints = client.status()
        if kind == "endpoint":
            return sorted(e.name for e in endpoints)
        return sorted(d.name for e in endpoints if e.name == endpoint for d in e.deployments)
    return []


def _option_value(words: list[str], option: str) -> str | None:
    for index, word in enumerate(words):
        if word == option and index + 1 < len(words):
            return words[index + 1]
        if word.startswith(option + "="):
            return word.split("=", 1)[1]
    return None
