"""Figures per deployment of the selected endpoint: requests per second, p50 and p99 latency as
sparklines over the last two minutes, counts by status code, CPU and memory per instance, and GPUs
where there are any."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Label, Sparkline, Static

from workbench.contract import DeploymentMetrics, EndpointMetrics, GpuFigures, ProcessFigures, Telemetry
from workbench.state import EndpointState
from workbench.tui.look import megabytes, milliseconds

SPARK_SECONDS = 120


class DeploymentFigures(Vertical):
    """One deployment's block; updated in place by `show`."""

    def __init__(self, name: str) -> None:
        super().__init__(classes="deployment-figures")
        self.deployment = name

    def compose(self) -> ComposeResult:
        yield Static(self.deployment, classes="figures-head")
        with Vertical(classes="spark-row"):
            yield Label("req/s", classes="spark-label")
            yield Sparkline([], classes="rps")
        with Vertical(classes="spark-row"):
            yield Label("p50 ms", classes="spark-label")
            yield Sparkline([], classes="p50")
        with Vertical(classes="spark-row"):
            yield Label("p99 ms", classes="spark-label")
            yield Sparkline([], classes="p99")
        yield Static("", classes="figures-instances")

    def show(self, figures: DeploymentMetrics, instances: list[tuple[str, ProcessFigures | None]]) -> None:
        timeline = figures.timeline
        rps = timeline.requests[-SPARK_SECONDS:]
        p50s = timeline.p50_ms[-SPARK_SECONDS:]
        p99s = [v or 0.0 for v in timeline.p99_ms[-SPARK_SECONDS:]]
        now_rps = rps[-1] if rps else 0
        recent_p50 = next((v for v in reversed(p50s) if v is not None), figures.p50_ms)
        recent_p99 = next((v for v in reversed(p99s) if v), figures.p99_ms)
        head = Text.assemble(
            (self.deployment, "bold"),
            f"  {now_rps:,} req/s  p50 {milliseconds(recent_p50)}  p99 {milliseconds(recent_p99)}  ",
            ("total ", "dim"),
            f"{figures.requests:,}",
        )
        statuses = figures.statuses
        if statuses:
            head.append("  ")
            for code, count in statuses.items():
                head.append(f"{code}:{count:,} ", "green" if str(code).startswith("2") else "red")
        if figures.mirrored:
            head.append(f" mirrored {figures.mirrored:,}", "cyan")
        self.query_one(".figures-head", Static).update(head)
        self.query_one(".rps", Sparkline).data = [float(v) for v in rps]
        self.query_one(".p50", Sparkline).data = [v or 0.0 for v in p50s]
        self.query_one(".p99", Sparkline).data = p99s
        lines = Text()
        for instance, sample in instances:
            if sample is None:
                lines.append(f"{instance}  -\n", "dim")
            else:
                lines.append(
                    f"{instance}  cpu {sample.cpu_percent:5.1f}%  mem {megabytes(sample.rss_bytes)}"
                    f"  processes {sample.processes}\n"
                )
        self.query_one(".figures-instances", Static).update(lines)


class MetricsPanel(VerticalScroll):
    def compose(self) -> ComposeResult:
        yield Static("", id="gpu-line")

    async def show(
        self, endpoint: EndpointState | None, metrics: EndpointMetrics, telemetry: Telemetry
    ) -> None:
        names = [d.name for d in endpoint.deployments] if endpoint else []
        blocks = {block.deployment: block for block in self.query(DeploymentFigures)}
        for name, block in blocks.items():
            if name not in names:
                block.remove()
        figures = metrics.deployments
        samples = telemetry.instances
        for name in names:
            found = blocks.get(name)
            block = found if found is not None else DeploymentFigures(name)
            if found is None:
                await self.mount(block)
            assert endpoint is not None
            deployment = endpoint.deployment(name)
            instances = [
                (i.id, samples.get(f"{endpoint.name}/{i.id}"))
                for i in (deployment.instances if deployment else [])
            ]
            block.show(figures.get(name) or DeploymentMetrics(), instances)
        self.query_one("#gpu-line", Static).update(gpu_line(telemetry.gpus))


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
