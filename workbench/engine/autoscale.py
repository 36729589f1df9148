"""Autoscale as Azure Monitor does it, for deployments whose workbench.yaml settings have
`autoscale` (spec/autoscale.py): once a time grain (a minute, divided by `time_scale`) each
deployment's figures are sampled (RequestsPerMinute from the router's count, RequestLatency its
mean, CpuUtilizationPercentage the mean over instances, CpuMemoryUtilizationPercentage their mean
resident memory as a share of the instance type's); a rule compares its metric, aggregated
over its time window, with its threshold. As Azure evaluates them: the deployment scales out when
any Increase rule holds, and in only when every Decrease rule holds; after an action, nothing more
until the rule's cooldown has passed; the instance count stays within minimum and maximum. Every
decision is an event that says why ("autoscale tests/blue 1→2: RequestsPerMinute average 612 >
600 over 1 min").
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from workbench.engine.routed import DeploymentsOf, RoutedDeployment
from workbench.engine.store import Store
from workbench.errors import NotSaved
from workbench.router.endpoint import DeploymentFigures
from workbench.spec import Project
from workbench.spec.autoscale import Autoscale, Rule
from workbench.spec.skus import find_sku
from workbench.state import EventKind, EventSeverity
from workbench.telemetry.processes import ProcessSampler

TICK_S = 0.2
GRAIN_S = 60.0
KEPT_GRAINS = 240


@dataclass
class _Watched:
    """What the autoscaler keeps of one deployment between grains."""

    next_sample: float
    requests: int = 0
    latency_sum_ms: float = 0.0
    samples: deque[dict[str, float]] = field(default_factory=lambda: deque(maxlen=KEPT_GRAINS))
    last_action: float = -math.inf


class Autoscaler:
    def __init__(
        self,
        store: Store,
        deployments_of: DeploymentsOf,
        figures: Callable[[], Mapping[str, Mapping[str, DeploymentFigures]]],
        project: Callable[[], Project],
        *,
        scale: Callable[[str, str, int, str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.scale = scale
        """Records the decision as the deployment's scale override; the reconcile loop applies it."""
        self.deployments_of = deployments_of
        self.figures = figures
        self.project = project
        self.clock = clock
        self.sampler = ProcessSampler()
        self._watched: dict[tuple[str, str], _Watched] = {}

    async def run(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self.tick()  # on the loop: a decision starts a scale operation, which is a task

    def tick(self) -> None:
        project, now = self.project(), self.clock()
        figures = self.figures()
        wanted: set[tuple[str, str]] = set()
        for endpoint in project.endpoints:
            runners = self.deployments_of(endpoint.name)
            for deployment in endpoint.deployments:
                settings = project.settings.deployment(endpoint.name, deployment.name).autoscale
                runner = runners.get(deployment.name)
                if settings is None or runner is None:
                    continue
                key = (endpoint.name, deployment.name)
                wanted.add(key)
                grain = GRAIN_S / settings.time_scale
                watched = self._watched.setdefault(key, _Watched(next_sample=now + grain))
                if now < watched.next_sample:
                    continue
                watched.next_sample = now + grain
                watched.samples.append(
                    self._sample(watched, figures.get(endpoint.name, {}).get(deployment.name), runner)
                )
                self._decide(key, settings, watched, runner, now)
        for gone in set(self._watched) - wanted:
            del self._watched[gone]

    def _sample(
        self, watched: _Watched, figure: DeploymentFigures | None, runner: RoutedDeployment
    ) -> dict[str, float]:
        requests = figure.requests if figure else 0
        latency_sum = figure.latency_sum_ms if figure else 0.0
        new_requests = requests - watched.requests
        latency = (latency_sum - watched.latency_sum_ms) / new_requests if new_requests > 0 else 0.0
        watched.requests, watched.latency_sum_ms = requests, latency_sum
        sampled = [f for i in runner.state.instances if i.pid and (f := self.sampler.sample(i.pid))]
        cpus = [f.cpu_percent for f in sampled]
        sku = find_sku(runner.spec.instance_type or "")
        memory = [100 * f.rss_bytes / (sku.memory_gib * 2**30) for f in sampled] if sku else []
        return {
            "RequestsPerMinute": float(new_requests),  # one grain is one minute of Azure's
            "RequestLatency": latency,
            "CpuUtilizationPercentage": sum(cpus) / len(cpus) if cpus else 0.0,
            "CpuMemoryUtilizationPercentage": sum(memory) / len(memory) if memory else 0.0,
        }

    def _decide(
        self,
        key: tuple[str, str],
        settings: Autoscale,
        watched: _Watched,
        runner: RoutedDeployment,
        now: float,
    ) -> None:
        count = runner.state.instance_count
        held = [
            (rule, figure)
            for rule in settings.rules
            if (figure := _figure(rule, watched.samples)) is not None
        ]
        cooled = [
            (rule, figure)
            for rule, figure in held
            if now - watched.last_action >= rule.cooldown_s / settings.time_scale and rule.holds(figure)
        ]
        out = [(r, f) for r, f in cooled if r.direction == "Increase"]
        ins = [r for r in settings.rules if r.direction == "Decrease"]
        target, why = count, ""
        if out:
            rule, figure = out[0]
            target, why = min(settings.maximum, count + rule.value), rule.describe(figure)
        elif ins and all(any(r is rule for r, _ in cooled) for rule in ins):
            rule, figure = next((r, f) for r, f in cooled if r.direction == "Decrease")
            target, why = max(settings.minimum, count - rule.value), rule.describe(figure)
        elif not settings.minimum <= count <= settings.maximum:
            target = min(settings.maximum, max(settings.minimum, count))
            why = f"kept within {settings.minimum}..{settings.maximum}"
        if target == count:
            return
        watched.last_action = now
        self.store.publish(
            EventKind.AUTOSCALE, f"{key[0]}/{key[1]}", f"autoscale {key[0]}/{key[1]} {count}→{target}: {why}"
        )
        try:
            self.scale(key[0], key[1], target, "autoscale")
        except NotSaved as exc:  # the override could not be written: nothing changes, and it is said
            self.store.publish(
                EventKind.AUTOSCALE,
                f"{key[0]}/{key[1]}",
                f"autoscale {key[0]}/{key[1]} not applied: {exc}",
                EventSeverity.WARNING,
            )


def _figure(rule: Rule, samples: deque[dict[str, float]]) -> float | None:
    """The rule's metric aggregated over its time window; None until the window is full."""
    needed = max(1, math.ceil(rule.time_window_s / GRAIN_S))
    if len(samples) < needed:
        return None
    values = [sample[rule.metric] for sample in list(samples)[-needed:]]
    return {
        "Average": sum(values) / len(values),
        "Maximum": max(values),
        "Minimum": min(values),
        "Total": sum(values),
    }[rule.aggregation]
