"""The traffic editor: change an endpoint's live split and mirror share with the keys, checked
by the same rules as the YAML while typing, applied at once on enter.

A live split that totals 100 stays at 100: what the selected deployment gains or gives up is
taken from or given to the other live deployments, the next one in the list first (with two
deployments, moving 5% from blue to green is one key press, never a "totals 95%" error)."""

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
        balanced = self.column == "live" and sum(self.traffic.values()) == 100 and len(self.names) > 1
        before = table[name]
        table[name] = max(0, min(100, before + delta))
        if balanced:
            self._balance(name, table[name] - before)
        self._draw()

    def _balance(self, changed: str, moved: int) -> None:
        """Give `moved` back to (or take it from) the other deployments, the next ones first."""
        start = self.names.index(changed)
        others = [self.names[(start + step) % len(self.names)] for step in range(1, len(self.names))]
        owed = moved
        for other in others:
            if owed == 0:
                break
            taken = min(owed, self.traffic[other]) if owed > 0 else owed
            self.traffic[other] -= taken
            owed -= taken
        if owed:  # the others had too little to give: the change shrinks to what they had
            self.traffic[changed] -= owed

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
