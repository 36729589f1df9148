"""The traffic editor: change an endpoint's live split and mirror share with the keys, checked
by the same rules as the YAML while typing, applied at once on enter."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from workbench.spec.endpoint import traffic_rules
from workbench.state import EndpointState
from workbench.tui.widgets.traffic_bar import traffic_bars

STEP = 5


class TrafficEditor(ModalScreen[tuple[dict[str, int], dict[str, int]] | None]):
    """Dismissed with (traffic, mirror) to apply, or None when cancelled."""

    BINDINGS = [
        Binding("up,k", "move(-1)", "previous deployment"),
        Binding("down,j", "move(1)", "next deployment"),
        Binding("right,plus,l", f"change({STEP})", f"+{STEP}%"),
        Binding("left,minus,h", f"change(-{STEP})", f"-{STEP}%"),
        Binding("shift+right", "change(1)", "+1%"),
        Binding("shift+left", "change(-1)", "-1%"),
        Binding("m", "toggle_column", "edit live / mirror"),
        Binding("enter", "apply", "apply"),
        Binding("escape", "cancel", "cancel"),
    ]

    def __init__(self, endpoint: EndpointState) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.names = [d.name for d in endpoint.deployments]
        self.traffic = {name: endpoint.traffic.get(name, 0) for name in self.names}
        self.mirror = {name: endpoint.mirror_traffic.get(name, 0) for name in self.names}
        self.row = 0
        self.column = "live"

    def compose(self) -> ComposeResult:
        with Vertical(id="traffic-box"):
            yield Static(f"Traffic of {self.endpoint.name}", id="traffic-title")
            yield Static("", id="traffic-table")
            yield Static("", id="traffic-bars")
            yield Static("", id="traffic-problems")
            yield Static(
                "↑↓ deployment  ←→ ±5  shift+←→ ±1  m live/mirror  enter apply  esc cancel", classes="dim"
            )

    def on_mount(self) -> None:
        self._draw()

    @property
    def problems(self) -> list[str]:
        mirror = {k: v for k, v in self.mirror.items() if v > 0}
        return traffic_rules(self.traffic, mirror, set(self.names))

    def action_move(self, delta: int) -> None:
        if self.names:
            self.row = (self.row + delta) % len(self.names)
            self._draw()

    def action_change(self, delta: int) -> None:
        if not self.names:
            return
        table = self.traffic if self.column == "live" else self.mirror
        name = self.names[self.row]
        table[name] = max(0, min(100, table[name] + delta))
        self._draw()

    def action_toggle_column(self) -> None:
        self.column = "mirror" if self.column == "live" else "live"
        self._draw()

    def action_apply(self) -> None:
        if self.problems:
            self.app.bell()
            return
        self.dismiss((dict(self.traffic), {k: v for k, v in self.mirror.items() if v > 0}))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _draw(self) -> None:
        table = Table(box=None, padding=(0, 2))
        table.add_column("deployment")
        table.add_column("live", justify="right")
        table.add_column("mirror", justify="right")
        for index, name in enumerate(self.names):
            chosen = index == self.row
            live = Text(f"{self.traffic[name]}%", "reverse" if chosen and self.column == "live" else "")
            mirror = Text(f"{self.mirror[name]}%", "reverse" if chosen and self.column == "mirror" else "")
            table.add_row(Text(("▶ " if chosen else "  ") + name, "bold" if chosen else ""), live, mirror)
        self.query_one("#traffic-table", Static).update(table)
        preview = EndpointState(
            name=self.endpoint.name,
            traffic=self.traffic,
            mirror_traffic={k: v for k, v in self.mirror.items() if v > 0},
            deployments=self.endpoint.deployments,
        )
        width = max(20, self.query_one("#traffic-bars", Static).size.width or 60)
        bars = Text("\n").join(traffic_bars(preview, width))
        self.query_one("#traffic-bars", Static).update(bars)
        problems = self.problems
        self.query_one("#traffic-problems", Static).update(
            Text("\n".join(problems), "red") if problems else Text("ok: enter applies", "green")
        )
