"""The router on its own (`python -m workbench.router --config`), as `export kubernetes` runs it:
real inference servers behind it, keys from its environment, Azure's answers through it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.engine.harness import until
from tests.router.test_router import WHO
from tests.server.harness import Server, free_port, running
from workbench.router.standalone import PRIMARY_KEY, SECONDARY_KEY, TOKEN_SECRET, RouterConfig, Upstream

KEYS = {PRIMARY_KEY: "primary-" + "p" * 32, SECONDARY_KEY: "secondary-" + "s" * 32, TOKEN_SECRET: "t" * 40}


@contextmanager
def standalone_router(config: RouterConfig, folder: Path, env: dict[str, str]) -> Iterator[str]:
    path = folder / "router.json"
    path.write_text(config.to_json())
    log = folder / "router.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "workbench.router", "--config", str(path), "--address", "127.0.0.1"],
            env={**os.environ, "PYTHONPATH": str(REPO), **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:

        def listening() -> bool:
            assert process.poll() is None, log.read_text()  # it ended: no waiting for it
            return b"listening on" in log.read_bytes()

        until(listening, 60, log.read_text)
        yield f"http://127.0.0.1:{config.port}/score"
    finally:
        process.terminate()
        process.wait(30)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[dict[str, Server]]:
    (tmp_path / "who.py").write_text(WHO)
    with ExitStack() as stack:
        yield {
            name: stack.enter_context(
                running("workbench", tmp_path / "who.py", env={"DEPLOYMENT_NAME": name}, log_dir=tmp_path)
            )
            for name in ("blue", "green")
        }


def test_the_standalone_router_serves_with_azures_semantics(
    servers: dict[str, Server], tmp_path: Path
) -> None:
    upstreams = {
        name: Upstream(host="127.0.0.1", port=int(server.url.rsplit(":", 1)[1]), request_timeout_ms=1000)
        for name, server in servers.items()
    }
    config = RouterConfig("front", "key", free_port(), {"blue": 80, "green": 20}, {}, upstreams)
    with standalone_router(config, tmp_path, KEYS) as uri:
        key = {"Authorization": f"Bearer {KEYS[PRIMARY_KEY]}"}
        assert httpx.post(uri, json={}, headers=key).status_code == 200
        assert httpx.post(uri, json={}).status_code == 401
        assert httpx.post(uri, json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert (
            httpx.post(uri, json={}, headers={"Authorization": f"Bearer {KEYS[SECONDARY_KEY]}"}).status_code
            == 200
        )
        pinned = httpx.post(uri, json={}, headers={**key, "azureml-model-deployment": "green"})
        assert pinned.json() == {"deployment": "green"}
        assert httpx.post(uri, json={}, headers={**key, "azureml-model-deployment": "red"}).status_code == 404
        failed = httpx.post(uri, json={"fail": True}, headers={**key, "azureml-model-deployment": "blue"})
        assert failed.status_code == 424, "the model's 500 as Azure answers it"
        split = Counter(httpx.post(uri, json={}, headers=key).json()["deployment"] for _ in range(200))
        assert set(split) == {"blue", "green"}
        assert split["blue"] > split["green"], split
        # last: blue's server goes on with it after the router has answered
        slow = httpx.post(
            uri, json={"sleep": 3}, headers={**key, "azureml-model-deployment": "blue"}, timeout=30
        )
        assert slow.status_code == 408, "request_timeout_ms from the configuration"
    log = (tmp_path / "router.log").read_text()
    assert '"status": 424' in log, "the access log on stdout"
    for secret in KEYS.values():
        assert secret not in log


def test_a_router_without_its_keys_says_which_are_missing(tmp_path: Path) -> None:
    path = tmp_path / "router.json"
    path.write_text(RouterConfig("front", "key", free_port()).to_json())
    environment = {k: v for k, v in os.environ.items() if k not in KEYS}
    done = subprocess.run(
        [sys.executable, "-m", "workbench.router", "--config", str(path)],
        env={**environment, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert f"set {PRIMARY_KEY} and {SECONDARY_KEY}" in done.stderr


def test_token_endpoints_take_tokens_the_router_issues(servers: dict[str, Server], tmp_path: Path) -> None:
    blue = servers["blue"]
    upstreams = {"blue": Upstream(host="127.0.0.1", port=int(blue.url.rsplit(":", 1)[1]))}
    config = RouterConfig("edge", "aml_token", free_port(), {"blue": 100}, {}, upstreams)
    with standalone_router(config, tmp_path, {TOKEN_SECRET: KEYS[TOKEN_SECRET]}) as uri:
        token = subprocess.run(
            [sys.executable, "-m", "workbench.router", "--config", str(tmp_path / "router.json"), "--token"],
            env={**os.environ, "PYTHONPATH": str(REPO), TOKEN_SECRET: KEYS[TOKEN_SECRET]},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        assert httpx.post(uri, json={}, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert httpx.post(uri, json={}, headers={"Authorization": "Bearer x.y"}).status_code == 401


def router_with(config: Path) -> subprocess.CompletedProcess[str]:
    """The standalone router started on `config`, as a cluster starts it."""
    command = [sys.executable, "-m", "workbench.router", "--config", str(config)]
    env = {**os.environ, "PYTHONPATH": str(REPO), **KEYS}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("{not json", "is refused: not JSON: Expecting property name"),
        ('{"endpoint": "e", "colour": "blue"}', "unexpected keyword argument 'colour'"),
        (
            '{"endpoint": "e", "traffic": {"blue": 90}, "deployments": {"blue": {"host": "b"}}}',
            "traffic totals 90%; the service accepts a total of 0 or 100",
        ),
        (
            '{"endpoint": "e", "traffic": {"blue": 100}, "mirror_traffic": {"blue": 10}, '
            '"deployments": {"blue": {"host": "b"}}}',
            "deployment 'blue' has live traffic (100%) and cannot also receive mirror traffic",
        ),
        ('{"endpoint": "e", "traffic": {"green": 100}}', "deployment 'green' does not exist"),
        (
            '{"endpoint": "e", "auth_mode": "aad_token"}',
            "auth_mode: 'aad_token' is neither key nor aml_token",
        ),
    ],
)
def test_a_configuration_the_router_cannot_serve_is_refused_with_the_reason(
    tmp_path: Path, text: str, said: str
) -> None:
    path = tmp_path / "router.json"
    path.write_text(text)
    refused = router_with(path)
    assert refused.returncode == 2
    assert f"the router's configuration {path}" in refused.stderr
    assert said in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_missing_configuration_is_said_without_a_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    refused = router_with(missing)
    assert refused.returncode == 2
    assert f"the router's configuration {missing} cannot be read" in refused.stderr
    assert "Traceback" not in refused.stderr
