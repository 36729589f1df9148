"""The tree of endpoints, their deployments and their instances, updated in place so that the
cursor and what is expanded survive every refresh."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from workbench.state import DeploymentState, EndpointState, InstancePhase, InstanceState
from workbench.tui.look import colour_of, state_style


@dataclass(frozen=True)
class Selection:
    """What the cursor is on: an endpoint, one of its deployments, or one of their instances."""

    endpoint: str
    deployment: str | None = None
    instance: str | None = None


class EndpointTree(Tree[Selection]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "down", show=False, id="down"),
        Binding("k", "cursor_up", "up", show=False, id="up"),
        Binding("g", "first", "first", show=False, id="first"),
        Binding("G", "last", "last", show=False, id="last"),
        Binding("enter", "drill_in", "logs of the selection", show=False, id="drill_in"),
    ]

    class DrillIn(Message):
        """Enter on a node: the app moves the focus to its logs."""

    def action_first(self) -> None:
        self.cursor_line = 0

    def action_last(self) -> None:
        self.cursor_line = max(0, self.last_line)

    def action_drill_in(self) -> None:
        self.post_message(self.DrillIn())

    def __init__(self, clock: Callable[[], float] = time.time, *, id: str | None = None) -> None:
        super().__init__("endpoints", id=id)
        self.clock = clock
        """For how long an instance has been Starting: the source's clock."""
        self.show_root = False
        self.auto_expand = False  # a click selects; only the arrow folds a deployment away
        self.guide_depth = 2
        self._by_selection: dict[Selection, TreeNode[Selection]] = {}
        self.compact = False
        """A narrow terminal (under 100 columns): each node's state as a glyph, the words dropped."""
        self.filter_text = ""
        """Only the endpoints and deployments whose name holds it (any case), with their instances."""
        self._shown: list[EndpointState] = []

    def set_compact(self, compact: bool) -> None:
        if compact != self.compact:
            self.compact = compact
            self.show(self._shown)

    def filter_by(self, text: str) -> None:
        """Built again, in the engine's order, the cursor kept on its node if it stays."""
        wanted = text.strip().lower()
        if wanted == self.filter_text:
            return
        self.filter_text = wanted
        selected = self.selection
        self.clear()
        self._by_selection = {}
        self.show(self._shown)
        if selected in self._by_selection:
            self.move_cursor(self._by_selection[selected])

    def show(self, endpoints: list[EndpointState]) -> None:
        self._shown = endpoints
        wanted: set[Selection] = set()
        for endpoint in self._filtered(endpoints):
            key = Selection(endpoint.name)
            wanted.add(key)
            node = self._node(self.root, key, _endpoint_label(endpoint, self.compact), leaf=False)
            for index, deployment in enumerate(endpoint.deployments):
                deployment_key = Selection(endpoint.name, deployment.name)
                wanted.add(deployment_key)
                share = endpoint.traffic.get(deployment.name, 0)
                mirror = endpoint.mirror_traffic.get(deployment.name, 0)
                deployment_node = self._node(
                    node,
                    deployment_key,
                    _deployment_label(deployment, share, mirror, colour_of(index), self.compact),
                    leaf=False,
                )
                for instance in deployment.instances:
                    instance_key = Selection(endpoint.name, deployment.name, instance.id)
                    wanted.add(instance_key)
                    label = _instance_label(instance, self.clock(), self.compact)
                    self._node(deployment_node, instance_key, label, leaf=True)
        gone = [k for k in self._by_selection if k not in wanted]
        for key in sorted(gone, key=lambda k: (k.instance is None, k.deployment is None)):  # leaves first
            node = self._by_selection.pop(key)
            if node.tree is self and node.parent is not None:
                node.remove()
        if self.cursor_node is None and self._by_selection:
            self.move_cursor(next(iter(self._by_selection.values())))

    def _filtered(self, endpoints: list[EndpointState]) -> list[EndpointState]:
        wanted = self.filter_text
        if not wanted:
            return endpoints
        kept = []
        for endpoint in endpoints:
            if wanted in endpoint.name.lower():
                kept.append(endpoint)
                continue
            deployments = [d for d in endpoint.deployments if wanted in d.name.lower()]
            if deployments:
                kept.append(dataclasses.replace(endpoint, deployments=deployments))
        return kept

    def select_named(self, name: str) -> bool:
        """Move the cursor to the instance, deployment or endpoint `name` ("ep/blue" too); whether
        there is one (an instance's id first, then a deployment's name, then an endpoint's)."""
        wanted = name.lower()
        keys = list(self._by_selection)
        kinds: list[Callable[[Selection], bool]] = [
            lambda k: (k.instance or "").lower() == wanted,
            lambda k: k.instance is None and (k.deployment or "").lower() == wanted,
            lambda k: k.deployment is None and k.endpoint.lower() == wanted,
            lambda k: k.instance is None and f"{k.endpoint}/{k.deployment}".lower() == wanted,
        ]
        for matches in kinds:
            found = next((k for k in keys if matches(k)), None)
            if found is not None:
                self.move_cursor(self._by_selection[found])
                return True
        return False

    @property
    def selection(self) -> Selection | None:
        node = self.cursor_node
        return node.data if node is not None else None

    def _node(
        self, parent: TreeNode[Selection], key: Selection, label: Text, *, leaf: bool
    ) -> TreeNode[Selection]:
        node = self._by_selection.get(key)
        if node is None:
            node = parent.add_leaf(label, data=key) if leaf else parent.add(label, data=key, expand=True)
            self._by_selection[key] = node
        elif node.label != label:
            node.set_label(label)
        return node


