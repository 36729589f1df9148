"""Virtual environments for deployments, built with uv and cached per user.

An environment is defined by its pip requirements (the conda file's pip section and the conda
packages that have a PyPI equivalent), its Python version and what the workbench server needs.
The hash of that definition names a folder under ~/.cache/endpoint-workbench/envs/, shared by
every project: a second deployment or project with the same definition reuses it at once.
A build goes into a temporary folder that is renamed when complete, so a crash or a full disk
never leaves a half-built environment behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from workbench.engine import pinning
from workbench.errors import StartupError
from workbench.spec import interpreters
from workbench.spec.assets import EnvironmentSpec

SERVER_NEEDS = ("aiohttp>=3.9",)
SERVER_SPEEDUPS = ("uvloop>=0.17",)
"""Installed after the rest where the environment's Python and platform allow: the server runs
on uvloop's event loop then (1.11x to 1.23x the requests per second, bench_limit.py), on
asyncio's own otherwise. Not having it is said in the build log, never a failed build."""
BUILDER_VERSION = "3"
"""Part of every environment's digest: a change in how environments are built builds them anew
(2: packages' bytecode compiled at build time; 3: the server's speedups)."""
CONDA_TO_PYPI = {
    "pytorch": "torch",
    "py-xgboost": "xgboost",
    "tensorflow-gpu": "tensorflow",
    "pytables": "tables",
    "matplotlib-base": "matplotlib",
    "python-dateutil": "python-dateutil",
}
CONDA_ONLY = {
    "cudatoolkit",
    "cudnn",
    "cuda-toolkit",
    "mkl",
    "mkl-service",
    "openmpi",
    "mpich",
    "libgcc-ng",
    "libstdcxx-ng",
    "_libgcc_mutex",
    "ca-certificates",
    "openssl",
    "nccl",
    "blas",
    "libblas",
    "pytorch-cuda",
    "git",
    "curl",
    "make",
    "gcc",
    "gxx",
}
_NAME = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)\s*(.*)$")


class EnvironmentBuildError(StartupError):
    pass


@dataclass(frozen=True)
class Requirements:
    packages: tuple[str, ...]
    python: str
    warnings: tuple[str, ...]

    def digest(self) -> str:
        text = json.dumps([BUILDER_VERSION, self.python, sorted(self.packages)])
        return hashlib.sha256(text.encode()).hexdigest()[:24]


def requirements(environment: EnvironmentSpec | None) -> Requirements:
    """What to install for `environment`, and warnings for what cannot be installed from PyPI."""
    python = interpreters.host_version()
    packages: list[str] = list(SERVER_NEEDS)
    warnings: list[str] = []
    conda = environment.conda_file if environment is not None else None
    if conda is not None:
        python, warning = interpreters.choose(conda.python)
        if warning is not None:
            warnings.append(f"{conda.path.name} {warning}")
        converted, skipped = conda_packages(conda.conda_packages)
        packages += converted
        warnings += skipped
        packages.extend(conda.pip_packages)
    return Requirements(tuple(packages), python, tuple(warnings))


def conda_packages(packages: Iterable[str]) -> tuple[list[str], list[str]]:
    """Conda dependencies as PyPI requirements, and a warning for each that PyPI does not have."""
    converted: list[str] = []
    skipped: list[str] = []
    for package in packages:
        requirement = _from_conda(package)
        if requirement is None:
            skipped.append(f"conda-only package '{package}' has no PyPI equivalent and is skipped")
        else:
            converted.append(requirement)
    return converted, skipped


def _from_conda(package: str) -> str | None:
    match = _NAME.match(package.strip())
    if match is None:
        return package
    name, version = match.group(1), match.group(2).strip()
    name = name.split("::")[-1]
    if name.lower() in CONDA_ONLY:
        return None
    name = CONDA_TO_PYPI.get(name.lower(), name)
    return f"{name}{conda_version(version)}"


def conda_version(spec: str) -> str:
    """A conda match spec's version as pip writes it. Conda's `=1.26` (and `1.26` after a space)
    is a prefix: any 1.26.x, the newest that fits, so `==1.26.*`; `==1.26` is exact; a build
    string after the version (`=1.26.4=py39h5`, `1.26.4 py39_0`) is conda's alone and dropped;
    ranges pass as they are."""
    spec = spec.strip()
    if not spec:
        return ""
    if spec.startswith("=="):
        return "==" + spec[2:].split("=")[0].split()[0]
    if spec[0] in "<>!~":
        return spec.replace(" ", "")
    version = spec.removeprefix("=").split("=")[0].split()[0]
    return f"=={version}" if version.endswith("*") else f"=={version}.*"


INSTALL_FLAGS = ("--compile-bytecode",)
"""The packages' bytecode compiled once, when the environment is built and cached: otherwise every
instance start compiles numpy, scipy and scikit-learn again (the server writes no bytecode)."""


def cache_root() -> Path:
    base = (
        os.environ.get("WORKBENCH_CACHE") or os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    )
    return Path(base) / "endpoint-workbench" / "envs"


