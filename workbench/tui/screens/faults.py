"""The fault editor (`f`): a deployment's request faults set with the keys and applied on enter,
and the instance faults one key each: kill an instance, keep a core busy, hold memory.

Request faults replace workbench.yaml's until the engine restarts, as `workbench fault` does."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

PRESSURE_SECONDS = 30
PRESSURE_MB = 256
STATUSES = (503, 500, 502, 504, 429, 408)


@dataclass(frozen=True)
class FaultRequest:
    """What the editor was dismissed with: `action` is "faults" (set `faults`; none clears them),
    "kill" (the instance), "cpu" or "memory" (pressure on every instance)."""

    action: str
    faults: dict[str, float] = field(default_factory=dict)
    instance: str | None = None


@dataclass
class _Row:
    key: str
    label: str
    step: float
    maximum: float


ROWS = (
    _Row("latency_ms", "added latency", 50, 60_000),
    _Row("error_rate", "answered with an error", 0.05, 1),
    _Row("error_status", "error status", 1, len(STATUSES) - 1),
    _Row("drop_rate", "dropped (502)", 0.05, 1),
)


class FaultEditor(ModalScreen[FaultRequest | None]):
    BINDINGS = [
        Binding("up,k", "move(-1)", "previous"),
        Binding("down,j", "move(1)", "next"),
        Binding("right,plus,l", "change(1)", "more"),
        Binding("left,minus,h", "change(-1)", "less"),
        Binding("enter", "apply", "apply"),
        Binding("c", "clear", "clear"),
        Binding("x", "kill", "kill instance"),
        Binding("u", "pressure('cpu')", "CPU pressure"),
        Binding("m", "pressure('memory')", "memory pressure"),
        Binding("escape", "cancel", "cancel"),
    ]

    def __init__(self, subject: str, now: str | None, instance: str | None) -> None:
        super().__init__()
        self.subject = subject
        self.now = now
        self.instance = instance
        """What `x` kills: the selected instance, else the deployment's first."""
        self.values = {"latency_ms": 0.0, "error_rate": 0.0, "error_status": 0.0, "drop_rate": 0.0}
        self.row = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="faults-box"):
            yield Static(f"Faults of {self.subject}", id="faults-title")
            yield Static(Text(f"now: {self.now or 'none'}", "yellow" if self.now else "dim"), id="faults-now")
            yield Static("", id="faults-table")
            yield Static(
                f"↑↓ row  ←→ change  enter apply  c clear all  esc cancel\n"
                f"x kill {self.instance or 'an instance'}  u one busy core  m {PRESSURE_MB} MB held "
                f"(every instance, {PRESSURE_SECONDS} s)",
                classes="dim",
            )

    def on_mount(self) -> None:
        self._draw()

    def action_move(self, delta: int) -> None:
        self.row = (self.row + delta) % len(ROWS)
        self._draw()

    def action_change(self, direction: int) -> None:
        row = ROWS[self.row]
        value = self.values[row.key] + direction * row.step
        self.values[row.key] = round(max(0.0, min(row.maximum, value)), 2)
        self._draw()

    def action_apply(self) -> None:
        self.dismiss(FaultRequest("faults", self.faults()))

    def action_clear(self) -> None:
        self.dismiss(FaultRequest("faults", {}))

    def action_kill(self) -> None:
        if self.instance is None:
            self.app.bell()
            return
        self.dismiss(FaultRequest("kill", instance=self.instance))

    def action_pressure(self, kind: str) -> None:
        self.dismiss(FaultRequest(kind))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def faults(self) -> dict[str, float]:
        """The request faults as the control API takes them; only those set."""
        chosen = {k: v for k, v in self.values.items() if v and k != "error_status"}
        if "error_rate" in chosen:
            chosen["error_status"] = STATUSES[int(self.values["error_status"])]
        return chosen

    def _draw(self) -> None:
        table = Table(box=None, padding=(0, 2))
        table.add_column("request fault")
        table.add_column("value", justify="right")
        for index, row in enumerate(ROWS):
            chosen = index == self.row
            value = self.values[row.key]
            shown = (
                f"{value:g} ms"
                if row.key == "latency_ms"
                else str(STATUSES[int(value)])
                if row.key == "error_status"
                else f"{value:.0%}"
            )
            table.add_row(
                Text(("▶ " if chosen else "  ") + row.label, "bold" if chosen else ""),
                Text(shown, "reverse" if chosen else ""),
            )
        self.query_one("#faults-table", Static).update(table)
