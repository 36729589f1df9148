"""Images for the Docker runtime: a deployment's environment built on a local base image.

The image is the base image (`base_image` in workbench.yaml, default workbench-base:py3.11,
built from Debian packages by `scripts/build-base-image.sh`, no registry needed) plus a venv
at /opt/venv with the conda file's pip section and the conda packages that exist on PyPI, and
what the inference server needs. Its tag is the hash of what defines it, so a code or model
change never rebuilds, and deployments with equal environments share one image. A corporate
proxy works through `build:` in workbench.yaml: the host's proxy variables are passed as build
arguments and the CA bundle is copied in for pip.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from workbench.engine.environments import SERVER_NEEDS, Requirements
from workbench.errors import StartupError
from workbench.runtimes.docker import PYTHON, DockerRuntime
from workbench.spec.local import BuildSettings

DEFAULT_BASE_IMAGE = "workbench-base:py3.11"
IMAGE_BUILDER_VERSION = "1"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


class DockerImages:
    python = PYTHON
    """Where the images have the environment's interpreter."""

    def __init__(self, runtime: DockerRuntime, base_image: str | None, build: BuildSettings) -> None:
        self.runtime = runtime
        self.base_image = base_image or DEFAULT_BASE_IMAGE
        self.build = build
        self._building: dict[str, asyncio.Lock] = {}
        """One build per tag at a time: blue and green with one environment build it once."""

    def tag(self, wanted: Requirements) -> str:
        text = json.dumps(
            [IMAGE_BUILDER_VERSION, self.base_image, sorted(wanted.packages), list(SERVER_NEEDS)]
        )
        return "workbench-env:" + hashlib.sha256(text.encode()).hexdigest()[:20]

    async def is_built(self, wanted: Requirements) -> bool:
        return await self.runtime.image_exists(self.tag(wanted))

    async def ensure(self, wanted: Requirements, log: Path, progress: Callable[[str], object]) -> str:
        """The image's tag, built first if it is not there; output to `log`, steps to `progress`."""
        tag = self.tag(wanted)
        async with self._building.setdefault(tag, asyncio.Lock()):
            if not await self.runtime.image_exists(tag):
                await self._build(tag, wanted, log, progress)
        return tag

    async def _build(
        self, tag: str, wanted: Requirements, log: Path, progress: Callable[[str], object]
    ) -> None:
        if not await self.runtime.image_exists(self.base_image):
            raise StartupError(
                f"base image {self.base_image} is not on this machine: build it with "
                "`scripts/build-base-image.sh` (no registry needed), or name another in workbench.yaml "
                "(base_image:)"
            )
        files, dockerfile = self._context(wanted)
        log.parent.mkdir(parents=True, exist_ok=True)
        progress(f"building image {tag} on {self.base_image} ({len(wanted.packages)} package(s))")
        with log.open("a") as out:

            def say(line: str) -> None:
                out.write(line + "\n")
                out.flush()
                if line.startswith("Step "):
                    progress(line)

            await self.runtime.build_image(tag, dockerfile, files, say, self._build_args())
        progress(f"image {tag} built")

    def _context(self, wanted: Requirements) -> tuple[dict[str, bytes], str]:
        packages = [*wanted.packages, *SERVER_NEEDS]
        files = {"requirements.txt": "\n".join(packages).encode() + b"\n"}
        lines = [
            f"FROM {self.base_image}",
            "ARG HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy",
        ]
        bundle = self.build.ca_bundle or (HOST_CA_BUNDLE if HOST_CA_BUNDLE.is_file() else None)
        pip = "/opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check"
        if bundle is not None:
            files["ca-bundle.crt"] = bundle.read_bytes()
            lines.append("COPY ca-bundle.crt /etc/workbench/ca-bundle.crt")
            pip = "PIP_CERT=/etc/workbench/ca-bundle.crt " + pip
        lines += [
            "COPY requirements.txt /etc/workbench/requirements.txt",
            f"RUN python3 -m venv /opt/venv && {pip} -r /etc/workbench/requirements.txt",
        ]
        return files, "\n".join(lines) + "\n"

    def _build_args(self) -> dict[str, str]:
        if not self.build.pass_proxy:
            return {}
        return {name: os.environ[name] for name in PROXY_VARIABLES if name in os.environ}
