"""Data collection as Azure's model data collector (MDC) does it, on this machine.

A deployment with `data_collector` gets what the `azureml-ai-monitoring` package looks for
(`AZUREML_MDC_CONFIG_PATH`, `AZUREML_MDC_HOST`, `AZUREML_MDC_PORT`): a config file naming its
collections with their sampling rate, and a collector on 127.0.0.1 that takes the package's
payloads (`POST /modeldata/log`, the headers the package sends) and writes each as one JSON line
laid out as Azure lays them out in blob storage:

    .workbench/collected/<endpoint>/<deployment>/<collection>/<yyyy>/<MM>/<dd>/<HH>/data.jsonl

(`rolling_rate` decides how deep the folders go). `Collector("model_inputs").collect(df)` in
`init()` or `run()` then works as in the cloud. Each deployment's collector listens on a port of
its own, so a payload always lands with the deployment that sent it.

The `request` and `response` collections need no code, as in Azure: the router hands each
answered request's payloads to `payload_sink`, sampled by request id at `sampling_rate` (so a
request and its response are kept or dropped together), into the same layout.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from workbench.engine.files import write_json
from workbench.router.table import PayloadSink
from workbench.spec.deployment import DataCollector

PAYLOAD_COLLECTIONS = ("request", "response")

ROLLING = {"minute": 5, "hour": 4, "day": 3, "month": 2, "year": 1}
"""How many of yyyy/MM/dd/HH/mm a rolling rate keeps as folders."""


@dataclass(frozen=True)
class Collecting:
    """What an instance needs to send its collections: the package's environment variables."""

    config: Path
    port: int

    def environment(self) -> dict[str, str]:
        return {
            "AZUREML_MDC_CONFIG_PATH": str(self.config),
            "AZUREML_MDC_HOST": "127.0.0.1",
            "AZUREML_MDC_PORT": str(self.port),
        }


class DataCollectors:
    """The engine's collectors, one listening port per collecting deployment."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._runner: web.AppRunner | None = None
        self._ports: dict[tuple[str, str], int] = {}
        self._owners: dict[int, tuple[str, str, DataCollector]] = {}
        self._lock = asyncio.Lock()

    async def listen(self, endpoint: str, deployment: str, collector: DataCollector) -> Collecting:
        """The collector of a deployment (started on first use) and its config file."""
        async with self._lock:
            if self._runner is None:
                self._runner = web.AppRunner(self._app(), access_log=None, handle_signals=False)
                await self._runner.setup()
            port = self._ports.get((endpoint, deployment))
            if port is None:
                sock = socket.socket()
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
                await web.SockSite(self._runner, sock).start()
                self._ports[(endpoint, deployment)] = port
            self._owners[port] = (endpoint, deployment, collector)
        config = self.root / ".config" / f"{endpoint}.{deployment}.json"
        write_json(config, _package_config(collector))
        return Collecting(config, port)

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/modeldata/log", self._collect)
        return app

    async def _collect(self, request: web.Request) -> web.Response:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        owner = self._owners.get(int(sockname[1])) if sockname else None
        if owner is None:
            return web.json_response({"message": "not a collecting deployment"}, status=404)
        endpoint, deployment, collector = owner
        body = await request.read()
        headers = request.headers
        seconds = int(headers.get("ce-time", time.time()))
        collection = headers.get("ce-type", "azureml.inference.unknown").removeprefix("azureml.inference.")
        line = _cloud_event(
            collection,
            body,
            headers.get("Content-Type", "application/json"),
            endpoint=endpoint,
            deployment=deployment,
            seconds=seconds,
            event_id=headers.get("trace-id", ""),
            request_id=headers.get("ce-x-request-id", ""),
            model_version=headers.get("ce-model-version", "default"),
            data_type=headers.get("ce-collect-data-type", ""),
            agent=headers.get("ce-agent", ""),
        )
        path = self.path(endpoint, deployment, collection, seconds, collector.rolling_rate)
        await asyncio.to_thread(_append, path, json.dumps(line) + "\n")
        return web.json_response({"status": "collected"})

    def payload_sink(
        self, endpoint: str, deployment: str, collector: DataCollector | None
    ) -> PayloadSink | None:
        """Where the router sends the HTTP payloads of a deployment whose data_collector enables
        `request` or `response`; None where it enables neither."""
        wanted = {c.name for c in (collector.collections if collector else ()) if c.enabled}
        wanted &= set(PAYLOAD_COLLECTIONS)
        if collector is None or not wanted:
            return None
        threshold = collector.sampling_rate * 10_000

        def sink(collection: str, body: bytes, content_type: str, request_id: str) -> None:
            sampled = int(hashlib.sha1(request_id.encode()).hexdigest()[:8], 16) % 10_000 < threshold
            if collection not in wanted or not sampled:
                return
            seconds = int(time.time())
            line = _cloud_event(
                collection,
                body,
                content_type,
                endpoint=endpoint,
                deployment=deployment,
                seconds=seconds,
                request_id=request_id,
            )
            path = self.path(endpoint, deployment, collection, seconds, collector.rolling_rate)
            asyncio.get_running_loop().run_in_executor(None, _append, path, json.dumps(line) + "\n")

        return sink

    def path(self, endpoint: str, deployment: str, collection: str, seconds: int, rolling: str) -> Path:
        parts = time.strftime("%Y/%m/%d/%H/%M", time.gmtime(seconds)).split("/")[: ROLLING.get(rolling, 4)]
        return self.root / endpoint / deployment / collection / Path(*parts) / "data.jsonl"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def _package_config(collector: DataCollector) -> dict[str, Any]:
    """The config file azureml-ai-monitoring reads (AZUREML_MDC_CONFIG_PATH)."""
    return {
        "runMode": "cloud",
        "collections": {
            c.name: {"enabled": c.enabled, "sampleRatePercentage": round(collector.sampling_rate * 100)}
            for c in collector.collections
        },
    }


def _cloud_event(
    collection: str,
    body: bytes,
    content_type: str,
    *,
    endpoint: str,
    deployment: str,
    seconds: int,
    request_id: str,
    event_id: str = "",
    model_version: str = "default",
    data_type: str = "",
    agent: str = "",
) -> dict[str, Any]:
    """One collected payload as the MDC stores it: a CloudEvent with the data inline."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        data = body.decode(errors="replace")
    return {
        "specversion": "1.0",
        "id": event_id or request_id,
        "source": f"/onlineEndpoints/{endpoint}/deployments/{deployment}",
        "type": f"azureml.inference.{collection}",
        "datacontenttype": content_type,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds)),
        "data": data,
        "correlationid": request_id,
        "xrequestid": request_id,
        "modelversion": model_version,
        "collectdatatype": data_type,
        "agent": agent,
    }


def _append(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as out:
        out.write(line)
