"""The dashboard's base: what it reads from the engine, what the user has selected in the tree,
and how an action on the engine reports back. The actions (engine_actions.py) and the app
(app.py) build on it."""

from __future__ import annotations

import contextlib
import dataclasses
from collections import deque
from collections.abc import Awaitable
from typing import Any

from textual import work
from textual.app import App
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.screen import Screen

from workbench.errors import WorkbenchError
from workbench.state import DeploymentState, EndpointState, Event
from workbench.tui.screens.error import ErrorScreen
from workbench.tui.source import Source
from workbench.tui.widgets.endpoint_tree import EndpointTree, Selection
from workbench.tui.widgets.invoke import InvokePanel
from workbench.tui.widgets.logs import LogPanel
from workbench.tui.widgets.traffic_bar import EndpointSummary

EVENT_LINES = 2000
"""The events kept: the events tab's lines, and what describe reads."""


class SelectingApp(App[str]):
    def __init__(self, source: Source) -> None:
        super().__init__()
        self.source = source
        self.endpoints: list[EndpointState] = []
        """The engine's last status answer."""
        self._lost = False
        self.events: deque[Event] = deque(maxlen=EVENT_LINES)
        """What the events tab shows, kept for the describe view."""

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Notifications carry the engine's and the user's text ("[Errno 2] ..."): plain by default."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    @work(exclusive=True, group="status")
    async def refresh_status(self) -> None:
        """Ask the engine for its state again: polled, and after each action."""
        try:
            endpoints = await self.source.status()
        except WorkbenchError as exc:
            self.engine_lost(str(exc))
            return
        self.endpoints = endpoints
        with contextlib.suppress(NoMatches):  # the answer came as the app was closing
            self.main.query_one(EndpointTree).show(endpoints)
            self.selection_changed()

    def engine_lost(self, why: str) -> None:
        if not self._lost:
            self._lost = True
            self.sub_title = f"{self.source.root}  (engine lost)"
            self.push_screen(ErrorScreen("Lost the engine", why))

    @property
    def main(self) -> Screen[Any]:
        """The dashboard's own screen, whatever is on top of it (help, the traffic editor).
        NoMatches once the app has closed its screens, as a query finding nothing: an answer
        that arrives as the app ends is dropped by the same guards."""
        if not self.screen_stack:
            raise NoMatches("no screen: the dashboard is closing")
        return self.screen_stack[0]

    @property
    def selection(self) -> Selection | None:
        try:
            return self.main.query_one(EndpointTree).selection
        except NoMatches:  # the app is closing
            return None

    @property
    def selected_endpoint(self) -> EndpointState | None:
        selection = self.selection
        name = selection.endpoint if selection else (self.endpoints[0].name if self.endpoints else None)
        return next((e for e in self.endpoints if e.name == name), None)

    @property
    def selected_deployment(self) -> DeploymentState | None:
        """The selected deployment, or the deployment of the selected instance."""
        selection, endpoint = self.selection, self.selected_endpoint
        if endpoint is None or selection is None or selection.deployment is None:
            return None
        return endpoint.deployment(selection.deployment)

    def selection_changed(self) -> None:
        """Point the summary, the log and the invoke panel at the selection."""
        endpoint = self.selected_endpoint
        self.main.query_one(EndpointSummary).show(endpoint)
        selection = self.selection
        deployment = self.selected_deployment
        if selection is not None and deployment is None and endpoint and endpoint.deployments:
            # the endpoint's row shows its first deployment's log: the first screen is never empty
            deployment = endpoint.deployments[0]
            selection = dataclasses.replace(selection, deployment=deployment.name)
        instances = tuple(i.id for i in deployment.instances) if deployment else ()
        self.main.query_one(LogPanel).follow(selection, instances)
        self.main.query_one(InvokePanel).target(
            endpoint.name if endpoint else None, [d.name for d in endpoint.deployments] if endpoint else []
        )

    @work(group="actions")
    async def _act(self, action: Awaitable[None], doing: str) -> None:
        """Run an action on the engine: say what was done, or show why it failed."""
        try:
            await action
        except WorkbenchError as exc:
            self.push_screen(ErrorScreen(f"Failed: {doing}", str(exc)))
            return
        self.notify(doing)
        self.refresh_status()
