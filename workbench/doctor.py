"""`workbench doctor`: what each feature needs on this machine, found or missing, with the fix.

Each check answers for one need and names the features that depend on it; "missing" means a
feature will not work until the fix is applied, "warning" that it works with less (no GPU is
a normal answer on a laptop). Nothing here changes the machine, except `fix_base_image` (`--fix`).
"""

from __future__ import annotations

import asyncio
import grp
import importlib.util
import os
import pwd
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench.engine.baseimage import DEBIAN_PYTHON, BaseImages, debootstrap_problem, public_image, tag_for
from workbench.engine.environments import EnvironmentBuildError, cache_root, uv_binary
from workbench.errors import MissingExtra, StartupError
from workbench.runtimes import docker_runtime
from workbench.telemetry.gpu import missing_gpu

OK, WARNING, MISSING = "ok", "warning", "missing"
MIN_COLUMNS, MIN_LINES = 80, 24
MIN_FREE_BYTES = 5 * 1024**3
"""Room for a few environments (scikit-learn's is about 300 MB) and images."""
SOCKET = Path("/var/run/docker.sock")


@dataclass(frozen=True)
class Finding:
    check: str
    status: str
    detail: str
    fix: str = ""
    needed_for: str = ""

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def examine(project: Path) -> list[Finding]:
    """Every check, in the order a newcomer meets the features."""
    findings = [_python(), _uv(), _disk(project), _terminal()]
    docker = _docker(project)
    findings.append(docker)
    if docker.status == OK:
        findings.append(_base_image(project))
    findings += _gpus(project, docker.status == OK)
    findings += [_ssh(), _extra("debugpy", "debug", "workbench debug, the dashboard's d")]
    return findings


def _python() -> Finding:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return Finding("python", OK, f"Python {version} at {sys.executable}", needed_for="everything")


def _uv() -> Finding:
    try:
        return Finding("uv", OK, uv_binary(), needed_for="building environments (process runtime)")
    except EnvironmentBuildError:
        return Finding(
            "uv", MISSING, "uv is not installed", "pip install uv", "building environments (process runtime)"
        )


def _disk(project: Path) -> Finding:
    places = {"the project": project.resolve(), "the environment cache": cache_root()}
    lows = []
    for name, path in places.items():
        for existing in (path, *path.parents):  # the nearest folder that is there and readable
            try:
                free = shutil.disk_usage(existing).free
            except OSError as exc:
                if isinstance(exc, PermissionError):
                    lows.append(f"{name} ({path}) cannot be read by this user")
                    break
                continue
            if free < MIN_FREE_BYTES:
                lows.append(f"{name} ({existing}) has {free / 1024**3:.1f} GiB free")
            break
    if lows:
        return Finding(
            "disk",
            WARNING,
            "; ".join(lows),
            f"free some space (environments and images want {MIN_FREE_BYTES // 1024**3} GiB), or set "
            "WORKBENCH_CACHE to a folder of this user's",
            "environments, images, logs",
        )
    return Finding(
        "disk", OK, f"{MIN_FREE_BYTES // 1024**3} GiB or more free", needed_for="environments, images"
    )


def _terminal() -> Finding:
    needed = "the dashboard (workbench up)"
    if not sys.stdout.isatty():
        return Finding(
            "terminal", OK, "not a terminal (the dashboard needs one; --headless does not)", "", needed
        )
    size = shutil.get_terminal_size()
    term = os.environ.get("TERM", "")
    colours = os.environ.get("COLORTERM", "") in ("truecolor", "24bit") or "256color" in term
    detail = f"{size.columns}x{size.lines}, TERM={term or 'unset'}"
    if size.columns < MIN_COLUMNS or size.lines < MIN_LINES:
        return Finding(
            "terminal", WARNING, detail, f"make the window at least {MIN_COLUMNS}x{MIN_LINES}", needed
        )
    if not colours or "NO_COLOR" in os.environ:
        return Finding(
            "terminal",
            WARNING,
            detail + " (few colours)",
            "TERM=xterm-256color (or COLORTERM=truecolor) for the dashboard's colours",
            needed,
        )
    return Finding("terminal", OK, detail, needed_for=needed)


