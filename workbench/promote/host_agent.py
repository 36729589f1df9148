"""The promote agent's verbs on one host (agent.py), over SSH: one method per verb, its
arguments laid out as the agent reads them, its answer typed (answers.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workbench.errors import PromoteError
from workbench.promote import agent
from workbench.promote.answers import (
    Activated,
    EngineOnHost,
    History,
    LockGiven,
    LockTaken,
    Preflight,
    Record,
    Started,
    checked,
    field_of,
)
from workbench.promote.ssh import Ssh

AGENT_SOURCE = Path(agent.__file__).read_text(encoding="utf-8")


class RemoteHostAgent:
    def __init__(self, ssh: Ssh) -> None:
        self.ssh = ssh
        self.folder = ssh.remote.folder
        self.host = ssh.remote.host

    def call(
        self, verb: str, *arguments: str, input_bytes: bytes | None = None, timeout_s: float = 600
    ) -> dict[str, Any]:
        """`verb` run by the agent on the host; its answer's fields, its protocol checked."""
        result = self.ssh.run(
            ["python3", "-c", AGENT_SOURCE, verb, self.folder, *arguments],
            input_bytes=input_bytes,
            timeout_s=timeout_s,
        )
        if result.returncode != 0:
            said = result.stderr.decode(errors="replace").strip()
            if result.returncode == 127 or "python3: command not found" in said:
                raise PromoteError(f"{self.host} has no python3: install Python 3.10 or later there")
            raise PromoteError(f"{self.host}: {verb} failed: {said or result.returncode}")
        try:
            data = json.loads(result.stdout)
        except ValueError as exc:
            raise PromoteError(f"{self.host}: the agent's answer to {verb} is not JSON ({exc})") from exc
        return checked(self.host, verb, data)

    def _field(self, verb: str, data: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
        return field_of(self.host, verb, data, name, kind)

    # -- what the host has ---------------------------------------------------------------

    def preflight(self, needed_bytes: int, runtime: str, gpus: bool) -> Preflight:
        data = self.call("preflight", str(needed_bytes), runtime, "1" if gpus else "0", timeout_s=120)
        return Preflight(
            self._field("preflight", data, "python", str),
            self._field("preflight", data, "folder", str),
            self._field("preflight", data, "free_bytes", int),
            tuple(str(p) for p in self._field("preflight", data, "problems", list)),
        )

    def engine(self) -> EngineOnHost:
        data = self.call("engine", timeout_s=60)
        return EngineOnHost(
            self._field("engine", data, "engine", (dict, type(None))),
            self._field("engine", data, "current", (str, type(None))),
            self._field("engine", data, "project", str),
            self._field("engine", data, "installed_wheel", (str, type(None))),
            bool(data.get("kept")),
        )

    def manifest(self, release: str) -> dict[str, Any] | None:
        result = self.ssh.run(["cat", f"{self.folder}/.promote/releases/{release}.json"], timeout_s=60)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def missing(self, wanted: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
        """Of the blobs (digest, executable) `wanted`, those the host lacks."""
        sent = json.dumps([[digest, executable] for digest, executable in wanted]).encode()
        data = self.call("missing", input_bytes=sent)
        return [(str(d), bool(x)) for d, x in self._field("missing", data, "missing", list)]

    # -- a release ---------------------------------------------------------------------

    def record(self, manifest: dict[str, Any]) -> None:
        self.call("record", input_bytes=json.dumps(manifest).encode())

    def secrets(self, values: dict[str, str]) -> bool:
        """Whether the values the host keeps changed."""
        data = self.call("secrets", input_bytes=json.dumps(values).encode())
        return bool(self._field("secrets", data, "changed", bool))

    def install(self, wheel_digest: str, wheel_name: str) -> bool:
        """Whether the workbench was installed anew (else the host had this one)."""
        data = self.call("install", wheel_digest, wheel_name, timeout_s=1200)
        return bool(self._field("install", data, "installed", bool))

    def activate(self, release: str) -> Activated:
        data = self.call("activate", release)
        return Activated(
            self._field("activate", data, "release", str),
            self._field("activate", data, "previous", (str, type(None))),
            self._field("activate", data, "changed", int),
            self._field("activate", data, "removed", int),
        )

    def start(self, runtime: str, listen: list[str], timeout_s: float) -> Started:
        data = self.call("start", runtime, *listen, timeout_s=timeout_s)
        return Started(
            self._field("start", data, "exit_code", int),
            tuple(str(line) for line in self._field("start", data, "said", list)),
            self._field("start", data, "boot", str),
        )

    def prune(self, live: str, keep: int) -> list[str]:
        data = self.call("prune", live, str(keep))
        return [str(r) for r in self._field("prune", data, "pruned", list)]

    def purge(self) -> list[str]:
        data = self.call("purge", timeout_s=600)
        return [str(r) for r in self._field("purge", data, "removed", list)]

    def wait_gone(self, pid: int, timeout_s: float) -> bool:
        """Whether process `pid` on the host ended within `timeout_s`."""
        data = self.call("wait-gone", str(pid), str(timeout_s), timeout_s=timeout_s + 30)
        return not self._field("wait-gone", data, "alive", bool)

    # -- the lock and the records ---------------------------------------------------------

    def lock(self, holder: Record) -> LockTaken:
        data = self.call("lock", input_bytes=json.dumps(holder).encode())
        return LockTaken(bool(self._field("lock", data, "locked", bool)), data.get("held"))

    def unlock(self, token: str | None = None) -> LockGiven:
        """The lock given back: the holder's own (its token), or any (a stale one)."""
        data = self.call("unlock", *([token] if token else []))
        return LockGiven(bool(self._field("unlock", data, "released", bool)), data.get("held"))

    def held(self) -> Record | None:
        data = self.call("lock-status")
        held: Record | None = self._field("lock-status", data, "held", (dict, type(None)))
        return held

    def outcome(self, release: str, result: str, details: Record) -> None:
        self.call("outcome", release, result, input_bytes=json.dumps(details).encode())

    def history(self) -> History:
        data = self.call("history")
        return History(
            dict(self._field("history", data, "history", dict)),
            tuple(str(r) for r in self._field("history", data, "releases", list)),
            self._field("history", data, "current", (str, type(None))),
        )
