"""debugpy for instances whose environment lacks it: the workbench's own copy, linked into a
folder of its own that goes on the instance's PYTHONPATH (never the whole site-packages, whose
other packages could shadow the user's)."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from workbench.errors import StartupError


def provide_debugpy(folder: Path) -> Path:
    """`folder`, holding debugpy (linked, or copied where links fail); the path to add."""
    target = folder / "debugpy"
    if target.exists():
        return folder
    spec = importlib.util.find_spec("debugpy")
    if spec is None or not spec.submodule_search_locations:
        raise StartupError("debugpy is not installed with the workbench: pip install debugpy")
    source = Path(next(iter(spec.submodule_search_locations)))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(source, target, target_is_directory=True)
    except OSError:
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    return folder
