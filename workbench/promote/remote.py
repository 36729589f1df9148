"""A remote host as the workbench sees it: the agent's commands over SSH, and the remote engine's
control API reached through a port forward, so that every command and the dashboard work
against it unchanged. The control API stays on the remote's loopback; scoring URIs are given as
the local ends of their forwards."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from workbench import api_routes as routes
from workbench.client import EngineClient
from workbench.errors import EngineError, PromoteError
from workbench.promote import agent
from workbench.promote.ssh import Ssh, connected
from workbench.spec.local import RemoteHost
from workbench.state import EndpointState

REMOTE_VARIABLE = "WORKBENCH_REMOTE"
AGENT_SOURCE = Path(agent.__file__).read_text(encoding="utf-8")


class RemoteHostAgent:
    """The promote agent's commands on one host (`agent.py`), each answering JSON."""

    def __init__(self, ssh: Ssh) -> None:
        self.ssh = ssh
        self.folder = ssh.remote.folder

    def call(
        self, command: str, *arguments: str, input_bytes: bytes | None = None, timeout_s: float = 600
    ) -> Any:
        result = self.ssh.run(
            ["python3", "-c", AGENT_SOURCE, command, self.folder, *arguments],
            input_bytes=input_bytes,
            timeout_s=timeout_s,
        )
        if result.returncode != 0:
            said = result.stderr.decode(errors="replace").strip()
            if result.returncode == 127 or "python3: command not found" in said:
                raise PromoteError(
                    f"{self.ssh.remote.host} has no python3: install Python 3.10 or later there"
                )
            raise PromoteError(f"{self.ssh.remote.host}: {command} failed: {said or result.returncode}")
        return json.loads(result.stdout or b"{}")

    def engine(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("engine", timeout_s=60)
        return answer

    def manifest(self, release: str) -> dict[str, Any] | None:
        result = self.ssh.run(["cat", f"{self.folder}/.promote/releases/{release}.json"], timeout_s=60)
        return json.loads(result.stdout) if result.returncode == 0 else None


class RemoteEngineClient(EngineClient):
    """The remote engine's control API through a forward; scoring URIs rewritten to theirs."""

    def __init__(self, ssh: Ssh, info: dict[str, Any], agent_: RemoteHostAgent) -> None:
        remote_url = urlsplit(str(info["url"]))
        local = ssh.forward(remote_url.port or 80)
        super().__init__(
            f"http://127.0.0.1:{local}", str(info["token"]), Path(agent_.folder), int(info["pid"])
        )
        self.ssh = ssh
        self.agent = agent_
        self.remote_project = str(info.get("project") or "")
        self.verify_scoring = False  # the SSH forward carries it: a self-signed certificate is fine
        """The project's folder on the remote host."""

    def status(self) -> list[EndpointState]:
        return [self._local(e) for e in super().status()]

    def status_json(self) -> list[dict[str, Any]]:
        endpoints = super().status_json()
        for endpoint in endpoints:
            if endpoint.get("scoring_uri"):
                endpoint["scoring_uri"] = self._forwarded(endpoint["scoring_uri"])
        return endpoints

    def _local(self, endpoint: EndpointState) -> EndpointState:
        if endpoint.scoring_uri is None:
            return endpoint
        return dataclasses.replace(endpoint, scoring_uri=self._forwarded(endpoint.scoring_uri))

    def _forwarded(self, uri: str) -> str:
        parts = urlsplit(uri)
        return parts._replace(netloc=f"127.0.0.1:{self.ssh.forward(parts.port or 80)}").geturl()

    def shutdown(self, timeout_s: float = 60, *, restart: bool = False) -> bool:
        self._call(routes.SHUTDOWN, {"restart": True} if restart else None)
        answer = self.agent.call("wait-gone", str(self.pid), str(timeout_s), timeout_s=timeout_s + 30)
        return not answer["alive"]


@contextlib.contextmanager
def remote_client(remote: RemoteHost) -> Iterator[RemoteEngineClient]:
    """A client of the engine on `remote`, for as long as the block runs."""
    with connected(remote) as ssh:
        agent_ = RemoteHostAgent(ssh)
        found = agent_.engine()
        info = found["engine"]
        if info is None:
            raise EngineError(
                f"no engine is running on {remote.name} ({remote.host}:{remote.folder}): "
                f"start it with `workbench promote {remote.name}`"
            )
        client = RemoteEngineClient(ssh, {**info, "project": found["project"]}, agent_)
        try:
            yield client
        finally:
            client.close()


def chosen_remote(given: str | None) -> str | None:
    """`--remote NAME`, else $WORKBENCH_REMOTE, else none (the local engine)."""
    return given or os.environ.get(REMOTE_VARIABLE) or None
