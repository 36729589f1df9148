"""Azure's endpoint-wide limits, emulated for an endpoint that asks for them (`limits: azure` in
workbench.yaml): requests per second and active requests past which Azure answers 429
"Rate-limited", and the endpoint's bandwidth, past which Azure delays requests and says by how
much (`ms-azureml-bandwidth-request-delay-ms` / `-response-delay-ms`): docs/azure.md,
"Status codes" and "Limits".

Off by default: the limits are regional quotas that Azure raises on request, and a local load
test that is throttled by default would hide the workbench's own figures. `workbench status`
says which applies.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

REQUEST_DELAY_HEADER = "ms-azureml-bandwidth-request-delay-ms"
RESPONSE_DELAY_HEADER = "ms-azureml-bandwidth-response-delay-ms"
RATE_LIMITED = "Rate-limited"


@dataclass(frozen=True)
class EndpointLimits:
    """Azure's published per-endpoint limits (docs/azure.md, "Limits")."""

    requests_per_s: float = 500
    active_requests: int = 500
    """Azure's "active connections", counted here as requests in flight."""
    bandwidth_bytes_per_s: float = 5_000_000
    """Azure's "5 MBPS", read as megabytes per second, request and response bodies together."""

    def describe(self) -> str:
        return (
            f"{self.requests_per_s:g} req/s, {self.active_requests} active requests, "
            f"{self.bandwidth_bytes_per_s / 1e6:g} MB/s"
        )


AZURE = EndpointLimits()


class TokenBucket:
    """`rate` tokens a second, holding at most `rate` (one second's worth)."""

    def __init__(self, rate: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = rate
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.rate, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def try_take(self, amount: float) -> bool:
        """Takes `amount` if it is there; False (taking nothing) if not."""
        self._refill()
        if self._tokens < amount:
            return False
        self._tokens -= amount
        return True

    def owe(self, amount: float) -> float:
        """Takes `amount`, into debt if need be: the seconds until the debt is paid."""
        self._refill()
        self._tokens -= amount
        return max(0.0, -self._tokens / self.rate)


class Throttle:
    """One endpoint's limits, kept across route-table updates."""

    def __init__(self, limits: EndpointLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.active = 0
        self._requests = TokenBucket(limits.requests_per_s, clock)
        self._bytes = TokenBucket(limits.bandwidth_bytes_per_s, clock)

    def admit(self) -> bool:
        """Whether a new request is within the rate and the active-request limit."""
        return self.active < self.limits.active_requests and self._requests.try_take(1)

    def delay_s(self, body_bytes: int) -> float:
        """How long a body of `body_bytes` waits for the endpoint's bandwidth."""
        return self._bytes.owe(body_bytes) if body_bytes else 0.0
