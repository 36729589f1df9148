"""The promote agent runs alone on the remote host and imports nothing of the workbench: what it
knows of a project's `.workbench/` must stay what workbench/layout.py says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from workbench.layout import ProjectFiles
from workbench.promote.remote import AGENT_SOURCE


def agent(command: str, folder: Path) -> dict[str, object]:
    """`command` run as promote runs it on a host: the agent's source given to `python3 -c`."""
    said = subprocess.run(
        [sys.executable, "-c", AGENT_SOURCE, command, str(folder)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    answer: dict[str, object] = json.loads(said.stdout)
    return answer


def test_the_agent_finds_the_engine_where_the_layout_writes_its_connection_file(tmp_path: Path) -> None:
    files = ProjectFiles(tmp_path / "project")
    assert agent("engine", tmp_path)["engine"] is None
    files.connection.parent.mkdir(parents=True)
    info = {"url": "http://127.0.0.1:1", "token": "t", "pid": os.getpid()}  # a live pid: this test's
    files.connection.write_text(json.dumps(info))
    assert agent("engine", tmp_path)["engine"] == info
