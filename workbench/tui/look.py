"""How states and figures look on screen: one colour per state, short units."""

from __future__ import annotations

from workbench.state import InstancePhase, ProvisioningState

STATE_STYLE = {
    ProvisioningState.SUCCEEDED.value: "green",
    ProvisioningState.CREATING.value: "yellow",
    ProvisioningState.UPDATING.value: "yellow",
    ProvisioningState.DELETING.value: "magenta",
    ProvisioningState.FAILED.value: "bold red",
    InstancePhase.READY.value: "green",
    InstancePhase.STARTING.value: "yellow",
    InstancePhase.DRAINING.value: "cyan",
    InstancePhase.UNREADY.value: "dark_orange",
    InstancePhase.CRASHED.value: "red",
    InstancePhase.FAILED.value: "bold red",
    InstancePhase.STOPPED.value: "dim",
}
DEPLOYMENT_COLOURS = ("dodger_blue2", "green3", "orange3", "medium_purple", "cyan", "deep_pink3")


def state_style(state: str) -> str:
    return STATE_STYLE.get(state, "")


def colour_of(index: int) -> str:
    return DEPLOYMENT_COLOURS[index % len(DEPLOYMENT_COLOURS)]


def megabytes(value: float) -> str:
    return f"{value / 1e6:,.0f} MB" if value < 1e10 else f"{value / 1e9:,.1f} GB"


def milliseconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} ms" if value < 10 else f"{value:,.0f} ms"
