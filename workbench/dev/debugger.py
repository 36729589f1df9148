"""debugpy for instances whose environment lacks it: a copy of the workbench's own, in a folder
of its own that goes on the instance's PYTHONPATH (never the whole site-packages, whose other
packages could shadow the user's). A copy, not a link, so that a container can mount it."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from workbench.errors import MissingExtra


def provide_debugpy(folder: Path) -> Path:
    """`folder`, holding debugpy; the path to add."""
    target = folder / "debugpy"
    if target.exists():
        return folder
    spec = importlib.util.find_spec("debugpy")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtra("debug", "the debugger")
    source = Path(next(iter(spec.submodule_search_locations)))
    folder.mkdir(parents=True, exist_ok=True)
    fresh = folder / ".debugpy.copying"
    shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(source, fresh, ignore=shutil.ignore_patterns("__pycache__"))
    os.replace(fresh, target)
    return folder
