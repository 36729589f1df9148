"""The dashboard's command line, k9s' prompt: `:` for a command (`:logs blue`, `:traffic`,
`:shell`); `:filter` for a filter of the tree by name that applies as it is typed (`/` stays the
log search, from anywhere). Enter runs or keeps, Esc leaves (a filter's Esc clears it)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input

COMMANDS: dict[str, str] = {
    "logs [NAME]": "the logs tab (of the deployment or instance NAME)",
    "metrics [NAME]": "the metrics tab; :invoke, :mirror, :events too",
    "deploy NAME": "select the endpoint, deployment or instance NAME",
    "traffic": "the traffic editor",
    "describe [NAME]": "the describe view",
    "shell [NAME]": "a shell inside the instance",
    "edit": "the failing line in $EDITOR",
    "filter [TEXT]": "only what TEXT names in the tree (typed live)",
    "help": "the keys",
    "q": "quit (asks while instances serve)",
}
"""What `:` takes, for the help screen and the error that an unknown command gets."""


class CommandLine(Input):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "leave", "leave", show=False)]

    class Run(Message):
        """Enter on a command."""

        def __init__(self, command: str) -> None:
            super().__init__()
            self.command = command

    class Filter(Message):
        """The filter as typed (empty: none)."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Closed(Message):
        """The line went away: the focus goes back where it was."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="hidden")
        self.mode = "command"

    def open(self, mode: str, text: str = "") -> None:
        self.mode = mode
        self.placeholder = (
            "filter the tree by name" if mode == "filter" else "a command: logs blue, traffic, help"
        )
        self.border_title = "/" if mode == "filter" else ":"
        self.value = text
        self.remove_class("hidden")
        self.focus()

    def action_leave(self) -> None:
        if self.mode == "filter":
            self.post_message(self.Filter(""))
        self._close()

    def _close(self) -> None:
        self.mode = "closed"  # the value cleared below is not a new filter
        self.add_class("hidden")
        self.value = ""
        self.post_message(self.Closed())

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        if self.mode == "filter":
            self.post_message(self.Filter(event.value))

    @on(Input.Submitted)
    def _entered(self, event: Input.Submitted) -> None:
        event.stop()
        if self.mode == "command" and event.value.strip():
            self.post_message(self.Run(event.value.strip()))
        self._close()
