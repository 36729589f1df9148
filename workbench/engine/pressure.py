"""CPU or memory pressure applied to a deployment's instances on purpose (`workbench fault
--cpu/--memory`, the dashboard's f): applied, said in the deployment's state while it lasts, and
ended by the event loop's own timer (the one clock: another, read when it fires, may not have
reached the end yet, and the pressure would never end)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from workbench.engine.instances import InstanceRunner
from workbench.engine.store import Store
from workbench.state import EventKind, EventSeverity


class DeploymentPressure:
    def __init__(self, store: Store, subject: str, on_change: Callable[[], None]) -> None:
        self.store = store
        self.subject = subject
        self.on_change = on_change
        self._said = ""
        """The pressure applied now, in words ("" for none)."""
        self._ends: asyncio.TimerHandle | None = None

    async def apply(
        self, targets: list[InstanceRunner], cpu_cores: int, memory_mb: int, seconds: float
    ) -> str:
        """Pressure on each of `targets`; in words. A newer pressure replaces the one before."""
        for instance in targets:
            await instance.pressure(cpu_cores, memory_mb, seconds)
        what = " and ".join(
            filter(
                None,
                [
                    f"{cpu_cores} busy core(s)" if cpu_cores else "",
                    f"{memory_mb} MB held" if memory_mb else "",
                ],
            )
        )
        said = f"{what} in {', '.join(i.state.id for i in targets)} for {seconds:g} s"
        self._said = said
        if self._ends is not None:
            self._ends.cancel()
        self._ends = asyncio.get_running_loop().call_later(seconds, self._over)
        self.store.publish(
            EventKind.DEPLOYMENT, self.subject, f"pressure applied: {said}", EventSeverity.WARNING
        )
        self.on_change()
        return said

    def said(self) -> str:
        """The pressure applied now, in words ("" for none)."""
        return f"pressure: {self._said}" if self._said else ""

    def _over(self) -> None:
        self.store.publish(EventKind.DEPLOYMENT, self.subject, f"pressure over: {self._said}")
        self._said, self._ends = "", None
        self.on_change()
