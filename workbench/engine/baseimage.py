"""The local base image: what the Docker runtime builds on when an environment's own image cannot
be had, and what the storage initializer runs in. The workbench makes it itself, the first time
it is needed, so that `--runtime docker` works on a machine where nobody prepared anything:

1. `workbench-base:pyX.Y` where it is already here (X.Y the conda file's Python, else 3.11);
2. else the public `python:X.Y-slim`, pulled and tagged so, where a registry answers
   ($WORKBENCH_PYTHON_IMAGE names a mirror, `{version}` in it standing for X.Y);
3. else Debian bookworm's Python 3.11, made by debootstrap from Debian's packages and imported
   into the engine (no registry at all; needs root and debootstrap), as `workbench-base:py3.11`.

A stand-in whose Python is not the one the environment asks for is said, with the reason, in the
build's progress; `base_image:` in workbench.yaml names another image and skips all of this.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import StartupError
from workbench.runtimes.docker import DockerRuntime
from workbench.spec import Problem, Project, Severity, interpreters

REPOSITORY = "workbench-base"
DEBIAN_PYTHON = "3.11"
"""The Python of Debian bookworm's python3: what the registry-free base image runs."""
DEBIAN_SUITE = "bookworm"
PUBLIC_PYTHON_IMAGE = "python:{version}-slim"
IMAGE_VARIABLE = "WORKBENCH_PYTHON_IMAGE"
MIRROR_VARIABLE = "DEBIAN_MIRROR"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEBOOTSTRAP_STAGES = (
    "Retrieving",
    "Validating",
    "Resolving",
    "Checking",
    "Extracting",
    "Installing",
    "Unpacking",
    "Configuring",
    "Base system",
)


def tag_for(python: str) -> str:
    return f"{REPOSITORY}:py{python}"


def public_image(python: str) -> str:
    return os.environ.get(IMAGE_VARIABLE, PUBLIC_PYTHON_IMAGE).replace("{version}", python)


@dataclass(frozen=True)
class StandIn:
    """The base image chosen for an environment, and why its Python differs, when it does."""

    tag: str
    python: str | None
    """Its Python (major.minor); None for an image named in workbench.yaml, which is not inspected."""
    mismatch: str | None = None


class BaseImages:
    """Finds or makes the local base image, one build at a time."""

    def __init__(self, runtime: DockerRuntime, configured: str | None) -> None:
        self.runtime = runtime
        self.configured = configured
        self._lock = asyncio.Lock()
        self._unpullable: set[str] = set()
        """Public images that could not be pulled: tried once per engine, not once per deployment."""

    async def stand_in(self, python: str | None, progress: Callable[[str], object]) -> StandIn:
        """The base image for an environment whose conda file asks for `python` (major.minor, or
        None for any), made here when it is missing; a mismatch is said through `progress`."""
        if self.configured is not None:
            if not await self.runtime.image_exists(self.configured):
                raise StartupError(
                    f"base image {self.configured} (base_image: in workbench.yaml) is not on this machine: "
                    "`docker pull` or `docker build` it, or drop base_image: and the workbench makes its own"
                )
            return StandIn(self.configured, None)
        async with self._lock:
            chosen = await self._find_or_make(python or DEBIAN_PYTHON, progress)
        if python is not None and chosen.python != python:
            chosen = StandIn(
                chosen.tag,
                chosen.python,
                f"the environment asks for Python {python}; the stand-in {chosen.tag} runs Python "
                f"{chosen.python} ({public_image(python)} could not be pulled)",
            )
            progress(f"warning: {chosen.mismatch}")
        return chosen

    async def _find_or_make(self, python: str, progress: Callable[[str], object]) -> StandIn:
        wanted = tag_for(python)
        if await self.runtime.image_exists(wanted):
            return StandIn(wanted, python)
        public = public_image(python)
        if public not in self._unpullable:
            progress(f"base image {wanted} is not here: pulling {public}")
            try:
                await self.runtime.pull(public, progress)
            except StartupError as exc:
                self._unpullable.add(public)
                progress(f"{public} could not be pulled ({str(exc).splitlines()[0]})")
            else:
                await self.runtime.tag(public, wanted)
                progress(f"base image {wanted} made from {public}")
                return StandIn(wanted, python)
        debian = tag_for(DEBIAN_PYTHON)
        if not await self.runtime.image_exists(debian):
            await build_from_debian(self.runtime, debian, progress)
        return StandIn(debian, DEBIAN_PYTHON)


