"""Every key of the dashboard, read from the bindings themselves so the list cannot go stale."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close help")]

    def __init__(self, sections: list[tuple[str, list[BindingType]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for title, bindings in self.sections:
            table.add_row(f"[b]{title}[/b]", "")
            for binding in bindings:
                if isinstance(binding, Binding) and binding.description:
                    table.add_row(_keys(binding.key), binding.tooltip or binding.description)
            table.add_row("", "")
        with VerticalScroll(id="help-box"):
            yield Static("Keys", id="help-title")
            yield Static(table)


def _keys(key: str) -> str:
    names = {
        "question_mark": "?",
        "ampersand": "&",
        "slash": "/",
        "colon": ":",
        "plus": "+",
        "minus": "-",
        "escape": "esc",
        "left_square_bracket": "[",
        "right_square_bracket": "]",
    }
    return " ".join(names.get(k, k) for k in key.split(","))