def _docker(project: Path) -> Finding:
    needed = "--runtime docker, workbench devcontainer, export kubernetes, promote's host"
    try:
        runtime = docker_runtime(project)
        version = runtime.engine_version()
    except MissingExtra as exc:
        return Finding("docker", MISSING, str(exc), "pip install 'endpoint-workbench[docker]'", needed)
    except StartupError as exc:
        text = str(exc)
        if "Permission denied" in text or "PermissionError" in text:
            return Finding(
                "docker",
                MISSING,
                f"the Docker engine does not answer this user ({_user()}): no access to its socket",
                "sudo usermod -aG docker $USER, then log in again (or `newgrp docker`)",
                needed,
            )
        return Finding(
            "docker",
            MISSING,
            "the Docker engine is not running (or DOCKER_HOST points where none answers)",
            "sudo systemctl start docker (or `sudo dockerd &`, or start Docker Desktop)",
            needed,
        )
    return Finding("docker", OK, f"Docker engine {version}, reachable as {_user()}", needed_for=needed)


def _base_image(project: Path) -> Finding:
    tag = tag_for(DEBIAN_PYTHON)
    needed = "--runtime docker where an environment's image cannot be pulled; the storage initializer"
    if asyncio.run(docker_runtime(project).image_exists(tag)):
        return Finding("base image", OK, f"{tag} is here", needed_for=needed)
    problem = debootstrap_problem()
    if problem is None:
        detail = (
            f"{tag} is not here: made on first use, from {public_image(DEBIAN_PYTHON)} or Debian's packages"
        )
        return Finding("base image", WARNING, detail, "workbench doctor --fix (makes it now)", needed)
    return Finding(
        "base image",
        WARNING,
        f"{tag} is not here; made on first use from {public_image(DEBIAN_PYTHON)} where a registry "
        f"answers, else from Debian's packages, which needs {problem}",
        "sudo workbench doctor --fix, once",
        needed,
    )


def _gpus(project: Path, docker_ok: bool) -> list[Finding]:
    needed = "GPU instance types, GPU figures"
    problem = missing_gpu()
    if problem is not None:
        status = MISSING if "not installed" in problem else WARNING
        fix = "pip install 'endpoint-workbench[gpu]'" if status == MISSING else ""
        return [Finding("gpu", status, f"no GPU: {problem}", fix, needed)]
    findings = [Finding("gpu", OK, "NVML sees the GPUs", needed_for=needed)]
    if docker_ok:
        runtime_problem = asyncio.run(docker_runtime(project).gpu_problem())
        if runtime_problem is None:
            findings.append(
                Finding("docker gpu", OK, "the Docker engine has the NVIDIA runtime", needed_for=needed)
            )
        else:
            fix = "sudo nvidia-ctk runtime configure --runtime=docker, then restart dockerd"
            findings.append(Finding("docker gpu", MISSING, runtime_problem, fix, needed))
    return findings


def _ssh() -> Finding:
    found = shutil.which("ssh")
    needed = "workbench promote, --remote"
    if found is None:
        return Finding("ssh", MISSING, "no ssh client", "apt-get install openssh-client", needed)
    return Finding("ssh", OK, found, needed_for=needed)


def _extra(module: str, extra: str, needed: str) -> Finding:
    if importlib.util.find_spec(module) is None:
        return Finding(
            extra, MISSING, f"{module} is not installed", f"pip install 'endpoint-workbench[{extra}]'", needed
        )
    return Finding(extra, OK, f"{module} is installed", needed_for=needed)


def _user() -> str:
    name = pwd.getpwuid(os.getuid()).pw_name
    if os.getuid() == 0:
        return name
    groups = {grp.getgrgid(g).gr_name for g in os.getgroups() if _group_exists(g)}
    return f"{name}, {'in' if 'docker' in groups else 'not in'} the docker group"


def _group_exists(gid: int) -> bool:
    try:
        grp.getgrgid(gid)
    except KeyError:
        return False
    return True


def fix_base_image(project: Path, say: Callable[[str], object]) -> None:
    """Makes the base image now, as the first `--runtime docker` would."""
    asyncio.run(BaseImages(docker_runtime(project), None).stand_in(None, say))
