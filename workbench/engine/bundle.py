"""Self-contained images for another platform (`workbench export kubernetes`): what the Docker
runtime runs, with nothing mounted.

A deployment's image is its environment's image exactly as the Docker runtime builds it (the same
tag: one already built here is reused), with the inference server's code at /opt/workbench and
the model and code staged under /var/azureml-app as Azure lays them out, Azure's variables set,
running unprivileged as the runtime runs it. The router's image is the local base image with
the router's few packages and the workbench's own code, running `python -m workbench.router`.
Each image's build context is written to the output folder first (Dockerfile beside the files),
so that a user's CI can build it again with `docker build`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import workbench
from workbench.engine import nocode
from workbench.engine.blobs import BlobStore
from workbench.engine.environments import Requirements, requirements
from workbench.engine.images import DockerImages
from workbench.engine.servercode import copy_server_code
from workbench.engine.storage import stage
from workbench.errors import StartupError
from workbench.layout import ProjectFiles
from workbench.runtimes.docker import APP, PYTHON, SERVER_CODE, SERVER_PORT, UNPRIVILEGED_USER, DockerRuntime
from workbench.spec.deployment import DeploymentSpec
from workbench.spec.local import LocalSettings

ROUTER_NEEDS = ("httptools>=0.6", "pyyaml>=6.0")
"""What `python -m workbench.router` imports beyond the standard library."""
ROUTER_CODE = "/opt/workbench-router"


class Bundler:
    def __init__(self, project: Path, settings: LocalSettings, out: Path, say: Callable[[str], None]) -> None:
        self.files = ProjectFiles(project)
        self.project = project
        self.out = out
        self.say = say
        self.runtime = DockerRuntime(project)
        self.images = DockerImages(self.runtime, settings.base_image, settings.build)
        self.blobs = BlobStore(out / "images" / ".blobs")
        """Beside the contexts (a hard link cannot cross file systems): a model is read again
        only when it changed."""

    async def deployment(self, endpoint: str, spec: DeploymentSpec, repository: str) -> str:
        """Build `spec`'s image and return its tag, `repository:<digest of its context>`: on its environment's
        image with the workbench's server, or, for a custom container, on its own image with
        its command, user and routes kept, the model and code added as Azure mounts them."""
        subject = f"{endpoint}/{spec.name}"
        custom = spec.environment is not None and spec.environment.inference_config is not None
        if not custom and spec.code_configuration is None and not nocode.is_nocode_mlflow(spec):
            raise StartupError(f"{subject}: a deployment without a scoring script needs an MLflow model")
        context = self.out / "images" / f"{endpoint}-{spec.name}"
        log = self.out / "images" / f"{endpoint}-{spec.name}.build.log"
        if custom:
            base = await self._custom_image(spec, subject)
        elif nocode.is_nocode_mlflow(spec):
            wanted = nocode.requirements(spec) if spec.environment is None else requirements(spec.environment)
            spec = nocode.with_generated_code(spec, self.files.generated(endpoint, spec.name))
            base = await self._environment_image(spec, wanted, log, subject)
        else:
            base = await self._environment_image(spec, requirements(spec.environment), log, subject)
        shutil.rmtree(context, ignore_errors=True)
        self.say(f"{subject}: staging model and code into {context}")
        staged = stage(spec, context / "app", log, self.blobs, self.project)
        (context / "app").mkdir(exist_ok=True)  # a custom container may have neither
        app_root = f"{APP}/{staged.app_root.relative_to(context / 'app').as_posix()}".rstrip("/.")
        model_dir = (
            f"{APP}/{staged.model_dir.relative_to(context / 'app').as_posix()}" if staged.model_dir else ""
        )
        environment = {
            "AML_APP_ROOT": app_root,
            "AZUREML_ENTRY_SCRIPT": staged.entry_script,
            "AZUREML_MODEL_DIR": model_dir,
            "SERVICE_NAME": endpoint,
            **{k: v for k, v in spec.environment_variables.items() if k not in spec.secret_references()},
        }
        lines = [f"FROM {base}", f"COPY app/ {APP}/"]
        if not custom:
            copy_server_code(context / "server")
            environment.update(
                {
                    "PATH": "/opt/venv/bin:/usr/local/bin:/usr/bin:/bin",
                    "HOME": "/tmp",
                    "LANG": "C.UTF-8",
                    "PYTHONPATH": SERVER_CODE,
                    "PYTHONUNBUFFERED": "1",
                    "AZUREML_INFERENCE_PYTHON_PATH": str(Path(PYTHON).parent),
                    "WORKBENCH_SERVER_HOST": "0.0.0.0",
                }
            )
            lines.append(f"COPY server/ {SERVER_CODE}/")
        lines += [f"ENV {key}={_quoted(value)}" for key, value in sorted(environment.items())]
        if not custom:
            lines += [
                f"WORKDIR {app_root}",
                f"USER {UNPRIVILEGED_USER}",
                f"EXPOSE {SERVER_PORT}",
                f'CMD ["{PYTHON}", "-m", "workbench.server", "--port", "{SERVER_PORT}"]',
            ]
        _readable(context)
        (context / "Dockerfile").write_text("\n".join(lines) + "\n")
        tag = f"{repository}:{_digest(context)}"
        await self._build(tag, context, log, subject)
        return tag

    async def router(self, repository: str) -> str:
        """The router's image: the base image with its packages, the workbench's code, and
        `python -m workbench.router` as its command."""
        context = self.out / "images" / "router"
        log = self.out / "images" / "router.build.log"
        wanted = Requirements(ROUTER_NEEDS, "", ())
        base = await self.images.base_for(None, self.say)
        environment_image = await self.images.ensure(wanted, base, log, self.say)
        shutil.rmtree(context, ignore_errors=True)
        package = Path(workbench.__file__).resolve().parent
        shutil.copytree(package, context / "workbench", ignore=shutil.ignore_patterns("__pycache__", "tui"))
        lines = [
            f"FROM {environment_image}",
            f"COPY workbench/ {ROUTER_CODE}/workbench/",
            "ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin",
            f"ENV PYTHONPATH={ROUTER_CODE} PYTHONUNBUFFERED=1",
            f"USER {UNPRIVILEGED_USER}",
            "EXPOSE 8080",
            f'CMD ["{PYTHON}", "-m", "workbench.router", "--config", "/etc/workbench/router.json"]',
        ]
        (context / "Dockerfile").write_text("\n".join(lines) + "\n")
        tag = f"{repository}:{_digest(context)}"
        await self._build(tag, context, log, "router")
        return tag

    async def push(self, tag: str) -> None:
        self.say(f"pushing {tag}")
        await self.runtime.push(tag, self.say)

    async def _custom_image(self, spec: DeploymentSpec, subject: str) -> str:
        image = spec.environment.image if spec.environment else None
        if image is None or not await self.runtime.image_exists(image):
            if image is not None:
                self.say(f"{subject}: pulling {image}")
            try:
                await self.runtime.pull(image or "", self.say)
            except StartupError as exc:
                raise StartupError(
                    f"{subject}: the custom container's image {image} is not on this machine and could "
                    f"not be pulled ({str(exc).splitlines()[0]}): `docker build` or `docker load` it first"
                ) from exc
        return str(image)

    async def _environment_image(
        self, spec: DeploymentSpec, wanted: Requirements, log: Path, subject: str
    ) -> str:
        for warning in wanted.warnings:
            self.say(f"{subject}: warning: {warning}")
        base = await self.images.base_for(spec.environment, self.say)
        return await self.images.ensure(wanted, base, log, lambda line: self.say(f"{subject}: {line}"))

    async def _build(self, tag: str, context: Path, log: Path, subject: str) -> None:
        if await self.runtime.image_exists(tag):
            self.say(f"{subject}: image {tag} is built already")
            return
        self.say(f"{subject}: building image {tag}")
        with log.open("a") as out:

            def say(line: str) -> None:
                out.write(line + "\n")

            await self.runtime.build_folder(tag, context, say)
        self.say(f"{subject}: image {tag} built")


def _quoted(value: str) -> str:
    """A value for a Dockerfile's ENV, as it is: quoted, and `$` not expanded."""
    return json.dumps(value).replace("$", "\\$")


def _readable(folder: Path) -> None:
    """Everything in the image readable by its unprivileged user, whatever the files' modes here
    (an editor's 0600 file would fail the server's import)."""
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        wanted = mode | 0o444 | (0o111 if path.is_dir() else 0)
        if wanted != mode:
            path.chmod(wanted)


def _digest(folder: Path) -> str:
    """A tag from everything in the build context: the same files build the same tag."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as content:
            for block in iter(lambda: content.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]
