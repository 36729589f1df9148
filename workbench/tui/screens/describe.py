"""The describe view (`v`, k9s' describe): everything `workbench status` knows of the selected
endpoint, deployment or instance, with its last events; for a deployment, what its YAML says
(model, code, environment, instance type, request settings, probes) and the YAML itself."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

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
        state = endpoint.deployment(deployment) if deployment and instance is None else None
        self.yaml = _yaml_of(state.spec.get("file", "")) if state is not None else None
        """The deployment's YAML as it is on disk, where this machine has the file."""

    def compose(self) -> ComposeResult:
        with Vertical(id="describe-box"):
            yield Static(f"Describe {self.subject}", id="describe-title")
            with VerticalScroll(id="describe-body"):
                yield Static(Text(self.text), id="describe-state")
                yield Static(Text("last events", "bold"), classes="describe-head")
                lines = Text("\n".join(e.line() for e in self.events) or "(none yet)")
                yield Static(lines, id="describe-events")
                if self.yaml is not None:
                    from rich.syntax import Syntax  # noqa: PLC0415 (pygments: only when a YAML is shown)

                    path, text = self.yaml
                    yield Static(Text(f"YAML ({path})", "bold"), classes="describe-head")
                    yield Static(
                        Syntax(text, "yaml", theme="ansi_dark", line_numbers=True), id="describe-yaml"
                    )
            yield Static("esc to close", classes="dim")


def _concerns(subject: str, endpoint: str, deployment: str | None, instance: str | None) -> bool:
    """Whether an event's subject (an endpoint, "ep/blue" or "ep/blue-0") is about the node."""
    if instance is not None:
        return subject == f"{endpoint}/{instance}"
    if deployment is not None:
        return subject == f"{endpoint}/{deployment}" or subject.startswith(f"{endpoint}/{deployment}-")
    return subject == endpoint or subject.startswith(f"{endpoint}/")


def _yaml_of(where: str) -> tuple[Path, str] | None:
    """The file of "path:line" and its text; None where it is not readable here (a remote
    engine's path)."""
    path = Path(where.rsplit(":", 1)[0]) if where else None
    if path is None or not path.is_file():
        return None
    try:
        return path, path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
