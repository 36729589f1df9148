"""The router on its own, for a cluster: one endpoint's front door from a configuration file,
with the engine's pipeline unchanged (key or token auth, traffic split, header pinning, mirror,
408 / 424 / 429, the access log as JSON lines on stdout).

`workbench export kubernetes` writes the configuration (a ConfigMap) and runs this as the
endpoint's Deployment. A deployment's instances are found as a headless Service's DNS name
resolves (one address per ready pod, as Kubernetes publishes them), looked up again every
RESOLVE_S, so that the router picks the least busy instance and counts Azure's 429 capacity
per ready instance as it does on the developer's machine. Keys come from the environment (a
Secret), never from the file.

    python -m workbench.router --config /etc/workbench/router.json
    python -m workbench.router --config /etc/workbench/router.json --token   # a token endpoint's
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workbench.router.credentials import EndpointKeys, TokenSigner
from workbench.router.endpoint import EndpointRouter
from workbench.router.listen import Listen
from workbench.router.table import DeploymentRoute, RouteTable, Target
from workbench.spec.endpoint import traffic_rules

RESOLVE_S = 2.0
PRIMARY_KEY = "WORKBENCH_PRIMARY_KEY"
SECONDARY_KEY = "WORKBENCH_SECONDARY_KEY"
TOKEN_SECRET = "WORKBENCH_TOKEN_SECRET"
"""The environment variables (from the endpoint's Secret) with its keys and token secret."""


@dataclass(frozen=True)
class Upstream:
    """Where a deployment's instances answer: a name that resolves to one address per instance."""

    host: str
    port: int = 5001
    request_timeout_ms: int = 5000
    max_concurrent_requests_per_instance: int = 1
    scoring_path: str | None = None
    """A custom container's scoring route, where /score is sent."""


@dataclass(frozen=True)
class RouterConfig:
    endpoint: str
    auth_mode: str = "key"
    port: int = 8080
    traffic: dict[str, int] = field(default_factory=dict)
    mirror_traffic: dict[str, int] = field(default_factory=dict)
    deployments: dict[str, Upstream] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> RouterConfig:
        """The configuration `text` holds; a ConfigError naming what is wrong with it, each
        rule of the service's checked (as `workbench traffic` checks them)."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError("not a JSON object")
        try:
            upstreams = data.pop("deployments", {})
            deployments = {name: Upstream(**upstream) for name, upstream in upstreams.items()}
            config = cls(**data, deployments=deployments)
        except (TypeError, AttributeError) as exc:  # an unknown or missing field, a list for an object
            raise ConfigError(f"{exc}".replace("__init__() ", "")) from exc
        problems = config.problems()
        if problems:
            raise ConfigError("; ".join(problems))
        return config

    def problems(self) -> list[str]:
        said = []
        if not self.endpoint:
            said.append("endpoint: a name is needed")
        if self.auth_mode not in ("key", "aml_token"):
            said.append(f"auth_mode: {self.auth_mode!r} is neither key nor aml_token")
        if not 0 < self.port < 65536:
            said.append(f"port: {self.port} is not a port")
        for name, upstream in self.deployments.items():
            if not upstream.host or not 0 < upstream.port < 65536:
                said.append(f"deployments.{name}: needs a host and a port from 1 to 65535")
        said += traffic_rules(self.traffic, self.mirror_traffic, set(self.deployments))
        return said


class ConfigError(ValueError):
    """The router's configuration cannot be served as it is."""


async def resolve(upstream: Upstream) -> list[str]:
    """The addresses `upstream.host` resolves to now, sorted; none while it does not resolve."""
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(upstream.host, upstream.port, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return sorted({str(info[4][0]) for info in found})


async def route_table(config: RouterConfig) -> RouteTable:
    routes = {}
    for name, upstream in config.deployments.items():
        addresses = await resolve(upstream)
        routes[name] = DeploymentRoute(
            name=name,
            provisioning_state="Succeeded",
            targets=[
                Target(f"{name}@{address}", f"http://{address}:{upstream.port}") for address in addresses
            ],
            request_timeout_s=upstream.request_timeout_ms / 1000,
            max_concurrent_requests_per_instance=upstream.max_concurrent_requests_per_instance,
            scoring_path=upstream.scoring_path,
        )
    return RouteTable(config.auth_mode, dict(config.traffic), dict(config.mirror_traffic), routes)


async def serve(config: RouterConfig, keys: EndpointKeys, signer: TokenSigner, address: str) -> None:
    router = EndpointRouter(config.endpoint, keys, signer, Path("/dev/stdout"), listen=Listen(address))
    router.update(await route_table(config))
    await router.start(config.port)
    print(f"router for {config.endpoint} listening on {address}:{router.port}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), RESOLVE_S)
            except asyncio.TimeoutError:
                router.update(await route_table(config))
    finally:
        await router.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.router", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="the router's configuration (JSON)")
    parser.add_argument("--address", default="0.0.0.0", help="where to listen (default: every address)")
    parser.add_argument(
        "--token", action="store_true", help="print a fresh token for a token endpoint, and exit"
    )
    args = parser.parse_args(argv)
    try:
        config = RouterConfig.from_json(args.config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        print(f"the router's configuration {args.config} cannot be read: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"the router's configuration {args.config} is refused: {exc}", file=sys.stderr)
        return 2
    primary, secondary = os.environ.get(PRIMARY_KEY, ""), os.environ.get(SECONDARY_KEY, "")
    if config.auth_mode == "key" and not args.token and not (primary and secondary):
        print(f"the endpoint's keys are missing: set {PRIMARY_KEY} and {SECONDARY_KEY}", file=sys.stderr)
        return 2
    token_secret = os.environ.get(TOKEN_SECRET, "")
    if (config.auth_mode != "key" or args.token) and not token_secret:
        print(f"the endpoint's token secret is missing: set {TOKEN_SECRET}", file=sys.stderr)
        return 2
    if args.token:  # kubectl exec deploy/ENDPOINT-router -- python -m workbench.router --config ... --token
        print(TokenSigner(token_secret).issue(config.endpoint).access_token)
        return 0
    asyncio.run(serve(config, EndpointKeys(primary, secondary), TokenSigner(token_secret), args.address))
    return 0