GLYPHS = {
    "Succeeded": "●",
    "Ready": "●",
    "Creating": "◐",
    "Updating": "◐",
    "Starting": "◐",
    "Failed": "✗",
    "Crashed": "✗",
    "Unready": "◌",
}
"""A state in one cell, for a narrow terminal; others (Deleting, Draining, Stopped) are ○."""


def _state(state: str, compact: bool) -> tuple[str, str]:
    return (GLYPHS.get(state, "○") if compact else state, state_style(state))


def _endpoint_label(endpoint: EndpointState, compact: bool = False) -> Text:
    state = endpoint.provisioning_state.value
    return Text.assemble((endpoint.name, "bold"), " " if compact else "  ", _state(state, compact))


def _deployment_label(
    deployment: DeploymentState, share: int, mirror: int, colour: str, compact: bool = False
) -> Text:
    """Its name in the colour of its share in the traffic bar."""
    state = deployment.provisioning_state.value
    ready = sum(1 for i in deployment.instances if i.serves)
    gap = " " if compact else "  "
    traffic = f"{share}%" + ((f" +{mirror}m" if compact else f" +{mirror}% mirror") if mirror else "")
    label = Text.assemble(
        (deployment.name, f"bold {colour}"),
        gap,
        _state(state, compact),
        f"{gap}{ready}/{deployment.instance_count}{gap}",
        (traffic, "cyan"),
    )
    if deployment.failure is not None:  # until a fix loads
        where = (
            f":{deployment.failure.line}"
            if compact
            else f"{Path(deployment.failure.file).name}:{deployment.failure.line}"
        )
        label.append(f"{gap}{where}", "bold red")
    elif deployment.last_scoring_error is not None:  # its run() fails: which line, how often
        scoring = deployment.last_scoring_error
        where = "" if compact else f" {Path(scoring.file).name}:{scoring.line}"
        label.append(f"{gap}⚠{deployment.scoring_errors}{where}", "yellow")
    return label


def _instance_label(instance: InstanceState, now: float, compact: bool = False) -> Text:
    state = instance.state.value
    gap = " " if compact else "  "
    label = Text.assemble(instance.id, gap, _state(state, compact))
    if instance.state in (InstancePhase.STARTING, InstancePhase.DRAINING, InstancePhase.CRASHED):
        label.append(f" {max(0, int(now - instance.since))}s", "dim")  # how long so far
    if instance.handing_over:
        label.append(f"{gap}previous serves", "green")
    if instance.restarts:
        label.append(f"{gap}↻{instance.restarts}", "dark_orange")
    if instance.debug_port is not None:
        label.append(f"{gap}debug :{instance.debug_port}", "magenta")
    return label
