"""Which Python an environment runs on: the one its conda file asks for, where this machine has it.

Azure builds the environment with the conda file's `python=`; locally that version is used when
it is installed (this interpreter, `pythonX.Y` on PATH, or pyenv's versions, which uv does not
find unless pyenv makes them global), else this machine's Python, said by `validate` and in the
build log. The workbench's inference server runs on Python 3.8 and newer.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

OLDEST = (3, 8)
"""The oldest Python the workbench's inference server runs on."""
_VERSION = re.compile(r"^(\d+)\.(\d+)")


def host_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def wanted_version(requested: str | None) -> str | None:
    """`3.8` for a conda `python=3.8.*` or `3.8.13`; None when nothing usable is asked."""
    match = _VERSION.match(requested or "")
    return f"{match.group(1)}.{match.group(2)}" if match else None


def find_python(version: str) -> Path | None:
    """An installed interpreter of `version` (major.minor), or None."""
    if version == host_version():
        return Path(sys.executable)
    on_path = shutil.which(f"python{version}")
    if on_path and "/shims/" not in on_path:  # a pyenv shim for a version that is not active fails
        return Path(on_path)
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found = sorted(root.glob(f"{version}.*/bin/python{version}"), key=_patch, reverse=True)
    return found[0] if found else None


def choose(requested: str | None) -> tuple[str, str | None]:
    """The Python an environment gets for a conda file's `python=`, and a warning when that is
    not the one asked for."""
    host = host_version()
    version = wanted_version(requested)
    if version is None or version == host:
        return host, None
    if tuple(int(part) for part in version.split(".")) < OLDEST:
        oldest = ".".join(map(str, OLDEST))
        return (
            host,
            f"asks for Python {requested}; the inference server needs {oldest} or newer: using {host}",
        )
    if find_python(version) is None:
        return host, (
            f"asks for Python {requested}, which this machine does not have (pyenv install {version}, "
            f"or uv python install {version}): using {host}"
        )
    return version, None


def _patch(path: Path) -> int:
    """3.8.18 -> 18, so that pyenv's newest patch release comes first."""
    parts = path.parents[1].name.split(".")
    return int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else -1
