"""Figures per deployment of the selected endpoint: requests per second (a mirror target's
copies counted, and said apart), p50 and p99 latency as sparklines over the last two minutes, on
one time axis for every deployment (the same second in the same column, ticks above them) and
each with its scale (the largest value it shows); counts by status code; requests, CPU and
memory per instance; and GPUs where there are any."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widget import AwaitMount
from textual.widgets import Label, Sparkline, Static

from workbench.contract import DeploymentMetrics, EndpointMetrics, GpuFigures, ProcessFigures, Telemetry
from workbench.state import EndpointState
from workbench.tui.look import megabytes, milliseconds

SPARK_SECONDS = 120
LABEL_WIDTH = 15
"""The sparklines' labels' column (the style sheet's `.spark-label`): the time axis starts after it."""
TICKS_S = (120, 90, 60, 30, 0)


class DeploymentFigures(Vertical):
    """One deployment's block; updated in place by `show`."""

    def __init__(self, name: str) -> None:
        super().__init__(classes="deployment-figures")
        self.deployment = name

    def compose(self) -> ComposeResult:
        yield Static(self.deployment, classes="figures-head")
        for name, kind in (("req/s", "rps"), ("p50 ms", "p50"), ("p99 ms", "p99")):
            with Vertical(classes="spark-row"):
                yield Label(name, classes=f"spark-label {kind}-label")
                yield Sparkline([], classes=kind)
        yield Static("", classes="figures-instances")

    def show(
        self, figures: DeploymentMetrics, instances: list[tuple[str, ProcessFigures | None]], axis: range
    ) -> None:
        """`axis`: the seconds every deployment's sparklines show, oldest first."""
        timeline = figures.timeline
        at = {second: n for n, second in enumerate(timeline.second)}
        mirrored = timeline.mirrored or [0] * len(timeline.second)  # an older engine sends none
        rps = [timeline.requests[at[s]] + mirrored[at[s]] if s in at else 0 for s in axis]
        now_mirrored = mirrored[at[axis[-1]]] if axis and axis[-1] in at else 0
        p50s = [timeline.p50_ms[at[s]] if s in at else None for s in axis]
        p99s = [(timeline.p99_ms[at[s]] if s in at else None) or 0.0 for s in axis]
        now_rps = rps[-1] if rps else 0
        head = Text.assemble(
            (self.deployment, "bold"),
            f"  {now_rps - now_mirrored:,} req/s  ",
            (f"+{now_mirrored:,} mirrored/s  ", "cyan") if now_mirrored else "",
            *_latency(p50s, p99s, figures),
            ("total ", "dim"),
        )
        head.append(f"{figures.requests:,}")
        statuses = figures.statuses
        if statuses:
            head.append("  ")
            for code, count in statuses.items():
                head.append(f"{code}:{count:,} ", "green" if str(code).startswith("2") else "red")
        if figures.mirrored:
            head.append(f" mirrored {figures.mirrored:,}", "cyan")
        self.query_one(".figures-head", Static).update(head)
        for kind, name, values in (
            ("rps", "req/s", [float(v) for v in rps]),
            ("p50", "p50 ms", [v or 0.0 for v in p50s]),
            ("p99", "p99 ms", p99s),
        ):
            self.query_one(f".{kind}", Sparkline).data = values
            top = max(values, default=0.0)
            self.query_one(f".{kind}-label", Label).update(f"{name} ≤{top:,.{0 if kind == 'rps' else 1}f}")
        lines = Text()
        for instance, sample in instances:
            answered = f"  requests {figures.by_instance.get(instance, 0):,}"
            if sample is None:
                lines.append(f"{instance}  -{answered}\n", "dim")
            else:
                lines.append(
                    f"{instance}  cpu {sample.cpu_percent:5.1f}%  mem {megabytes(sample.rss_bytes)}"
                    f"  processes {sample.processes}{answered}\n"
                )
        self.query_one(".figures-instances", Static).update(lines)


class MetricsPanel(VerticalScroll):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._mounting: AwaitMount | None = None
        """Blocks being mounted: a newer poll cancels the show that mounts them, not the mount,
        and their parts are not there to update until it is done."""

    def compose(self) -> ComposeResult:
        yield Static("", id="gpu-line")
        yield Static("", id="time-axis")

    async def show(
        self, endpoint: EndpointState | None, metrics: EndpointMetrics, telemetry: Telemetry
    ) -> None:
        names = [d.name for d in endpoint.deployments] if endpoint else []
        blocks = {block.deployment: block for block in self.query(DeploymentFigures)}
        for name, block in blocks.items():
            if name not in names:
                block.remove()
        if not names:
            self.query_one("#time-axis", Static).update(Text("(nothing yet: no deployment)", "dim"))
            return
        figures = metrics.deployments
        samples = telemetry.instances
        newest = max((f.timeline.second[-1] for f in figures.values() if f.timeline.second), default=0)
        axis = range(newest - SPARK_SECONDS + 1, newest + 1)
        if self._mounting is not None:  # an earlier show's, cancelled while it waited
            await self._mounting
            self._mounting = None
        new = [DeploymentFigures(name) for name in names if name not in blocks]
        if new:  # in one go: a newer poll that cancels this one never leaves half of them mounted
            self._mounting = self.mount(*new)
            await self._mounting
            self._mounting = None
        blocks.update({block.deployment: block for block in new})
        for name in names:
            block = blocks[name]
            assert endpoint is not None
            deployment = endpoint.deployment(name)
            instances = [
                (i.id, samples.get(f"{endpoint.name}/{i.id}"))
                for i in (deployment.instances if deployment else [])
            ]
            block.show(figures.get(name) or DeploymentMetrics(), instances, axis)
        self.query_one("#gpu-line", Static).update(gpu_line(telemetry.gpus))
        # once laid out: a block just mounted (or a scrollbar it brings) changes the widths
        self.call_after_refresh(self._draw_axis, blocks[names[0]])

    def _draw_axis(self, first: DeploymentFigures) -> None:
        """The time axis, as wide as the sparklines are now."""
        axis_line = self.query_one("#time-axis", Static)
        spark = first.query_one(Sparkline).size.width if first.is_attached else 0
        axis_line.update(Text(time_ticks(spark or axis_line.content_size.width - LABEL_WIDTH), "dim"))


def time_ticks(width: int) -> str:
    """The sparklines' time axis: how many seconds ago each part of a sparkline `width` columns
    wide is (`-120s`, ..., `now`), in the labels' column first "seconds ago"; every deployment's
    sparklines show the same seconds, so one axis serves them all."""
    if width < 10:
        return ""
    row = [" "] * width
    for seconds in TICKS_S:
        tick = f"-{seconds}s" if seconds else "now"
        at = round((SPARK_SECONDS - seconds) / SPARK_SECONDS * (width - 1))
        start = min(max(0, at - len(tick) // 2), width - len(tick))
        if all(c == " " for c in row[max(0, start - 1) : start + len(tick) + 1]):
            row[start : start + len(tick)] = tick
    return f"{'seconds ago':<{LABEL_WIDTH}}" + "".join(row)


def gpu_line(gpus: list[GpuFigures]) -> Text:
    if not gpus:
        return Text("GPU: none found (NVML reports no NVIDIA GPU)", style="dim")
    line = Text("GPU: ")
    for gpu in gpus:
        line.append(
            f"#{gpu.index} {gpu.name} {gpu.utilization_percent}%  "
            f"{megabytes(gpu.memory_used_bytes)} / {megabytes(gpu.memory_total_bytes)}   "
        )
    return line


def _latency(
    p50s: list[float | None], p99s: list[float], figures: DeploymentMetrics
) -> list[str | tuple[str, str]]:
    """p50 and p99 of the latest second that had requests, saying how long ago when it was not
    the last one (beside 0 req/s a figure is not a current one); since the start when none came
    in the window."""
    last = next((n for n in range(len(p50s) - 1, -1, -1) if p50s[n] is not None), None)
    if last is None:
        figures_now = f"p50 {milliseconds(figures.p50_ms)}  p99 {milliseconds(figures.p99_ms)}"
        return [(f"idle; since the start {figures_now}  ", "dim")]
    said = f"p50 {milliseconds(p50s[last])}  p99 {milliseconds(p99s[last])}"
    ago = len(p50s) - 1 - last
    return [f"{said}  "] if ago <= 1 else [(f"{said} ({ago} s ago)  ", "dim")]
