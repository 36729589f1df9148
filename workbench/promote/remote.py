"""A remote host as the workbench sees it: the agent's commands over SSH, and the remote engine's
control API reached through a port forward, so that every command and the dashboard work
against it unchanged. The control API stays on the remote's loopback; scoring URIs are given as
the local ends of their forwards."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from workbench import api_routes as routes
from workbench.client import EngineClient
from workbench.errors import EngineError
from workbench.promote.host_agent import RemoteHostAgent
from workbench.promote.ssh import Ssh, connected
from workbench.spec.local import RemoteHost
from workbench.state import EndpointState

REMOTE_VARIABLE = "WORKBENCH_REMOTE"


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
        return self.agent.wait_gone(self.pid, timeout_s)


@contextlib.contextmanager
def remote_client(remote: RemoteHost) -> Iterator[RemoteEngineClient]:
    """A client of the engine on `remote`, for as long as the block runs."""
    with connected(remote) as ssh:
        agent_ = RemoteHostAgent(ssh)
        found = agent_.engine()
        info = found.engine
        if info is None:
            raise EngineError(
                f"no engine is running on {remote.name} ({remote.host}:{remote.folder}): "
                f"start it with `workbench promote {remote.name}`"
            )
        client = RemoteEngineClient(ssh, {**info, "project": found.project}, agent_)
        try:
            yield client
        finally:
            client.close()


def chosen_remote(given: str | None) -> str | None:
    """`--remote NAME`, else $WORKBENCH_REMOTE, else none (the local engine)."""
    return given or os.environ.get(REMOTE_VARIABLE) or None
