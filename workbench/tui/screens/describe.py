"""The describe view (`v`, k9s' describe): everything `workbench status` knows of the selected
endpoint, deployment or instance, with its last events."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from workbench.describe import describe
from workbench.state import EndpointState, Event

EVENTS_SHOWN = 15


class DescribeScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,v,q", "dismiss", "close")]

    def __init__(
        self, endpoint: EndpointState, deployment: str | None, instance: str | None, events: Iterable[Event]
    ) -> None:
        super().__init__()
        self.subject = "/".join(filter(None, [endpoint.name, instance or deployment]))
        self.text = describe(endpoint, deployment, instance)
        self.events = [e for e in events if _concerns(e.subject, endpoint.name, deployment, instance)][
            -EVENTS_SHOWN:
        ]

    def compose(self) -> ComposeResult:
        with Vertical(id="describe-box"):
            yield Static(f"Describe {self.subject}", id="describe-title")
            with VerticalScroll(id="describe-body"):
                yield Static(Text(self.text), id="describe-state")
                yield Static(Text("last events", "bold"), classes="describe-head")
                lines = Text("\n".join(e.line() for e in self.events) or "(none yet)")
                yield Static(lines, id="describe-events")
            yield Static("esc to close", classes="dim")


def _concerns(subject: str, endpoint: str, deployment: str | None, instance: str | None) -> bool:
    """Whether an event's subject (an endpoint, "ep/blue" or "ep/blue-0") is about the node."""
    if instance is not None:
        return subject == f"{endpoint}/{instance}"
    if deployment is not None:
        return subject == f"{endpoint}/{deployment}" or subject.startswith(f"{endpoint}/{deployment}-")
    return subject == endpoint or subject.startswith(f"{endpoint}/")
