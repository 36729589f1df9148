"""The docs stay true to the code: every command line in README.md and docs/ (code blocks and
inline code) names a command that exists and only options it takes; the commands of code blocks
that need nothing but this checkout run and succeed; docs/architecture.md names every module of
the package, and every path of the package that a page names exists."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from tests.conftest import QUICKSTART, REPO, run_workbench
from tests.engine.harness import copy_project
from workbench.azlocal.commands import COMMANDS, parser_for
from workbench.cli import build_parser

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"```[^\n]*\n(.*?)```", re.S)
INLINE = re.compile(r"`(workbench [^`\n]+)`")
COMMAND = re.compile(r"(?:^|&&|;|\|)\s*(?:\$\s*)?(workbench [^;&|#]*)")
OPTION = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")
RUNNABLE = ("validate", "doctor", "completion")
"""Commands a code block may show that run here with nothing but the checkout."""


def command_lines() -> list[tuple[Path, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for block in BLOCK.findall(text):
            for line in block.splitlines():
                found += [(doc, m.group(1).strip()) for m in COMMAND.finditer(line)]
        prose = BLOCK.sub("", text)
        found += [(doc, m.group(1).strip()) for m in INLINE.finditer(prose)]
    return found


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_command_line_in_the_docs_matches_its_help() -> None:
    lines = command_lines()
    assert len(lines) > 50  # the docs show many: the patterns find them
    wrong = []
    for doc, line in lines:
        words = line.split()[1:]
        parser, name = build_parser(), "workbench"
        while words and subcommands(parser) and not words[0].startswith(("-", "[")):
            choices = subcommands(parser)
            if words[0] not in choices:
                if name == "workbench" or words[0].isupper():
                    break
                wrong.append(f"{doc.name}: `{line}`: {name} has no command {words[0]!r}")
                break
            name, parser, words = f"{name} {words[0]}", choices[words[0]], words[1:]
        if name == "workbench":
            if words and not words[0].startswith("-") and words[0].islower():
                wrong.append(f"{doc.name}: `{line}`: no command {words[0]!r}")
            continue
        options = {s for action in parser._actions for s in action.option_strings}
        for option in OPTION.findall(" ".join(words)):
            if option not in options:
                wrong.append(f"{doc.name}: `{line}`: {name} takes no {option}")
    assert wrong == []


AZLOCAL_INLINE = re.compile(r"`(azlocal [^`\n]+)`")
AZLOCAL = re.compile(r"(?:^|&&|;|\||\$\(|alias az=)\s*(azlocal [^;&|#)]*)")


def azlocal_lines() -> list[tuple[Path, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for block in BLOCK.findall(text):
            for line in block.splitlines():
                found += [(doc, m.group(1).strip()) for m in AZLOCAL.finditer(line)]
        found += [(doc, m.group(1).strip()) for m in AZLOCAL_INLINE.finditer(BLOCK.sub("", text))]
    return found


def test_every_azlocal_line_in_the_docs_names_a_command_it_has_and_its_options() -> None:
    """Table rows write alternatives as `create\\|update`: each alternative is checked."""
    lines = azlocal_lines()
    assert len(lines) > 10
    wrong = []
    for doc, line in lines:
        words = line.replace("\\|", "|").split()[1:]
        path = [w for w in words if not w.startswith("-")][:4]
        path = path[: next((i for i, w in enumerate(path) if not re.fullmatch(r"[a-z-]+(\|[a-z-]+)*", w)), 4)]
        if not path:
            continue
        alternatives = [
            tuple(w.split("|")[i] if "|" in w else w for w in path)
            for i in range(max(len(w.split("|")) for w in path))
        ]
        for wanted in alternatives:
            command = next((c for c in COMMANDS if wanted[: len(c.words)] == c.words), None)
            if command is None:
                if not any(c.words[: len(wanted)] == wanted for c in COMMANDS):
                    wrong.append(f"{doc.name}: `{line}`: azlocal has no {' '.join(wanted)}")
                continue
            options = {s for action in parser_for(command)._actions for s in action.option_strings}
            for option in OPTION.findall(" ".join(w for w in words if w.startswith("-"))):
                if option not in options:
                    wrong.append(f"{doc.name}: `{line}`: azlocal {' '.join(command.words)} takes no {option}")
    assert wrong == []


def runnable_lines() -> list[str]:
    """The docs' commands that run with the quickstart alone: what they name is in it."""
    lines = set()
    for _, line in command_lines():
        words = line.split()[1:]
        if words[:1] and words[0] in RUNNABLE and not any(c in line for c in "[|"):
            named = [w for w in words[1:] if not w.startswith("-") and ("/" in w or "." in w)]
            if all((QUICKSTART / w).exists() for w in named):
                lines.add(line)
    return sorted(lines)


@pytest.mark.parametrize("line", runnable_lines())
def test_runnable_commands_of_the_docs_succeed_in_the_quickstart(line: str, tmp_path: Path) -> None:
    project = copy_project(QUICKSTART, tmp_path / "quickstart")
    result = run_workbench(*shlex.split(line)[1:], cwd=project)
    allowed = (0, 1) if line.split()[1] == "doctor" else (0,)  # doctor: 1 names what is missing
    assert result.returncode in allowed, result.stdout + result.stderr


def test_the_architecture_page_names_every_module_and_only_modules_that_exist() -> None:
    page = (REPO / "docs" / "architecture.md").read_text().splitlines()
    unnamed = []
    for path in sorted((REPO / "workbench").rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts or path.name in ("__init__.py", "__main__.py"):
            continue
        relative = path.relative_to(REPO).as_posix()
        folder = path.parent.relative_to(REPO).as_posix() + "/"
        if not any(relative in row or (folder in row and f"`{path.name}`" in row) for row in page):
            unnamed.append(relative)
    assert unnamed == []
    named = set(re.findall(r"`(workbench/[\w/]+\.\w+)`", "\n".join(page)))
    for doc in DOCS:
        named |= set(re.findall(r"`(workbench/[\w/]+\.(?:py|tcss|json))`", doc.read_text()))
    assert sorted(n for n in named if not (REPO / n).exists()) == []
