"""What must survive an engine restart: each endpoint's port, keys, traffic override and its
deployments' scale overrides, and the secret that signs tokens. Kept in `.workbench/state.json`,
mode 0600 (it holds keys)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.engine.files import read_json, write_json
from workbench.router.credentials import EndpointKeys


@dataclass
class SavedEndpoint:
    port: int = 0
    keys: EndpointKeys = field(default_factory=EndpointKeys.generate)
    traffic: dict[str, int] | None = None
    mirror_traffic: dict[str, int] | None = None
    overridden: dict[str, Any] | None = None
    """The YAML traffic the override replaced: a new YAML traffic clears the override."""
    scales: dict[str, dict[str, Any]] = field(default_factory=dict)
    """deployment -> {instance_count, overridden: the YAML's count it replaced, autoscale: the
    autoscale settings it was decided under}: `workbench scale` and autoscale decisions."""


class SavedState:
    def __init__(self, path: Path) -> None:
        self.path = path
        data = read_json(path, {})
        self.token_secret: str = data.get("token_secret") or secrets.token_urlsafe(32)
        self.endpoints: dict[str, SavedEndpoint] = {}
        for name, item in dict(data.get("endpoints", {})).items():
            keys = item.get("keys") or {}
            self.endpoints[name] = SavedEndpoint(
                port=int(item.get("port", 0)),
                keys=EndpointKeys(keys["primary"], keys["secondary"]) if keys else EndpointKeys.generate(),
                traffic=item.get("traffic"),
                mirror_traffic=item.get("mirror_traffic"),
                overridden=item.get("overridden"),
                scales=dict(item.get("scales") or {}),
            )

    def endpoint(self, name: str) -> SavedEndpoint:
        return self.endpoints.setdefault(name, SavedEndpoint())

    def save(self) -> None:
        write_json(
            self.path,
            {
                "token_secret": self.token_secret,
                "endpoints": {
                    name: {
                        "port": saved.port,
                        "keys": {"primary": saved.keys.primary, "secondary": saved.keys.secondary},
                        "traffic": saved.traffic,
                        "mirror_traffic": saved.mirror_traffic,
                        "overridden": saved.overridden,
                        "scales": saved.scales,
                    }
                    for name, saved in self.endpoints.items()
                },
            },
            private=True,
        )
