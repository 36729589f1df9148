"""This terminal handed to a program for a while: a shell inside an instance (`workbench shell`,
the dashboard's s), the command the engine gives (the runtime's `shell`) run with this
terminal's own variables added where the instance has none (TERM, HOME, LANG, ...); and the
user's editor at a file's line (the dashboard's e)."""

from __future__ import annotations

import errno
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from workbench.contract import Shell
from workbench.errors import EngineError

FROM_THE_TERMINAL = (
    "TERM",
    "COLORTERM",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "SHELL",
    "COLUMNS",
    "LINES",
)


def command_line(shell: Shell) -> str:
    """What runs, in words: the program and where."""
    where = f" in {shell.cwd}" if shell.cwd else ""
    return " ".join(shell.argv) + where


def open_shell(shell: Shell) -> int:
    """Run the shell in this terminal until the user leaves it; its exit code."""
    program = shutil.which(shell.argv[0])
    if program is None:
        raise EngineError(f"`{shell.argv[0]}` is not installed here: it opens the instance's shell")
    env = None
    if shell.env is not None:
        env = dict(shell.env)
        for name in FROM_THE_TERMINAL:
            if name in os.environ and name not in env:
                env[name] = os.environ[name]
    return subprocess.run([program, *shell.argv[1:]], cwd=shell.cwd, env=env, check=False).returncode


def terminal_closed() -> bool:
    """This process's terminal has hung up (its window closed): reading it gives nothing, ever."""
    try:
        os.tcgetpgrp(sys.__stdin__.fileno() if sys.__stdin__ else 0)
    except OSError as exc:
        return exc.errno in (errno.EIO, errno.ENXIO)  # not ENOTTY: no terminal to begin with
    return False


def edit(path: Path, line: int) -> int:
    """`path` at `line` in $VISUAL, else $EDITOR, else vi: `+LINE FILE`, which vi, vim, nano,
    emacs and micro read; `code -g FILE:LINE` for VS Code."""
    editor = shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")
    if Path(editor[0]).name in ("code", "code-insiders", "codium"):
        arguments = [*editor, "-g", f"{path}:{line or 1}"]
    else:
        arguments = [*editor, *([f"+{line}"] if line else []), str(path)]
    return subprocess.run(arguments, check=False).returncode
