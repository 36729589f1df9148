"""One mirrored request's two answers side by side: what the live deployment answered and what
the mirror deployment answered (each cut at a few KB)."""

from __future__ import annotations

import json

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from workbench.contract import MirrorBodies, MirrorRecord


class MirroredScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter,q", "dismiss", "close")]

    def __init__(self, record: MirrorRecord | None, bodies: MirrorBodies) -> None:
        super().__init__()
        self.record = record
        self.bodies = bodies

    def compose(self) -> ComposeResult:
        record = self.record
        with Vertical(id="mirrored-box"):
            yield Static(f"Mirrored request {self.bodies.request_id}", id="mirrored-title")
            with Horizontal(id="mirrored-sides"):
                with VerticalScroll(classes="mirrored-side"):
                    head = f"live: {record.live_deployment} {record.live_status}" if record else "live"
                    yield Static(Text(head, "bold"))
                    yield Static(_shown(self.bodies.live))
                with VerticalScroll(classes="mirrored-side"):
                    status = (
                        "no answer"
                        if record is None or record.mirror_status is None
                        else record.mirror_status
                    )
                    head = f"mirror: {record.mirror_deployment} {status}" if record else "mirror"
                    yield Static(Text(head, "bold"))
                    yield Static(
                        _shown(self.bodies.mirror)
                        if self.bodies.mirror is not None
                        else Text("(none)", "dim")
                    )
            yield Static("esc to close", classes="dim")


def _shown(body: str) -> Syntax | Text:
    """JSON indented and coloured; anything else as it came."""
    try:
        return Syntax(
            json.dumps(json.loads(body), indent=2), "json", word_wrap=True, background_color="default"
        )
    except ValueError:
        return Text(body)
