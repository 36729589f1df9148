"""The tree of endpoints, their deployments and their instances, updated in place so that the
cursor and what is expanded survive every refresh."""

from __future__ import annotations

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
        Binding("j", "cursor_down", "down", show=False),
        Binding("k", "cursor_up", "up", show=False),
        Binding("g", "first", "first", show=False),
        Binding("G", "last", "last", show=False),
        Binding("enter", "drill_in", "logs of the selection", show=False),
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

    def show(self, endpoints: list[EndpointState]) -> None:
        wanted: set[Selection] = set()
        for endpoint in endpoints:
            key = Selection(endpoint.name)
            wanted.add(key)
            node = self._node(self.root, key, _endpoint_label(endpoint), leaf=False)
            for index, deployment in enumerate(endpoint.deployments):
                deployment_key = Selection(endpoint.name, deployment.name)
                wanted.add(deployment_key)
                share = endpoint.traffic.get(deployment.name, 0)
                mirror = endpoint.mirror_traffic.get(deployment.name, 0)
                deployment_node = self._node(
                    node,
                    deployment_key,
                    _deployment_label(deployment, share, mirror, colour_of(index)),
                    leaf=False,
                )
                for instance in deployment.instances:
                    instance_key = Selection(endpoint.name, deployment.name, instance.id)
                    wanted.add(instance_key)
                    label = _instance_label(instance, self.clock())
                    self._node(deployment_node, instance_key, label, leaf=True)
        for key in [k for k in self._by_selection if k not in wanted]:
            node = self._by_selection.pop(key)
            if node.tree is self and node.parent is not None:
                node.remove()
        if self.cursor_node is None and self._by_selection:
            self.move_cursor(next(iter(self._by_selection.values())))

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


def _endpoint_label(endpoint: EndpointState) -> Text:
    state = endpoint.provisioning_state.value
    return Text.assemble((endpoint.name, "bold"), "  ", (state, state_style(state)))


def _deployment_label(deployment: DeploymentState, share: int, mirror: int, colour: str) -> Text:
    """Its name in the colour of its share in the traffic bar."""
    state = deployment.provisioning_state.value
    ready = sum(1 for i in deployment.instances if i.serves)
    traffic = f"{share}%" + (f" +{mirror}% mirror" if mirror else "")
    label = Text.assemble(
        (deployment.name, f"bold {colour}"),
        "  ",
        (state, state_style(state)),
        f"  {ready}/{deployment.instance_count}  ",
        (traffic, "cyan"),
    )
    if deployment.failure is not None:  # until a fix loads
        label.append(f"  {Path(deployment.failure.file).name}:{deployment.failure.line}", "bold red")
    elif deployment.last_scoring_error is not None:  # its run() fails: which line, how often
        scoring = deployment.last_scoring_error
        label.append(f"  ⚠{deployment.scoring_errors} {Path(scoring.file).name}:{scoring.line}", "yellow")
    return label


def _instance_label(instance: InstanceState, now: float) -> Text:
    state = instance.state.value
    label = Text.assemble(instance.id, "  ", (state, state_style(state)))
    if instance.state in (InstancePhase.STARTING, InstancePhase.DRAINING, InstancePhase.CRASHED):
        label.append(f" {max(0, int(now - instance.since))}s", "dim")  # how long so far
    if instance.handing_over:
        label.append("  previous serves", "green")
    if instance.restarts:
        label.append(f"  ↻{instance.restarts}", "dark_orange")
    if instance.debug_port is not None:
        label.append(f"  debug :{instance.debug_port}", "magenta")
    return label
