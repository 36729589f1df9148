"""A canary rollout's plan, its windows and its rules, shared by the engine that runs it
(engine/canary.py) and the command that asks for it and shows it (rollout.py).

Pure: no I/O. The plan and what the engine says while it runs travel as JSON through the control
API (`POST /v1/endpoints/NAME/rollout`, one JSON object per line)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.contract import DeploymentMetrics
from workbench.errors import WorkbenchError
from workbench.spec.rollout import RolloutSettings

ERRORS = ("408", "424", "429")
"""Statuses that count as the deployment failing a request, with every 5xx and 0 (a mirrored copy
that got no answer): a timeout, a run() that raised, too many requests for its instances."""
SURE_AFTER = 10
"""Requests in a step before a threshold may fail it early; the step's end judges whatever came."""


DEFAULTS = RolloutSettings()
"""The defaults are workbench.yaml's (spec/rollout.py): one place says them."""


@dataclass(frozen=True)
class RolloutPlan:
    endpoint: str
    deployment: str
    steps: tuple[int, ...] = DEFAULTS.steps
    interval_s: float = DEFAULTS.interval_s
    mirror_first: int = DEFAULTS.mirror_first
    """A share of live requests copied to the new deployment before it takes any (0: none)."""
    max_error_rate: float = DEFAULTS.max_error_rate
    """Percent of the new deployment's requests in a step that may fail."""
    max_p99_ms: float | None = DEFAULTS.max_p99_ms
    max_diff_rate: float | None = DEFAULTS.max_diff_rate
    """Percent of the mirror stage's copies whose answer may differ from the live one."""

    def __post_init__(self) -> None:
        if (
            not self.steps
            or any(not 0 < s <= 100 for s in self.steps)
            or list(self.steps) != sorted(self.steps)
        ):
            raise WorkbenchError("--steps are rising shares from 1 to 100, e.g. 10,50,100")
        if not 0 <= self.mirror_first <= 50:
            raise WorkbenchError("--mirror-first is a share from 0 to 50 (Azure mirrors at most 50%)")
        if not 0 < self.interval_s <= 24 * 3600:
            raise WorkbenchError("--interval is a number of seconds above 0 (a day at most)")
        if self.max_diff_rate is not None and not self.mirror_first:
            raise WorkbenchError("--max-diff-rate judges the mirror stage: give --mirror-first too")

    @property
    def stages(self) -> int:
        return len(self.steps) + (1 if self.mirror_first else 0)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "steps": list(self.steps)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RolloutPlan:
        """The plan a client sent; a malformed one is refused with what is wrong."""
        try:
            given = {
                "steps": tuple(int(s) for s in data["steps"]) if "steps" in data else None,
                "interval_s": _number_or_none(data.get("interval_s")),
                "mirror_first": int(data["mirror_first"]) if "mirror_first" in data else None,
                "max_error_rate": _number_or_none(data.get("max_error_rate")),
                "max_p99_ms": _number_or_none(data.get("max_p99_ms")),
                "max_diff_rate": _number_or_none(data.get("max_diff_rate")),
            }
            optional = {"max_p99_ms", "max_diff_rate"}  # None is theirs to say; the others default
            chosen = {k: v for k, v in given.items() if v is not None or k in optional}
            return cls(str(data["endpoint"]), str(data["deployment"]), **chosen)  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as exc:
            raise WorkbenchError(f"a rollout plan needs endpoint, deployment and numbers: {exc}") from exc


