"""Live and mirrored answers side by side: status, latency, whether the bodies match, and the
share of compared requests whose answers differ."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from workbench.tui.look import milliseconds


class MirrorPanel(Vertical):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="mirror-summary")
        table: DataTable[str | Text] = DataTable(id="mirror-table", cursor_type="row")
        yield table

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(
            "request", "live", "status", "ms", "mirror", "status", "ms", "body"
        )

    def show(self, comparison: dict[str, Any]) -> None:
        records = comparison.get("records", 0)
        summary = Text()
        if not records:
            summary.append("no mirrored requests yet: give a deployment a mirror share (t)", "dim")
        else:
            differing = comparison.get("differing", 0)
            share = comparison.get("differing_share")
            summary.append(f"{records:,} mirrored  ")
            summary.append(
                f"{differing:,} differ" + (f" ({share * 100:.1f}%)" if share is not None else ""),
                "red" if differing else "green",
            )
            summary.append(f"  queued {comparison.get('queued', 0):,}", "dim")
            dropped = comparison.get("dropped", 0)
            why = "; ".join(f"{n:,} {reason}" for reason, n in (comparison.get("dropped_why") or {}).items())
            summary.append(
                f"  dropped {dropped:,}" + (f" ({why})" if why else ""), "yellow" if dropped else "dim"
            )
        self.query_one("#mirror-summary", Static).update(summary)
        recent = list(reversed(comparison.get("recent") or []))
        ids = [r["request_id"] for r in recent]
        if ids == self._rows:
            return
        self._rows = ids
        table = self.query_one(DataTable)
        table.clear()
        for record in recent:
            table.add_row(*_row(record))


def _row(record: dict[str, Any]) -> list[str | Text]:
    mirror_status = record.get("mirror_status")
    if mirror_status is None:
        verdict = Text("pending", "dim")
    elif mirror_status == record["live_status"] and record.get("mirror_digest") == record["live_digest"]:
        verdict = Text("same", "green")
    else:
        verdict = Text("differs", "bold red")
    return [
        str(record["request_id"])[:8],
        str(record["live_deployment"]),
        str(record["live_status"]),
        milliseconds(record.get("live_ms")),
        str(record["mirror_deployment"]),
        "-" if mirror_status is None else str(mirror_status),
        milliseconds(record.get("mirror_ms")),
        verdict,
    ]
