"""The `az` fixture: azlocal behind a shim, in a folder of Azure's examples (harness.py)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.azlocal.harness import Az, azure_examples, shim
from tests.conftest import run_workbench


@pytest.fixture
def az(tmp_path: Path) -> Iterator[Az]:
    """`az` for a test: its own workspace, data and configuration folders; the workspace's
    engine stopped at the end."""
    env = {
        **os.environ,
        "PATH": f"{shim(tmp_path / 'bin')}{os.pathsep}{os.environ['PATH']}",
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    runner = Az(azure_examples(tmp_path / "cli"), env, "local")
    try:
        yield runner
    finally:
        if (tmp_path / "data" / "endpoint-workbench" / "workspaces").is_dir():
            for workspace in (tmp_path / "data" / "endpoint-workbench" / "workspaces").iterdir():
                run_workbench("down", "--workspace", workspace.name, env=env)
        shutil.rmtree(tmp_path / "data", ignore_errors=True)
