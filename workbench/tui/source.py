"""What the dashboard reads and asks of an engine, as one async interface.

`LiveSource` is the real one, over the control API: blocking calls run in a thread so the UI
never waits on the network, and the following streams (events, logs) are async iterators that
stop as soon as the task reading them is cancelled. Snapshot tests give the app a source with
fixed data instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from workbench.client import EngineClient, EngineStreams, Invocation
from workbench.contract import Credentials, DebugSession, EndpointMetrics, MirrorBodies, Shell, Telemetry
from workbench.errors import WorkbenchError
from workbench.layout import FOLDER
from workbench.state import EndpointState, Event

REQUEST_FILE_LIMIT = 50


class Source(Protocol):
    root: Path

    def now(self) -> float:
        """The time, as the engine's states are stamped (epoch seconds)."""

    async def status(self) -> list[EndpointState]: ...
    async def metrics(self, endpoint: str) -> EndpointMetrics: ...
    async def telemetry(self) -> Telemetry: ...
    def events(self) -> AsyncIterator[Event]: ...
    def logs(self, endpoint: str, deployment: str, container: str, instance: str) -> AsyncIterator[str]: ...
    async def credentials(self, endpoint: str) -> Credentials: ...
    async def mirror_bodies(self, endpoint: str, request_id: str) -> MirrorBodies: ...
    async def set_traffic(self, endpoint: str, traffic: dict[str, int], mirror: dict[str, int]) -> None: ...
    async def restart(self, endpoint: str, deployment: str, instance: str) -> None: ...
    async def reload(self, endpoint: str, deployment: str) -> None: ...
    async def restart_all(self, endpoint: str, deployment: str) -> None: ...
    async def scale(self, endpoint: str, deployment: str, instance_count: int) -> None: ...
    async def debug(self, endpoint: str, deployment: str, instance: str) -> DebugSession: ...
    async def stop_debugging(self, endpoint: str, deployment: str, instance: str) -> None: ...
    async def shell(self, endpoint: str, deployment: str, instance: str) -> Shell: ...
    async def set_faults(self, endpoint: str, deployment: str, faults: dict[str, float]) -> str: ...
    async def kill(self, endpoint: str, deployment: str, instance: str) -> None: ...
    async def pressure(
        self, endpoint: str, deployment: str, cpu_cores: int, memory_mb: int, seconds: float
    ) -> str: ...
    async def invoke(self, endpoint: str, body: bytes, deployment: str | None) -> Invocation: ...
    def request_files(self) -> list[Path]: ...
    async def close(self) -> None:
        """Close what the source holds open, in the loop that opened it."""


class LiveSource:
    def __init__(
        self, client: EngineClient, log_lines: int, *, files: Path | None = None, remote: str | None = None
    ) -> None:
        self.client = client
        self.remote = remote
        """The remote host's name, for an engine there (its instances are not on this machine)."""
        self.root = client.root
        self.files = files or client.root
        """Where request files are looked for: the project here (a remote engine's root is a path
        on its host)."""
        self.log_lines = log_lines
        self._streams = EngineStreams(client)

    async def close(self) -> None:
        await self._streams.aclose()

    def now(self) -> float:
        return time.time()

    async def status(self) -> list[EndpointState]:
        return await asyncio.to_thread(self.client.status)

    async def metrics(self, endpoint: str) -> EndpointMetrics:
        return await asyncio.to_thread(self.client.metrics, endpoint)

    async def telemetry(self) -> Telemetry:
        return await asyncio.to_thread(self.client.telemetry)

    def events(self) -> AsyncIterator[Event]:
        return self._streams.events()

    def logs(self, endpoint: str, deployment: str, container: str, instance: str) -> AsyncIterator[str]:
        return self._streams.logs(
            endpoint, deployment, container=container, instance=instance, lines=self.log_lines
        )

    async def credentials(self, endpoint: str) -> Credentials:
        return await asyncio.to_thread(self.client.credentials, endpoint)

    async def mirror_bodies(self, endpoint: str, request_id: str) -> MirrorBodies:
        return await asyncio.to_thread(self.client.mirror_bodies, endpoint, request_id)

    async def set_traffic(self, endpoint: str, traffic: dict[str, int], mirror: dict[str, int]) -> None:
        await asyncio.to_thread(self.client.set_traffic, endpoint, traffic, mirror)

    async def restart(self, endpoint: str, deployment: str, instance: str) -> None:
        await asyncio.to_thread(self.client.restart, endpoint, deployment, instance)

    async def reload(self, endpoint: str, deployment: str) -> None:
        await asyncio.to_thread(self.client.reload, endpoint, deployment)

    async def restart_all(self, endpoint: str, deployment: str) -> None:
        await asyncio.to_thread(self.client.restart_all, endpoint, deployment)

    async def scale(self, endpoint: str, deployment: str, instance_count: int) -> None:
        await asyncio.to_thread(self.client.scale, endpoint, deployment, instance_count)

    async def debug(self, endpoint: str, deployment: str, instance: str) -> DebugSession:
        return await asyncio.to_thread(self.client.debug, endpoint, deployment, instance)

    async def stop_debugging(self, endpoint: str, deployment: str, instance: str) -> None:
        await asyncio.to_thread(self.client.stop_debugging, endpoint, deployment, instance)

    async def shell(self, endpoint: str, deployment: str, instance: str) -> Shell:
        if self.remote is not None:
            raise WorkbenchError(
                f"the instance runs on {self.remote}: `ssh` there and `docker exec -it CONTAINER sh`"
            )
        return await asyncio.to_thread(self.client.shell, endpoint, deployment, instance)

    async def invoke(self, endpoint: str, body: bytes, deployment: str | None) -> Invocation:
        return await asyncio.to_thread(self.client.invoke, endpoint, body, deployment)

    async def set_faults(self, endpoint: str, deployment: str, faults: dict[str, float]) -> str:
        return await asyncio.to_thread(lambda: self.client.set_faults(endpoint, deployment, **faults))

    async def kill(self, endpoint: str, deployment: str, instance: str) -> None:
        await asyncio.to_thread(self.client.kill, endpoint, deployment, instance)

    async def pressure(
        self, endpoint: str, deployment: str, cpu_cores: int, memory_mb: int, seconds: float
    ) -> str:
        return await asyncio.to_thread(
            lambda: self.client.pressure(
                endpoint, deployment, cpu_cores=cpu_cores, memory_mb=memory_mb, seconds=seconds, instance=None
            )
        )

    def request_files(self) -> list[Path]:
        return request_files(self.files)


def request_files(root: Path) -> list[Path]:
    """JSON files in the project that look like requests, nearest first."""
    found = [
        path
        for path in root.rglob("*.json")
        if FOLDER not in path.parts and "node_modules" not in path.parts and path.is_file()
    ]
    found.sort(key=lambda p: (len(p.relative_to(root).parts), "request" not in p.name, str(p)))
    return found[:REQUEST_FILE_LIMIT]
