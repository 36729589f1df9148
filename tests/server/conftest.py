from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.harness import FIXTURES, Server, azmlinfsrv_venv, running


class ServerPool:
    """Servers started on first use and kept for the session: (kind, fixture, env) -> Server."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.stack = contextlib.ExitStack()
        self.servers: dict[tuple[str, str, tuple[tuple[str, str], ...]], Server] = {}

    def get(self, kind: str, fixture: str, **env: str) -> Server:
        key = (kind, fixture, tuple(sorted(env.items())))
        if key not in self.servers:
            script = FIXTURES / f"{fixture}.py" if "/" not in fixture else FIXTURES / fixture
            self.servers[key] = self.stack.enter_context(running(kind, script, env=env, log_dir=self.log_dir))
        return self.servers[key]

    def pair(self, fixture: str, **env: str) -> tuple[Server, Server]:
        """(azmlinfsrv, workbench) for the same script and environment."""
        return self.get("azmlinfsrv", fixture, **env), self.get("workbench", fixture, **env)


@pytest.fixture(scope="session")
def real_server_venv() -> Path:
    return azmlinfsrv_venv()


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory, real_server_venv: Path) -> Iterator[ServerPool]:
    pool = ServerPool(tmp_path_factory.mktemp("server-logs"))
    with pool.stack:
        yield pool
