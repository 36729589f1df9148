"""Images for the Docker runtime: a deployment's environment built on its image.

As Azure builds it, the image is the environment's own `image` (pulled when it is not on this
machine and its registry answers, with progress) with a venv at /opt/venv on top that sees the
image's own packages, the conda file's pip section and the conda packages that exist on PyPI,
and what the inference server needs. Where the environment's image cannot be had, the local base
image stands in (`base_image` in workbench.yaml, else the one baseimage.py finds or makes for the
conda file's Python), and the build says so. Its tag
is the hash of what defines it, so a code or model change never rebuilds, and deployments with
equal environments share one image. A corporate proxy works through `build:` in workbench.yaml:
the host's proxy variables are passed as build arguments and the CA bundle is copied in for pip.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shlex
from collections.abc import Callable
from pathlib import Path

from workbench.engine.baseimage import BaseImages
from workbench.engine.environments import SERVER_NEEDS, SERVER_SPEEDUPS, Requirements
from workbench.errors import StartupError
from workbench.runtimes.docker import PYTHON, DockerRuntime
from workbench.spec import interpreters
from workbench.spec.assets import EnvironmentSpec
from workbench.spec.local import BuildSettings

IMAGE_BUILDER_VERSION = "3"
"""2: built on the environment's own image where it can be had; the venv sees the image's packages.
3: the server's speedups (environments.SERVER_SPEEDUPS), where they install."""
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


class DockerImages:
    python = PYTHON
    """Where the images have the environment's interpreter."""

    def __init__(self, runtime: DockerRuntime, base_image: str | None, build: BuildSettings) -> None:
        self.runtime = runtime
        self.bases = BaseImages(runtime, base_image)
        self.build = build
        self._building: dict[str, asyncio.Lock] = {}
        """One build per tag at a time: blue and green with one environment build it once."""

    async def stand_in(self, progress: Callable[[str], object]) -> str:
        """The local base image, made first if it is missing (the storage initializer runs in it)."""
        return (await self.bases.stand_in(None, progress)).tag

    async def base_for(self, environment: EnvironmentSpec | None, progress: Callable[[str], object]) -> str:
        """The image to build on: the environment's own where it is here or can be pulled, else
        the local base image for its Python (said)."""
        image = environment.image if environment is not None else None
        conda = environment.conda_file if environment is not None else None
        python = interpreters.wanted_version(conda.python if conda is not None else None)
        if image is not None and image != self.bases.configured:
            if await self.runtime.image_exists(image):
                return image
            progress(f"pulling {image}")
            try:
                await self.runtime.pull(image, progress)
            except StartupError as exc:
                progress(
                    f"warning: the environment's image {image} is not on this machine and could not be "
                    f"pulled ({str(exc).splitlines()[0]}); the local base image stands in"
                )
            else:
                return image
        return (await self.bases.stand_in(python, progress)).tag

    def tag(self, wanted: Requirements, base: str) -> str:
        text = json.dumps([IMAGE_BUILDER_VERSION, base, sorted(wanted.packages), list(SERVER_NEEDS)])
        return "workbench-env:" + hashlib.sha256(text.encode()).hexdigest()[:20]

    async def is_built(self, wanted: Requirements, base: str) -> bool:
        return await self.runtime.image_exists(self.tag(wanted, base))

    async def ensure(
        self, wanted: Requirements, base: str, log: Path, progress: Callable[[str], object]
    ) -> str:
        """The image's tag, built on `base` first if it is not there; output to `log`, steps to
        `progress`."""
        tag = self.tag(wanted, base)
        async with self._building.setdefault(tag, asyncio.Lock()):
            if not await self.runtime.image_exists(tag):
                await self._build(tag, wanted, base, log, progress)
        return tag

    async def _build(
        self, tag: str, wanted: Requirements, base: str, log: Path, progress: Callable[[str], object]
    ) -> None:
        files, dockerfile = self._context(wanted, base)
        log.parent.mkdir(parents=True, exist_ok=True)
        progress(f"building image {tag} on {base} ({len(wanted.packages)} package(s))")
        with log.open("a") as out:

            def say(line: str) -> None:
                out.write(line + "\n")
                out.flush()
                if line.startswith("Step "):
                    progress(line)

            await self.runtime.build_image(tag, dockerfile, files, say, self._build_args())
        progress(f"image {tag} built")

    def _context(self, wanted: Requirements, base: str) -> tuple[dict[str, bytes], str]:
        packages = [*wanted.packages, *SERVER_NEEDS]
        files = {"requirements.txt": "\n".join(packages).encode() + b"\n"}
        lines = [
            f"FROM {base}",
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
            # the image's own packages stay visible to the venv, as they are to Azure's build
            "RUN python3 -m venv --system-site-packages /opt/venv "
            f"&& {pip} -r /etc/workbench/requirements.txt",
            f"RUN {pip} {' '.join(map(shlex.quote, SERVER_SPEEDUPS))} "
            "|| echo 'uvloop not installed here: the server runs on the asyncio loop'",
        ]
        return files, "\n".join(lines) + "\n"

    def _build_args(self) -> dict[str, str]:
        if not self.build.pass_proxy:
            return {}
        return {name: os.environ[name] for name in PROXY_VARIABLES if name in os.environ}
