"""A real terminal for tests and benchmarks: a tmux server of its own, read with capture-pane
and driven with send-keys."""

from __future__ import annotations

import re
import subprocess
import time
from typing import NamedTuple

SGR = re.compile(r"\x1b\[([0-9;]*)m")


class Cell(NamedTuple):
    char: str
    fg: tuple[int, ...] | None
    """The foreground colour as the terminal was told it (`(5, n)` of 256, `(2, r, g, b)`, or a
    basic code); None for the default."""
    bg: tuple[int, ...] | None


class Terminal:
    def __init__(self, socket: str, width: int, height: int) -> None:
        self.socket = socket
        self.size = (width, height)

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True, timeout=10
        )
        return result.stdout

    def start(self, command: str) -> None:
        width, height = self.size
        self.tmux("new-session", "-d", "-s", "main", "-x", str(width), "-y", str(height), command)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "main")

    def cells(self) -> list[list[Cell]]:
        """The screen with colours: a row of cells per line."""
        return [_cells(line) for line in self.tmux("capture-pane", "-p", "-e", "-t", "main").split("\n")]

    def press(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "main", *keys)

    def quit_stopping(self) -> None:
        """q in the dashboard, and its question while instances serve answered: stop them."""
        self.press("q")
        self.wait_for("Stop the engine and every instance?")
        self.press("s")

    def wait_for(self, text: str, timeout: float = 60, poll_s: float = 0.1) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on screen after {timeout} s:\n{screen}")
            time.sleep(poll_s)

    def wait_for_gone(self, text: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while text in self.screen():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} still on screen after {timeout} s:\n{self.screen()}")
            time.sleep(0.1)

    def stop(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)


def _cells(line: str) -> list[Cell]:
    """A line of text with SGR escapes as cells, each with the colours in force where it is."""
    cells: list[Cell] = []
    fg: tuple[int, ...] | None = None
    bg: tuple[int, ...] | None = None
    position = 0
    for escape in SGR.finditer(line):
        cells.extend(Cell(char, fg, bg) for char in line[position : escape.start()])
        position = escape.end()
        codes = [int(code) if code else 0 for code in escape.group(1).split(";")]
        i = 0
        while i < len(codes):
            code = codes[i]
            if code in (38, 48) and i + 1 < len(codes):
                width = 2 if codes[i + 1] == 5 else 4
                colour = tuple(codes[i + 1 : i + 1 + width])
                fg, bg = (colour, bg) if code == 38 else (fg, colour)
                i += width
            elif code == 0:
                fg = bg = None
            elif code == 39:
                fg = None
            elif code == 49:
                bg = None
            elif 30 <= code <= 37 or 90 <= code <= 97:
                fg = (code,)
            elif 40 <= code <= 47 or 100 <= code <= 107:
                bg = (code,)
            i += 1
    cells.extend(Cell(char, fg, bg) for char in line[position:])
    return cells
