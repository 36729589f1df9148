"""Liveness and readiness probes behind one small interface, so that an instance's life can be
run in process with the runtime double (its instances are healthy while they have not exited),
and for real over HTTP against an instance's port, as Kubernetes probes Azure's containers."""

from __future__ import annotations

import asyncio
from typing import Protocol

import aiohttp


class Prober(Protocol):
    async def healthy(self, url: str, path: str, timeout_s: float) -> bool:
        """Whether the instance at `url` answers `path` with 200 within `timeout_s`."""


class HttpProber:
    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http

    async def healthy(self, url: str, path: str, timeout_s: float) -> bool:
        try:
            async with self.http.get(url + path, timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
                return response.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            return False
