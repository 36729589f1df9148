"""Live and mirrored answers side by side: status, latency, whether the bodies match, and the
share of compared requests whose answers differ; Enter on a row opens its two answers."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from workbench.contract import MirrorRecord, MirrorSummary
from workbench.tui.look import milliseconds
from workbench.tui.widgets.sortable_table import SortableTable


class MirrorPanel(Vertical):
    class Open(Message):
        """Enter on a row: show that request's two answers."""

        def __init__(self, request_id: str) -> None:
            super().__init__()
            self.request_id = request_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="mirror-summary")
        yield SortableTable(id="mirror-table")

    def on_mount(self) -> None:
        self.query_one(SortableTable).add_columns(
            "request", "live", "status", "ms", "mirror", "status", "ms", "body"
        )

    def show(self, comparison: MirrorSummary, mirror: dict[str, int] | None = None) -> None:
        """`mirror`: the endpoint's mirror shares now, to say what an empty table waits for."""
        records = comparison.records
        summary = Text()
        shares = {name: share for name, share in (mirror or {}).items() if share}
        if not records and shares:
            mirrored = ", ".join(f"{name} {share}%" for name, share in shares.items())
            summary.append(f"no mirrored requests yet: {mirrored} of the live requests will be copied", "dim")
        elif not records:
            summary.append("no mirrored requests yet: give a deployment a mirror share (t)", "dim")
        else:
            differing = comparison.differing
            share = comparison.differing_share
            summary.append(f"{records:,} compared  {comparison.sent:,} sent  ")
            summary.append(
                f"{differing:,} differ" + (f" ({share * 100:.1f}%)" if share is not None else ""),
                "red" if differing else "green",
            )
            summary.append(f"  queued {comparison.queued:,}  in flight {comparison.in_flight:,}", "dim")
            dropped = comparison.dropped
            why = "; ".join(f"{n:,} {reason}" for reason, n in comparison.dropped_why.items())
            summary.append(
                f"  dropped {dropped:,}" + (f" ({why})" if why else ""), "yellow" if dropped else "dim"
            )
            summary.append("\nenter on a row: its two answers side by side", "dim")
        self.query_one("#mirror-summary", Static).update(summary)
        recent = list(reversed(comparison.recent))
        ids = [r.request_id for r in recent]
        if ids == self._rows:
            return
        self._rows = ids
        table = self.query_one(SortableTable)
        table.clear()
        for record in recent:
            table.add_row(*_row(record), key=record.request_id)
        table.resort()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Open(event.row_key.value))


VERDICT_STYLES = {"pending": "dim", "same": "green", "differs": "bold red"}


def _row(record: MirrorRecord) -> list[str | Text]:
    return [
        record.request_id[:8],
        record.live_deployment,
        str(record.live_status),
        milliseconds(record.live_ms),
        record.mirror_deployment,
        "-" if record.mirror_status is None else str(record.mirror_status),
        milliseconds(record.mirror_ms),
        Text(record.verdict, VERDICT_STYLES[record.verdict]),
    ]
