"""The control API's routes, spelled once: the engine serves each (engine/api.py) and the
client calls it (client.py) from the same `Route`, so the two cannot drift apart."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    """aiohttp's form: `/v1/endpoints/{name}/traffic`."""

    def path(self, **parts: str) -> str:
        """The path with its parts filled in, each quoted (a request id may hold anything)."""
        return self.template.format(**{k: urllib.parse.quote(v, safe="") for k, v in parts.items()})


_ENDPOINT = "/v1/endpoints/{name}"
_DEPLOYMENT = _ENDPOINT + "/deployments/{deployment}"
_INSTANCE = _DEPLOYMENT + "/instances/{instance}"

STATUS = Route("GET", "/v1/status")
EVENTS = Route("GET", "/v1/events")
LOGS = Route("GET", "/v1/logs")
TELEMETRY = Route("GET", "/v1/telemetry")
PROMETHEUS = Route("GET", "/metrics")
SHUTDOWN = Route("POST", "/v1/shutdown")
RECONCILE = Route("POST", "/v1/reconcile")
CREDENTIALS = Route("GET", _ENDPOINT + "/credentials")
REGENERATE_KEYS = Route("POST", _ENDPOINT + "/regenerate-keys")
TRAFFIC = Route("POST", _ENDPOINT + "/traffic")
RECORDING = Route("POST", _ENDPOINT + "/recording")
METRICS = Route("GET", _ENDPOINT + "/metrics")
ROLLOUT = Route("POST", _ENDPOINT + "/rollout")
ROLLOUT_STOP = Route("POST", _ENDPOINT + "/rollout/stop")
MIRROR_BODIES = Route("GET", _ENDPOINT + "/mirror/{request_id}")
RELOAD = Route("POST", _DEPLOYMENT + "/reload")
SCALE = Route("POST", _DEPLOYMENT + "/scale")
FAULTS = Route("POST", _DEPLOYMENT + "/faults")
PRESSURE = Route("POST", _DEPLOYMENT + "/pressure")
RESTART_ALL = Route("POST", _DEPLOYMENT + "/restart")
KILL = Route("POST", _INSTANCE + "/kill")
RESTART = Route("POST", _INSTANCE + "/restart")
DEBUG = Route("POST", _INSTANCE + "/debug")
SHELL = Route("GET", _INSTANCE + "/shell")
