"""`workbench load`: an open-model load generator through an endpoint's scoring URI.

Requests are sent on a schedule (`rate` a second, or a ramp from `rate` to `ramp_to`), whether or
not earlier ones have been answered, as real clients arrive; `concurrency` caps how many are in
flight (a request that finds the cap full waits, and its wait counts). Latency is measured from
when the request was due, not from when it could be sent, so a stall shows in the figures instead
of hiding in fewer requests (coordinated omission, corrected). Bounded in time and count:
`duration` seconds or `requests`, whichever ends first, and never more than MAX_REQUESTS.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

MAX_REQUESTS = 1_000_000
MAX_DURATION_S = 3600.0
PROGRESS_S = 1.0


@dataclass(frozen=True)
class LoadPlan:
    uri: str
    headers: dict[str, str]
    body: bytes
    rate: float
    duration_s: float = 10.0
    requests: int | None = None
    concurrency: int = 64
    ramp_to: float | None = None
    verify: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.rate <= 100_000 or (self.ramp_to is not None and not 0 < self.ramp_to <= 100_000):
            raise ValueError("--rate (and --ramp-to) is between 0 and 100,000 requests a second")
        if not 0 < self.duration_s <= MAX_DURATION_S:
            raise ValueError(f"--duration is between 0 and {MAX_DURATION_S:g} s")
        if self.requests is not None and not 0 < self.requests <= MAX_REQUESTS:
            raise ValueError(f"--requests is between 1 and {MAX_REQUESTS:,}")
        if not 1 <= self.concurrency <= 10_000:
            raise ValueError("--concurrency is between 1 and 10,000")

    def schedule(self) -> list[float]:
        """When each request is due, in seconds from the start."""
        due: list[float] = []
        elapsed = 0.0
        limit = min(self.requests or MAX_REQUESTS, MAX_REQUESTS)
        while elapsed < self.duration_s and len(due) < limit:
            due.append(elapsed)
            share = elapsed / self.duration_s
            rate = self.rate + ((self.ramp_to or self.rate) - self.rate) * share
            elapsed += 1.0 / rate
        return due


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    due_s: list[float] = field(default_factory=list)
    """When each answered request was due, from the start, in the order of `latencies_ms`."""
    statuses: Counter[str] = field(default_factory=Counter)
    deployments: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def sent(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    def percentile(self, share: float) -> float | None:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return None
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def per_second(self) -> list[dict[str, float | int | None]]:
        """For each second of the run (by when requests were due): answered, p50 and p99."""
        seconds: dict[int, list[float]] = {}
        for due, latency in zip(self.due_s, self.latencies_ms, strict=True):
            seconds.setdefault(int(due), []).append(latency)
        rows: list[dict[str, float | int | None]] = []
        for second in range(int(max(self.due_s, default=-1)) + 1):
            ordered = sorted(seconds.get(second, []))
            rows.append(
                {
                    "second": second,
                    "answered": len(ordered),
                    "p50_ms": round(ordered[len(ordered) // 2], 3) if ordered else None,
                    "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3)
                    if ordered
                    else None,
                }
            )
        return rows

    def summary(self) -> dict[str, object]:
        return {
            "requests": self.sent,
            "seconds": round(self.seconds, 3),
            "rate": round(self.sent / self.seconds, 1) if self.seconds else 0.0,
            "latency_ms": {
                name: (round(value, 3) if value is not None else None)
                for name, value in (
                    ("p50", self.percentile(0.5)),
                    ("p90", self.percentile(0.9)),
                    ("p99", self.percentile(0.99)),
                    ("p99.9", self.percentile(0.999)),
                    ("max", max(self.latencies_ms) if self.latencies_ms else None),
                )
            },
            "statuses": dict(sorted(self.statuses.items())),
            "deployments": dict(sorted(self.deployments.items())),
            "errors": dict(self.errors),
            "per_second": self.per_second(),
        }


async def run_load(plan: LoadPlan, progress: Callable[[str], None] = lambda line: None) -> LoadResult:
    """`concurrency` senders take the next due request in turn, each waiting for its time when
    ahead of the schedule; behind it, the next one goes at once and its lateness counts."""
    result = LoadResult()
    schedule = iter(plan.schedule())
    connector = aiohttp.TCPConnector(limit=plan.concurrency, ssl=plan.verify)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        start = time.perf_counter()

        async def sender() -> None:
            for due in schedule:  # one shared iterator: each due time is taken once
                delay = start + due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                try:
                    async with http.post(plan.uri, data=plan.body, headers=plan.headers) as answer:
                        await answer.read()
                        deployment = answer.headers.get("azureml-model-deployment", "-")
                        status = answer.status
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    result.errors[type(exc).__name__] += 1
                    continue
                result.latencies_ms.append((time.perf_counter() - start - due) * 1000)  # from when due
                result.due_s.append(due)
                result.statuses[str(status)] += 1
                result.deployments[deployment] += 1

        async def report() -> None:
            while True:
                await asyncio.sleep(PROGRESS_S)
                p50 = result.percentile(0.5)
                progress(
                    f"{time.perf_counter() - start:5.1f} s  answered {len(result.latencies_ms)}  "
                    f"p50 {p50 if p50 is None else round(p50, 1)} ms  statuses {dict(result.statuses)}"
                )

        reporter = asyncio.ensure_future(report())
        try:
            await asyncio.gather(*(sender() for _ in range(plan.concurrency)))
        finally:
            reporter.cancel()
        result.seconds = time.perf_counter() - start
    return result
