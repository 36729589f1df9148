"""The endpoint's summary: state, auth, scoring URI, and its traffic split and mirror share
drawn as bars, each deployment in its colour (the tree shows its name in the same colour); then,
for each deployment whose code failed, the file, line and exception, until a fix loads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from workbench.state import EndpointState
from workbench.tui.look import colour_of, state_style

LIVE, MIRROR = "█", "░"


class EndpointSummary(Static):
    def __init__(self, root: Path | None = None, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.root = root
        """Failures name files relative to the project folder."""
        self._endpoint: EndpointState | None = None

    def show(self, endpoint: EndpointState | None) -> None:
        if endpoint != self._endpoint:
            self._endpoint = endpoint
            self.refresh(layout=True)

    def render(self) -> Group | Text:
        endpoint = self._endpoint
        if endpoint is None:
            return Text("no endpoint yet", style="dim")
        state = endpoint.provisioning_state.value
        head = Text.assemble(  # the scoring URI before the auth mode: a narrow terminal cuts the end
            (endpoint.name, "bold"),
            "  ",
            (state, state_style(state)),
            "  ",
            (endpoint.scoring_uri or "no scoring URI yet", "underline" if endpoint.scoring_uri else "dim"),
            f"  auth {endpoint.auth_mode}",
        )
        head.truncate(max(1, self.size.width), overflow="ellipsis")
        live, mirror, legend = traffic_bars(endpoint, max(10, self.size.width))
        return Group(head, live, mirror, legend, *self._notes(endpoint))

    def _notes(self, endpoint: EndpointState) -> list[Text]:
        """A line when the split in force is not the YAML's; per deployment whose code failed, whose
        run() fails, and with faults on purpose."""
        lines = []
        if endpoint.traffic_override:  # the split in force is not the one in endpoint.yml
            lines.append(Text.assemble(("≠ ", "bold cyan"), (endpoint.traffic_override, "cyan")))
        for deployment in endpoint.deployments:
            if deployment.failure is not None:
                file = Path(deployment.failure.file)
                if self.root is not None and file.is_relative_to(self.root):
                    file = file.relative_to(self.root)
                failure = dataclasses.replace(deployment.failure, file=str(file))
                lines.append(
                    Text.assemble(
                        ("✗ ", "bold red"), (deployment.name, "bold"), ": ", (failure.summary(), "red")
                    )
                )
            scoring = deployment.last_scoring_error
            if scoring is not None:
                file = Path(scoring.file)
                if self.root is not None and file.is_relative_to(self.root):
                    file = file.relative_to(self.root)
                where = dataclasses.replace(scoring, file=str(file)).summary()
                said = f"run() failed {deployment.scoring_errors} time(s), last at {where}"
                lines.append(
                    Text.assemble(("⚠ ", "bold yellow"), (deployment.name, "bold"), ": ", (said, "yellow"))
                )
            if deployment.faults:
                lines.append(
                    Text.assemble(
                        ("⚡ ", "yellow"), (deployment.name, "bold"), ": ", (deployment.faults, "yellow")
                    )
                )
        for line in lines:
            line.truncate(max(1, self.size.width), overflow="ellipsis")
        return lines


def traffic_bars(endpoint: EndpointState, width: int) -> list[Text]:
    """One bar for the live split, one for the mirror share, with a legend that fits `width`."""
    names = [d.name for d in endpoint.deployments] or list(endpoint.traffic)
    colour = {name: colour_of(index) for index, name in enumerate(names)}
    bar_width = max(10, width - 8)
    live = Text("live   ")
    edge = 0
    for name in names:
        edge = _bar(live, edge, endpoint.traffic.get(name, 0), bar_width, cell=LIVE, style=colour[name])
    live.append("·" * max(0, bar_width - round(edge * bar_width / 100)), "dim")
    mirror = Text("mirror ")
    edge = 0
    for name, share in endpoint.mirror_traffic.items():
        edge = _bar(mirror, edge, share, bar_width, cell=MIRROR, style=colour.get(name, "white"))
    mirror.append("·" * max(0, bar_width - round(edge * bar_width / 100)), "dim")
    legend = Text()
    for name in names:
        share = endpoint.traffic.get(name, 0)
        extra = endpoint.mirror_traffic.get(name)
        legend.append("■ ", colour[name])
        legend.append(f"{name} {share}%" + (f" (+{extra}% mirror)" if extra else "") + "  ")
    legend.truncate(width, overflow="ellipsis")
    for line in (live, mirror):
        line.truncate(width)
    return [live, mirror, legend]


def _bar(line: Text, start: int, share: int, width: int, *, cell: str, style: str) -> int:
    """Append one share's segment, rounding its edges rather than its length, so that shares
    that add up to 100 fill the bar exactly; the new edge, in percent."""
    end = start + share
    line.append(cell * (round(end * width / 100) - round(start * width / 100)), style)
    return end
