"""What must survive an engine restart: each endpoint's port, keys, traffic override and its
deployments' scale overrides, and the secret that signs tokens. Kept in `.workbench/state.json`,
mode 0600 (it holds keys).

A file that does not parse is not replaced: the engine refuses to start, naming it and the last
good copy kept beside it (`state.json.good`, written after every save), since starting afresh
would mint new keys and a new port and drop every override.

A control action changes it all or nothing (`changing()`): the change is made, written whole and
synced; when the write fails (a full disk) the change is undone in place, on the very objects the
routers hold, before anything serves with it, and NotSaved says why.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.engine.files import write_json
from workbench.errors import NotSaved, StartupError
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
        data = _read(path)
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

    @property
    def good_copy(self) -> Path:
        return self.path.with_name(self.path.name + ".good")

    def endpoint(self, name: str) -> SavedEndpoint:
        return self.endpoints.setdefault(name, SavedEndpoint())

    def save(self) -> None:
        """Write the state whole; NotSaved when it cannot be (the file keeps its last state)."""
        try:
            write_json(self.path, self._document())
            write_json(self.good_copy, self._document())
        except OSError as exc:
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
            why = "the disk is full" if full else (exc.strerror or str(exc))
            raise NotSaved(f"{self.path} could not be written ({why}): nothing changed") from exc

    @contextlib.contextmanager
    def changing(self) -> Iterator[None]:
        """The changes made in the block stay only if they are written: a failed write undoes them
        in place and raises NotSaved."""
        before = copy.deepcopy(self._document())
        yield
        try:
            self.save()
        except NotSaved:
            self._restore(before)
            raise

    def _document(self) -> dict[str, Any]:
        return {
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
        }

    def _restore(self, document: dict[str, Any]) -> None:
        for name in set(self.endpoints) - set(document["endpoints"]):
            del self.endpoints[name]
        for name, item in document["endpoints"].items():
            saved = self.endpoint(name)
            saved.port = item["port"]
            saved.keys.primary, saved.keys.secondary = item["keys"]["primary"], item["keys"]["secondary"]
            saved.traffic, saved.mirror_traffic = item["traffic"], item["mirror_traffic"]
            saved.overridden, saved.scales = item["overridden"], item["scales"]


def _read(path: Path) -> dict[str, Any]:
    """The saved state; {} when there is none; a StartupError when the file is not what was saved."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("endpoints", {}), dict):
            raise ValueError("not the workbench's state")
        return data
    except ValueError as exc:
        good = path.with_name(path.name + ".good")
        restore = (
            f"the last good copy is {good}: `cp {good} {path}` restores it"
            if good.is_file()
            else "no good copy is kept"
        )
        raise StartupError(
            f"{path} does not parse ({exc}); it holds the endpoints' keys, ports and overrides, so it is "
            f"not replaced: {restore}, or remove it to start afresh with new keys"
        ) from exc
