"""Every key of the dashboard, read from the bindings themselves so the list cannot go stale: the
user's own where dashboard.toml sets them, and each one's id, the name that file gives it."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close help")]

    def __init__(self, sections: list[tuple[str, list[BindingType]]], keymap: dict[str, str]) -> None:
        """`keymap`: the user's keys (binding id -> key), shown in place of the defaults."""
        super().__init__()
        self.sections = sections
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for key, what, name in self.rows():  # the id dim after what the key does: the name to set it by
            table.add_row(key, Text.assemble(what, (f"  {name}" if name else "", "dim")))
        with VerticalScroll(id="help-box"):
            yield Static("Keys", id="help-title")
            yield Static(table)

    def rows(self) -> list[tuple[str, str, str]]:
        """Per section, its title, then per key: the key, what it does, its id."""
        rows: list[tuple[str, str, str]] = []
        for title, bindings in self.sections:
            rows.append((f"[b]{title}[/b]", "", ""))
            for binding in bindings:
                if isinstance(binding, Binding) and binding.description:
                    key = self.keymap.get(binding.id or "", binding.key)
                    rows.append((_keys(key), binding.tooltip or binding.description, binding.id or ""))
            rows.append(("", "", ""))
        return rows


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