@dataclass(frozen=True)
class Window:
    """What the router counted for the new deployment during one step."""

    step: str
    requests: int
    failed: int
    p99_ms: float | None
    differing: int | None = None
    """Mirror stage: copies whose answer differed from the live one (None: not compared)."""
    traffic: dict[str, int] = field(default_factory=dict)
    """The split during the step (the mirror stage: the split it kept)."""

    @property
    def error_rate(self) -> float:
        return 100.0 * self.failed / self.requests if self.requests else 0.0

    @property
    def diff_rate(self) -> float | None:
        if self.differing is None:
            return None
        return 100.0 * self.differing / self.requests if self.requests else 0.0

    def line(self) -> str:
        p99 = f"{self.p99_ms:.1f} ms" if self.p99_ms is not None else "-"
        diff = f"  {self.diff_rate:.1f}% differ" if self.diff_rate is not None else ""
        return (
            f"{self.step:>12}  {self.requests:6d} requests  {self.error_rate:5.1f}% failed  p99 {p99}{diff}"
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Window:
        differing = data.get("differing")
        return cls(
            str(data["step"]),
            int(data["requests"]),
            int(data["failed"]),
            _number_or_none(data.get("p99_ms")),
            None if differing is None else int(differing),
            {str(k): int(v) for k, v in (data.get("traffic") or {}).items()},
        )


@dataclass(frozen=True)
class RolloutNews:
    """One line of a running rollout: a sentence, a step's judged window, or the end. The end
    says whether it was rolled back, at which step and why, and the traffic it left."""

    said: str | None = None
    window: Window | None = None
    finished: bool = False
    rolled_back: bool = False
    step: str | None = None
    message: str | None = None
    traffic: dict[str, int] | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.window is not None:
            data["window"] = self.window.to_json()
        return {k: v for k, v in data.items() if v not in (None, False)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RolloutNews:
        window = data.get("window")
        traffic = data.get("traffic")
        return cls(
            said=data.get("said"),
            window=Window.from_json(window) if isinstance(window, dict) else None,
            finished=bool(data.get("finished")),
            rolled_back=bool(data.get("rolled_back")),
            step=data.get("step"),
            message=data.get("message"),
            traffic=None if traffic is None else {str(k): int(v) for k, v in traffic.items()},
        )


def window(
    step: str,
    start: DeploymentMetrics,
    now: DeploymentMetrics,
    began: float,
    traffic: dict[str, int],
    *,
    mirrored: bool,
    differing: int | None = None,
) -> Window:
    """The difference between two readings: requests and failures in between; the worst p99 of
    the seconds since the step began (the router's timeline)."""
    if mirrored:
        statuses = {k: v - start.mirror_statuses.get(k, 0) for k, v in now.mirror_statuses.items()}
        requests = now.mirrored - start.mirrored
        p99 = None
    else:
        statuses = {k: v - start.statuses.get(k, 0) for k, v in now.statuses.items()}
        requests = now.requests - start.requests
        timeline = now.timeline
        recent = [
            p
            for s, p in zip(timeline.second, timeline.p99_ms, strict=False)
            if s >= int(began) and p is not None
        ]
        p99 = max(recent) if recent else None
    failed = sum(n for status, n in statuses.items() if status in ERRORS or status[0] in "05")
    return Window(step, requests, failed, p99, differing, traffic)


def crossed(window: Window, plan: RolloutPlan) -> str | None:
    """The threshold the window crossed, in words (None: none)."""
    if window.requests and window.error_rate > plan.max_error_rate:
        return (
            f"{window.error_rate:.1f}% of its requests failed; --max-error-rate is {plan.max_error_rate:g}%"
        )
    if plan.max_p99_ms is not None and window.p99_ms is not None and window.p99_ms > plan.max_p99_ms:
        return f"p99 {window.p99_ms:.1f} ms; --max-p99-ms is {plan.max_p99_ms:g}"
    diff = window.diff_rate
    if plan.max_diff_rate is not None and diff is not None and diff > plan.max_diff_rate:
        limit = plan.max_diff_rate
        return f"{diff:.1f}% of its answers differed from the live ones; --max-diff-rate is {limit:g}%"
    return None


def split(others: dict[str, int], new: str, share: int) -> dict[str, int]:
    """`share` to the new deployment, the rest to the others in their proportions (whole
    percents that total 100: the largest takes the rounding)."""
    total = sum(others.values())
    rest = 100 - share
    shares = {name: rest * value // total for name, value in others.items()}
    largest = max(others, key=lambda name: others[name])
    shares[largest] += rest - sum(shares.values())
    return {**shares, new: share}


def said(table: dict[str, int]) -> str:
    """A split in words: `blue=90 green=10`, or `none`."""
    return " ".join(f"{name}={share}" for name, share in table.items() if share) or "none"


def _number_or_none(value: Any) -> float | None:
    return None if value is None else float(value)
