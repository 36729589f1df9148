"""A real terminal for tests and benchmarks: a tmux server of its own, read with capture-pane
and driven with send-keys."""

from __future__ import annotations

import subprocess
import time


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

    def press(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "main", *keys)

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
