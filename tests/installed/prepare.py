"""The product as a user installs it, for the installed-wheel smoke suite: the wheel built by the
standard backend from this checkout, installed (not editable, with `[all]`) into a fresh virtual
environment, as `pipx install` or `uv tool install` would. Run by `.ci/run` before the tests,
so that no test waits on an install:

    python -m tests.installed.prepare DIR     # then WORKBENCH_INSTALLED=DIR pytest tests/installed
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def prepare(folder: Path) -> Path:
    """Builds the wheel into `folder`/dist and installs it into `folder`/venv; the wheel's path."""
    dist = folder / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(REPO)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (wheel,) = dist.glob("endpoint_workbench-*.whl")
    venv.create(folder / "venv", with_pip=True)
    pip = [str(folder / "venv" / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, f"{wheel}[all]"], check=True)
    return wheel


if __name__ == "__main__":
    print(prepare(Path(sys.argv[1]).resolve()))
