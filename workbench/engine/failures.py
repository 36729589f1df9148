"""Failures of user code as typed objects: read once, here, from what an instance said (a reload's
answer, or the traceback in its log when it crashed), so that every client shows the user's file
and line without parsing text of its own.

Both inference servers (the workbench's and azmlinfsrv) log Python's own traceback format, which
is what `from_traceback` reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from workbench.contract import Failure
from workbench.server.admin import ReloadFailure

TRACEBACK_START = "Traceback (most recent call last):"
FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+)')
EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*)(?:: (.*))?$")


def from_traceback(lines: Sequence[str], user_folder: str | None) -> Failure | None:
    """The failure a log's tracebacks tell: of the last traceback with a frame in `user_folder`
    (the project's code folder, staged paths already mapped to it), its exception and its deepest
    frame there; where no traceback has such a frame, the last one and its deepest frame. A chain
    (`raise ... from`, as azmlinfsrv wraps a user's exception) is read as the tracebacks it prints.
    None where the lines hold no traceback."""
    blocks = [b for b in (_block(lines, n) for n, line in enumerate(lines) if _starts(line)) if b]
    ours = [b for b in blocks if any(_is_ours(file, user_folder) for file, _ in b[0])]
    if not (ours or blocks):
        return None
    frames, (error, message) = (ours or blocks)[-1]
    file, line = [f for f in frames if _is_ours(f[0], user_folder)][-1] if ours else frames[-1]
    return Failure(file, line, error, message)


Block = tuple[list[tuple[str, int]], tuple[str, str]]
"""A traceback's frames (file, line), innermost last, and its exception (type, message)."""


def _starts(line: str) -> bool:
    return line.rstrip().endswith(TRACEBACK_START)


def _block(lines: Sequence[str], start: int) -> Block | None:
    frames: list[tuple[str, int]] = []
    for line in lines[start + 1 :]:
        frame = FRAME.match(line)
        if frame:
            frames.append((frame.group(1), int(frame.group(2))))
            continue
        if line.startswith((" ", "\t")) or not line.strip() or not frames:
            continue  # a frame's source line, or a caret under it
        raised = EXCEPTION.match(line.rstrip())
        if raised is None:
            return None
        return frames, (raised.group(1).rsplit(".", 1)[-1], raised.group(2) or "")
    return None


def _is_ours(file: str, user_folder: str | None) -> bool:
    return bool(user_folder) and file.startswith(str(user_folder).rstrip("/") + "/")


def from_reload(failure: ReloadFailure, user_paths: Callable[[str], str]) -> Failure:
    """A failed reload as the workbench server said it; `user_paths` maps the staged copy's
    path to the project's."""
    return Failure(user_paths(failure.file), failure.line, failure.error, failure.message)