class EnvironmentBuilder:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or cache_root()
        self._locks: dict[str, asyncio.Lock] = {}

    def python(self, wanted: Requirements) -> Path:
        return self.root / wanted.digest() / "bin" / "python"

    def is_built(self, wanted: Requirements) -> bool:
        return (self.root / wanted.digest() / ".complete").is_file()

    async def ensure(self, wanted: Requirements, log: Path, progress: Callable[[str], object]) -> Path:
        """The environment's interpreter, building it first when it is not in the cache."""
        digest = wanted.digest()
        async with self._locks.setdefault(digest, asyncio.Lock()):
            if self.is_built(wanted):
                return self.python(wanted)
            await self._build(wanted, log, progress)
            return self.python(wanted)

    async def _build(self, wanted: Requirements, log: Path, progress: Callable[[str], object]) -> None:
        final = self.root / wanted.digest()
        building = self.root / f"{wanted.digest()}.building-{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        building.parent.mkdir(parents=True, exist_ok=True)
        log.parent.mkdir(parents=True, exist_ok=True)
        uv = uv_binary()
        progress(f"building environment: {len(wanted.packages)} package(s) with uv")
        with log.open("a") as out:
            out.write(f"requirements: {', '.join(wanted.packages)}\n")
            out.flush()
            constraints = await self._held_together(wanted, out, progress)
            python = interpreters.find_python(wanted.python) or Path(sys.executable)
            out.write(f"python: {python} ({wanted.python})\n")
            await _run(
                [uv, "venv", "--quiet", "--relocatable", "--python", str(python), str(building)],
                out,
                building,
            )
            await _run(
                [
                    uv,
                    "pip",
                    "install",
                    *INSTALL_FLAGS,
                    "--python",
                    str(building / "bin" / "python"),
                    *(["--constraint", str(constraints)] if constraints else []),
                    *wanted.packages,
                ],
                out,
                building,
                progress,
            )
            if constraints is not None:
                constraints.unlink(missing_ok=True)
            await _speed_up(uv, building, out)
        (building / ".complete").write_text(json.dumps(list(wanted.packages)))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(building, final)
        progress("environment ready")

    async def _held_together(
        self, wanted: Requirements, out: TextIO, progress: Callable[[str], object]
    ) -> Path | None:
        """Constraints that keep an old pin's world together (`pinning.py`): the user's packages
        resolved as of the newest exact pin's release; None when there is nothing to hold, the
        index does not say, or the resolution fails (then the install resolves as it would)."""
        users = [p for p in wanted.packages if p not in SERVER_NEEDS]
        held = await asyncio.to_thread(pinning.era, users)
        if held is None:
            return None
        progress(held.describe())
        out.write(held.describe() + "\n")
        scratch = self.root / f".resolving-{os.getpid()}"
        scratch.mkdir(parents=True, exist_ok=True)
        requirements_in = scratch / "requirements.in"
        requirements_in.write_text("\n".join(users) + "\n")
        constraints = self.root / f".constraints-{wanted.digest()}.txt"
        version = wanted.python
        try:
            compile_ = [uv_binary(), "pip", "compile", "--quiet", "--python-version", version]
            compile_ += ["--exclude-newer", held.cutoff(), str(requirements_in), "-o", str(constraints)]
            await _run(compile_, out, scratch)
        except EnvironmentBuildError as exc:
            out.write(f"could not resolve as of {held.date:%Y-%m-%d} ({exc}); resolving as pip would\n")
            return None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return constraints


async def _speed_up(uv: str, building: Path, out: TextIO) -> None:
    """SERVER_SPEEDUPS, where they install; the build log says when they do not."""
    process = await asyncio.create_subprocess_exec(
        *[
            uv,
            "pip",
            "install",
            *INSTALL_FLAGS,
            "--python",
            str(building / "bin" / "python"),
            *SERVER_SPEEDUPS,
        ],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    said, _ = await process.communicate()
    out.write(said.decode(errors="replace"))
    if process.returncode != 0:
        out.write(
            f"{', '.join(SERVER_SPEEDUPS)} not installed here: the server runs on asyncio's event loop\n"
        )


async def _run(
    command: list[str], out: TextIO, building: Path, progress: Callable[[str], object] | None = None
) -> None:
    """Run one build step; cancelled (a newer edit, or the engine stopping), it kills the step's
    processes and removes the half-built environment before it gives up."""
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True
    )
    assert process.stdout is not None
    tail: list[str] = []
    try:
        async for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip()
            out.write(line + "\n")
            out.flush()
            tail = [*tail[-19:], line]
            if progress is not None and line.strip().startswith(("Resolved", "Prepared", "Installed")):
                progress(line.strip())
        code = await process.wait()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        await asyncio.shield(process.wait())
        shutil.rmtree(building, ignore_errors=True)
        raise
    if code != 0:
        shutil.rmtree(building, ignore_errors=True)
        detail = "\n".join(tail[-8:])
        raise EnvironmentBuildError(f"environment build failed ({command[1]} {command[2]}):\n{detail}")


def uv_binary() -> str:
    try:
        import uv  # noqa: PLC0415 (the wheel that ships the uv binary)

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise EnvironmentBuildError("uv is not installed: pip install uv") from None
        return found
