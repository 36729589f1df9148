"""The inference server's code alone (`workbench/server` and the package marker), copied where an
instance's environment finds it: PYTHONPATH for processes, a mount for containers and dev
containers. It imports nothing else of the workbench, so it runs in any environment."""

from __future__ import annotations

import shutil
from pathlib import Path

import workbench


def copy_server_code(target: Path) -> None:
    """The inference server's code, alone, for instances' environments (PYTHONPATH)."""
    package = Path(workbench.__file__).resolve().parent
    fresh = target.with_name(target.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(
        package / "server", fresh / "workbench" / "server", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy2(package / "__init__.py", fresh / "workbench" / "__init__.py")
    shutil.rmtree(target, ignore_errors=True)
    fresh.rename(target)
