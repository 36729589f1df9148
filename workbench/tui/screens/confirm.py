"""A yes / no question before a key does what cannot be undone and hurts: `y` goes ahead,
anything else (`n`, Esc) leaves things as they are."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [Binding("y", "answer(True)", "yes"), Binding("n,escape", "answer(False)", "no")]

    def __init__(self, question: str, why: str) -> None:
        super().__init__()
        self.question = question
        self.why = why

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(self.question, id="confirm-title", markup=False)
            yield Static(self.why, id="confirm-why", markup=False)
            yield Static("y: go ahead   n or esc: leave it", classes="dim")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
