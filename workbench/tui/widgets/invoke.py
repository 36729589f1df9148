"""Send a request through the router, by traffic or pinned to a deployment, and see the answer:
status, the deployment that served it, latency, headers and body; with a history."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Button, DataTable, Select, Static, TextArea

from workbench.client import Invocation
from workbench.errors import WorkbenchError
from workbench.tui.source import Source
from workbench.tui.widgets.sortable_table import SortableTable

BY_TRAFFIC = "(by traffic)"
HISTORY = 50
SHOWN_HEADERS = ("azureml-model-deployment", "x-request-id", "x-ms-client-request-id", "content-type")
SHOWN_BODY_CHARS = 4000


class InvokePanel(VerticalScroll):
    """Sent with ctrl+s from anywhere (an app binding), or its Send button. Esc leaves the body
    (and every field here) for the tree, so that the dashboard's keys work again."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "leave the field", show=False, id="leave")
    ]
    can_focus = False
    """Tab goes to its first field, not to the panel around them."""

    def action_leave(self) -> None:
        self.app.query_one("#tree").focus()

    def __init__(self, source: Source, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source = source
        self.endpoint: str | None = None
        self.history: list[Invocation] = []
        self._choices: list[str] = [BY_TRAFFIC]
        self.shown: Invocation | None = None
        """The answer on show, which `L` finds in the router's log."""

    def compose(self) -> ComposeResult:
        files = self.source.request_files()
        with Horizontal(id="invoke-bar"):
            yield Select(
                [(_label(p, self.source.root), p) for p in files],
                prompt="request file",
                value=files[0] if files else Select.NULL,
                id="invoke-file",
            )
            yield Select(
                [(BY_TRAFFIC, BY_TRAFFIC)], value=BY_TRAFFIC, allow_blank=False, id="invoke-deployment"
            )
            yield Button("Send ^s", id="invoke-send", variant="primary")
        yield TextArea(_first_file(files), id="invoke-body", soft_wrap=True)
        yield Static(Text("(nothing sent yet: ctrl+s sends the body above)", "dim"), id="invoke-answer")
        yield SortableTable(id="invoke-history")

    def on_mount(self) -> None:
        table = self.query_one("#invoke-history", SortableTable)
        table.add_columns("time", "endpoint", "asked", "served by", "status", "latency")

    def target(self, endpoint: str | None, deployments: list[str]) -> None:
        """The endpoint to send to and its deployments, for the pinning choice."""
        self.endpoint = endpoint
        choices = [BY_TRAFFIC, *deployments]
        if choices != self._choices:
            self._choices = choices
            choice = self.query_one("#invoke-deployment", Select)
            current = choice.value
            choice.set_options([(name, name) for name in choices])
            choice.value = current if current in choices else BY_TRAFFIC

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "invoke-file" and isinstance(event.value, Path):
            event.stop()
            try:
                self.query_one("#invoke-body", TextArea).text = event.value.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                self.app.notify(f"cannot read {event.value}: {exc}", severity="error")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "invoke-send":
            event.stop()
            self.action_send()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        index = int(event.row_key.value or -1)  # the row's place in the history, however sorted
        if 0 <= index < len(self.history):
            self._show(self.history[index])

    def action_send(self) -> None:
        if self.endpoint is None:
            self.app.notify("select an endpoint first", severity="warning")
            return
        body = self.query_one("#invoke-body", TextArea).text
        try:
            json.loads(body)
        except ValueError as exc:
            self.app.notify(f"the body is not JSON ({exc}); sending it as it is", severity="warning")
        pinned = self.query_one("#invoke-deployment", Select).value
        deployment = None if pinned in (BY_TRAFFIC, Select.NULL) else str(pinned)
        self.query_one("#invoke-answer", Static).update(Text(f"sending to {self.endpoint}…", style="dim"))
        self._send(self.endpoint, body.encode(), deployment)

    @work(exclusive=True, group="invoke")
    async def _send(self, endpoint: str, body: bytes, deployment: str | None) -> None:
        with contextlib.suppress(NoMatches):  # the answer came as the app was closing
            await self._send_and_show(endpoint, body, deployment)

    async def _send_and_show(self, endpoint: str, body: bytes, deployment: str | None) -> None:
        try:
            answer = await self.source.invoke(endpoint, body, deployment)
        except WorkbenchError as exc:
            self.query_one("#invoke-answer", Static).update(Text(str(exc), style="red"))
            return
        self.history.append(answer)
        del self.history[:-HISTORY]
        table = self.query_one("#invoke-history", SortableTable)
        table.clear()
        for index, past in reversed(list(enumerate(self.history))):
            table.add_row(
                time.strftime("%H:%M:%S", time.gmtime(past.sent_at)),
                past.endpoint,
                past.deployment or "traffic",
                past.served_by or "-",
                Text(str(past.status), style="green" if past.ok else "red"),
                f"{past.latency_ms:.1f} ms",
                key=str(index),
            )
        table.resort()
        self._show(answer)

    def _show(self, answer: Invocation) -> None:
        text = Text()
        text.append(f"HTTP {answer.status}", "bold green" if answer.ok else "bold red")
        text.append(f"  served by {answer.served_by or '-'}  {answer.latency_ms:.1f} ms\n")
        for name in SHOWN_HEADERS:
            if name in answer.headers:
                text.append(f"{name}: ", "dim")
                text.append(answer.headers[name] + "\n")
        text.append(_pretty(answer.body)[:SHOWN_BODY_CHARS])
        if "x-request-id" in answer.headers:
            text.append("\nL: this request's lines in the router log", "dim")
        self.shown = answer
        self.query_one("#invoke-answer", Static).update(text)


def _label(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else path.name


def _first_file(files: list[Path]) -> str:
    for path in files:
        try:
            return path.read_text()
        except (OSError, UnicodeDecodeError):
            continue
    return '{"data": []}'


def _pretty(body: str) -> str:
    try:
        return json.dumps(json.loads(body), indent=2)
    except ValueError:
        return body
