"""Paced load for tests that change what serves while it runs: one request every `pace_s` to
an endpoint, each answer and failure kept, until the block ends."""

from __future__ import annotations

import threading
import time

import httpx

PACE_S = 0.05
"""20 requests a second."""


class PacedLoad:
    """One request every `pace_s` to `uri` with `key`, until stopped; `failures` lists every
    request that did not answer 200 (an error or another status)."""

    def __init__(self, uri: str, key: str, body: bytes, pace_s: float = PACE_S) -> None:
        self.uri, self.body, self.pace_s = uri, body, pace_s
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.answers: list[int] = []
        self.failures: list[str] = []
        self.latencies_s: list[float] = []
        """Each request's time to its answer or failure, in the order sent."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PacedLoad:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        with httpx.Client(timeout=60) as http:
            while not self._stop.wait(self.pace_s):
                sent = time.perf_counter()
                try:
                    answer = http.post(self.uri, content=self.body, headers=self.headers)
                except httpx.HTTPError as exc:
                    self.latencies_s.append(time.perf_counter() - sent)
                    self.failures.append(repr(exc))
                    continue
                self.latencies_s.append(time.perf_counter() - sent)
                self.answers.append(answer.status_code)
                if answer.status_code != 200:
                    self.failures.append(f"{answer.status_code} {answer.text[:200]}")
