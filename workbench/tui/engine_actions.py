"""What the dashboard's keys do to the engine and the selection: traffic, faults, restart,
reload, debug, scale, a shell, the editor, describe, copy. Each acts on what the tree has
selected, as its key's footer text says."""

from __future__ import annotations

from pathlib import Path

from textual import on, work

from workbench.errors import WorkbenchError
from workbench.instance_shell import command_line, edit, open_shell, terminal_closed
from workbench.spec.deployment import MAX_INSTANCES
from workbench.tui.screens.confirm import ConfirmScreen
from workbench.tui.screens.describe import DescribeScreen
from workbench.tui.screens.error import ErrorScreen
from workbench.tui.screens.faults import PRESSURE_MB, PRESSURE_SECONDS, FaultEditor, FaultRequest
from workbench.tui.screens.mirrored import MirroredScreen
from workbench.tui.screens.traffic import TrafficEditor
from workbench.tui.view_actions import ViewActions
from workbench.tui.widgets.mirror import MirrorPanel


class EngineActions(ViewActions):
    def action_traffic(self) -> None:
        endpoint = self.selected_endpoint
        if endpoint is None:
            self.notify("no endpoint selected", severity="warning")
            return

        def apply(result: tuple[dict[str, int], dict[str, int]] | None) -> None:
            if result is not None:
                self._set_traffic(endpoint.name, *result)

        self.push_screen(TrafficEditor(endpoint), apply)

    @on(MirrorPanel.Open)
    @work(group="actions")
    async def open_mirrored(self, event: MirrorPanel.Open) -> None:
        endpoint = self.selected_endpoint
        if endpoint is None:
            return
        try:
            bodies = await self.source.mirror_bodies(endpoint.name, event.request_id)
            metrics = await self.source.metrics(endpoint.name)
        except WorkbenchError as exc:
            self.push_screen(ErrorScreen("No answers to show", str(exc)))
            return
        record = next((r for r in metrics.mirror.recent if r.request_id == event.request_id), None)
        self.push_screen(MirroredScreen(record, bodies))

    def action_describe(self) -> None:
        endpoint = self.selected_endpoint
        selection = self.selection
        if endpoint is None or selection is None:
            self.notify("nothing selected to describe", severity="warning")
            return
        self.push_screen(DescribeScreen(endpoint, selection.deployment, selection.instance, self.events))

    def action_faults(self) -> None:
        selection = self.selection
        endpoint = self.selected_endpoint
        deployment = self.selected_deployment
        if endpoint is None or selection is None or deployment is None:
            self.notify("select a deployment (or an instance) for its faults", severity="warning")
            return
        instance = selection.instance or (deployment.instances[0].id if deployment.instances else None)

        def apply(request: FaultRequest | None) -> None:
            if request is None:
                return
            ready = [i for i in deployment.instances if i.serves]
            if request.action == "kill" and [i.id for i in ready] == [request.instance]:

                def answered(yes: bool | None) -> None:
                    if yes:
                        self._apply_faults(endpoint.name, deployment.name, request)

                question = f"Kill {request.instance}?"
                why = (
                    f"It is the only ready instance of {deployment.name}: its requests fail "
                    "(502) until it has restarted."
                )
                self.push_screen(ConfirmScreen(question, why), answered)
                return
            self._apply_faults(endpoint.name, deployment.name, request)

        self.push_screen(
            FaultEditor(f"{endpoint.name}/{deployment.name}", deployment.faults, instance), apply
        )

    @work(group="actions")
    async def _apply_faults(self, endpoint: str, deployment: str, request: FaultRequest) -> None:
        subject = f"{endpoint}/{deployment}"
        if request.action == "kill" and request.instance is not None:
            self._act(self.source.kill(endpoint, deployment, request.instance), f"killed {request.instance}")
            return
        try:
            if request.action == "faults":
                said = "faults: " + await self.source.set_faults(endpoint, deployment, request.faults)
            else:
                cpu, memory = (1, 0) if request.action == "cpu" else (0, PRESSURE_MB)
                said = "pressure: " + await self.source.pressure(
                    endpoint, deployment, cpu, memory, PRESSURE_SECONDS
                )
        except WorkbenchError as exc:
            self.push_screen(ErrorScreen(f"Failed: faults of {subject}", str(exc)))
            return
        self.notify(said, title=subject, severity="warning")
        self.refresh_status()

    @work(group="actions")
    async def _set_traffic(self, endpoint: str, traffic: dict[str, int], mirror: dict[str, int]) -> None:
        try:
            await self.source.set_traffic(endpoint, traffic, mirror)
        except WorkbenchError as exc:
            self.push_screen(ErrorScreen("Traffic not changed", str(exc)))
            return
        self.notify(" ".join(f"{k}={v}%" for k, v in traffic.items()), title=f"{endpoint}: traffic applied")
        self.refresh_status()

    def action_restart(self) -> None:
        selection = self.selection
        if selection is None or selection.deployment is None:
            self.notify("select an instance (or a deployment) to restart", severity="warning")
            return
        if selection.instance is None:
            self._act(
                self.source.restart_all(selection.endpoint, selection.deployment),
                f"rolling restart of {selection.deployment}: one instance at a time",
            )
            return
        self._act(
            self.source.restart(selection.endpoint, selection.deployment, selection.instance),
            f"restarting {selection.instance}",
        )

    def action_reload(self) -> None:
        selection = self.selection
        if selection is None or selection.deployment is None:
            self.notify("select a deployment to reload", severity="warning")
            return
        self._act(
            self.source.reload(selection.endpoint, selection.deployment), f"reloading {selection.deployment}"
        )

    @work(group="actions")
    async def action_debug(self) -> None:
        selection = self.selection
        endpoint = self.selected_endpoint
        if selection is None or selection.deployment is None or endpoint is None:
            self.notify("select an instance (or a deployment) to debug", severity="warning")
            return
        instance = selection.instance
        if instance is None:
            deployment = endpoint.deployment(selection.deployment)
            if deployment is None or not deployment.instances:
                self.notify("that deployment has no instance yet", severity="warning")
                return
            instance = deployment.instances[0].id
        state = next((i for d in endpoint.deployments for i in d.instances if i.id == instance), None)
        if state is not None and state.debug_port is not None:  # d again: the debugger off
            self._act(
                self.source.stop_debugging(selection.endpoint, selection.deployment, instance),
                f"{instance}: debugger off (restarting without it)",
            )
            return
        try:
            session = await self.source.debug(selection.endpoint, selection.deployment, instance)
        except WorkbenchError as exc:
            self.push_screen(ErrorScreen("No debugger", str(exc)))
            return
        where = f"debugpy on {session.host}:{session.port}"
        how = f"VS Code: Run and Debug -> '{session.name}'"
        self.notify(f"{where}\n{how}", title=f"{instance} under the debugger", timeout=10)
        self.refresh_status()

    def action_scale(self, delta: int) -> None:
        endpoint = self.selected_endpoint
        deployment = self.selected_deployment
        if endpoint is None or deployment is None:
            self.notify("select a deployment to scale", severity="warning")
            return
        count = deployment.instance_count + delta
        if not 1 <= count <= MAX_INSTANCES:
            self.notify(f"instance count stays between 1 and {MAX_INSTANCES}", severity="warning")
            return
        self._act(
            self.source.scale(endpoint.name, deployment.name, count), f"scaling {deployment.name} to {count}"
        )

    async def action_shell(self) -> None:
        """A shell inside the selected instance (its deployment's first): the dashboard steps
        aside until the user leaves it (k9s' s)."""
        selection, deployment = self.selection, self.selected_deployment
        if selection is None or deployment is None or not deployment.instances:
            self.notify("select an instance (or a deployment with one) for a shell", severity="warning")
            return
        instance = selection.instance or deployment.instances[0].id
        try:
            shell = await self.source.shell(selection.endpoint, deployment.name, instance)
        except WorkbenchError as exc:
            self.push_screen(ErrorScreen("No shell", str(exc)))
            return
        with self.suspend():
            print(f"{selection.endpoint}/{instance}: {command_line(shell)}; exit returns to the dashboard")
            try:
                open_shell(shell)
            except WorkbenchError as exc:
                print(f"no shell: {exc}")
        self._unless_terminal_closed()

    def _unless_terminal_closed(self) -> None:
        """After a shell or an editor: the terminal closed while it ran (its window shut) ends
        the dashboard as closing the terminal always does. The hang-up went to the shell alone,
        then in the terminal's foreground; the dashboard would read the dead terminal forever."""
        if terminal_closed():
            self.exit("quit")

    def action_edit(self) -> None:
        """The selected deployment's failing line in $VISUAL / $EDITOR (else vi): where its code
        last failed to load, or where run() last raised."""
        deployment = self.selected_deployment
        failure = deployment and (deployment.failure or deployment.last_scoring_error)
        if deployment is None or not failure:
            self.notify("no failure to open: select a deployment whose code failed", severity="warning")
            return
        path = Path(failure.file)
        path = path if path.is_absolute() else self.source.root / path
        if not path.is_file():
            self.notify(f"{path} is not on this machine", severity="warning")
            return
        with self.suspend():
            edit(path, failure.line)
        self._unless_terminal_closed()

    def action_copy_uri(self) -> None:
        endpoint = self.selected_endpoint
        if endpoint is None or endpoint.scoring_uri is None:
            self.notify("no scoring URI yet", severity="warning")
            return
        self.copy_to_clipboard(endpoint.scoring_uri)
        self.notify(endpoint.scoring_uri, title="scoring URI copied")

    @work(group="actions")
    async def action_copy_key(self) -> None:
        endpoint = self.selected_endpoint
        if endpoint is None:
            return
        try:
            credentials = await self.source.credentials(endpoint.name)
        except WorkbenchError as exc:
            self.push_screen(ErrorScreen("No credentials", str(exc)))
            return
        self.copy_to_clipboard(credentials.secret)
        self.notify(f"{credentials.kind} of {endpoint.name} copied (not shown)", title="credentials copied")
