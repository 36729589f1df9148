"""`q` while instances serve: stop the engine and every instance, or detach and leave them
serving, or stay. A stray `q` (a key meant for a field) no longer takes endpoints down."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class QuitScreen(ModalScreen[str | None]):
    """Answers "quit" (stop everything), "detach" (the engine keeps running) or None (stay)."""

    BINDINGS = [
        Binding("s,y,q,ctrl+c", "answer('quit')", "stop"),  # q or ctrl+c again: as asked twice
        Binding("d", "answer('detach')", "detach"),
        Binding("n,escape", "answer(None)", "stay"),
    ]

    def __init__(self, serving: str) -> None:
        super().__init__()
        self.serving = serving

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static("Stop the engine and every instance?", id="confirm-title")
            yield Static(self.serving, id="confirm-why", markup=False)
            keys = "s (or q again): stop   d: detach, the engine keeps serving   esc: stay"
            yield Static(keys, classes="dim")

    def action_answer(self, answer: str | None) -> None:
        self.dismiss(answer)