def _drop_apt_leftovers(rootfs: Path) -> None:
    for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for path in (rootfs / leftover).glob("*"):
            if path.is_file():
                path.unlink()


def debootstrap_problem() -> str | None:
    """What building from Debian's packages needs and this machine lacks, or None."""
    missing = []
    if shutil.which("debootstrap") is None:
        missing.append("debootstrap (apt-get install debootstrap)")
    if os.geteuid() != 0:
        missing.append("root (run it once as root: `sudo workbench doctor --fix`)")
    return " and ".join(missing) or None


async def build_from_debian(runtime: DockerRuntime, tag: str, progress: Callable[[str], object]) -> None:
    """Debian bookworm minbase with Python 3.11, venv and the CA certificates, as `tag`."""
    problem = debootstrap_problem()
    if problem is not None:
        raise StartupError(
            f"the base image {tag} is not on this machine and no registry answered; building it from "
            f"Debian's packages needs {problem}. Or name an image you have in workbench.yaml (base_image:)"
        )
    mirror = os.environ.get(MIRROR_VARIABLE, DEFAULT_MIRROR)
    progress(f"building base image {tag} from Debian's packages (debootstrap {DEBIAN_SUITE}, a few minutes)")
    # the root file system is thousands of files: made, emptied and removed off the event loop,
    # which meanwhile answers the control API (a `workbench up` waiting on it gives up at 30 s)
    scratch = tempfile.mkdtemp(prefix="workbench-base-")
    try:
        rootfs = Path(scratch) / "rootfs"
        process = await asyncio.create_subprocess_exec(
            "debootstrap",
            "--variant=minbase",
            "--include=python3,python3-venv,ca-certificates",
            DEBIAN_SUITE,
            str(rootfs),
            mirror,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert process.stdout is not None
        tail: list[str] = []
        said: set[str] = set()
        async for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip()
            tail = [*tail[-19:], line]
            text = line.removeprefix("I: ")
            stage = next((s for s in DEBOOTSTRAP_STAGES if text.startswith(s)), None)
            if stage is not None and stage not in said:  # a line per stage, not one per package
                said.add(stage)
                progress(f"debootstrap: {text}")
        if await process.wait() != 0:
            raise StartupError(f"debootstrap failed for {tag}:\n" + "\n".join(tail))
        await asyncio.to_thread(_drop_apt_leftovers, rootfs)
        progress(f"importing {tag} into the Docker engine")
        await runtime.import_rootfs(rootfs, tag, ["ENV LANG=C.UTF-8", 'CMD ["python3"]'])
    finally:
        await asyncio.to_thread(shutil.rmtree, scratch, True)
    progress(f"base image {tag} built")


def foreseen_python_mismatches(
    runtime: DockerRuntime, project: Project, runtime_override: str | None
) -> list[Problem]:
    """For `validate --runtime docker`: each deployment in Docker whose conda file asks for a Python
    that its stand-in would not run, as far as this machine tells (its images are not here, nor
    `workbench-base:pyX.Y`); a warning, since a registry may still answer at `up`."""

    async def check() -> list[Problem]:
        found: list[Problem] = []
        for endpoint in project.endpoints:
            for deployment in endpoint.deployments:
                kind = runtime_override or project.settings.runtime_for(endpoint.name, deployment.name)
                environment = deployment.environment
                if kind != "docker" or environment is None or environment.inference_config is not None:
                    continue
                conda = environment.conda_file
                python = interpreters.wanted_version(conda.python if conda is not None else None)
                if python is None or python == DEBIAN_PYTHON or project.settings.base_image is not None:
                    continue
                if environment.image is not None and await runtime.image_exists(environment.image):
                    continue
                if await runtime.image_exists(tag_for(python)):
                    continue
                pulled = " or ".join(filter(None, [environment.image, public_image(python)]))
                message = (
                    f"the conda file asks for Python {python}; unless {pulled} can be pulled, the Docker "
                    f"runtime's stand-in runs Debian's Python {DEBIAN_PYTHON}"
                )
                found.append(
                    Problem(deployment.where("environment"), "environment", message, Severity.WARNING)
                )
        return found

    return asyncio.run(check())
