"""VS Code's `.vscode/launch.json`: an attach configuration per instance under the debugger.

A configuration this module wrote is found again by its name and replaced; every other one, and
every other key of the file, is kept. A launch.json that is not plain JSON (VS Code allows
comments) is left untouched and the configuration is returned for the user to paste.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

NAME_PREFIX = "workbench: attach "


def attach_configuration(subject: str, port: int, local_root: Path, remote_root: Path) -> dict[str, Any]:
    """debugpy's attach request, with the code folder mapped to where the instance runs it."""
    return {
        "name": NAME_PREFIX + subject,
        "type": "debugpy",
        "request": "attach",
        "connect": {"host": "127.0.0.1", "port": port},
        "pathMappings": [{"localRoot": str(local_root), "remoteRoot": str(remote_root)}],
        "justMyCode": True,
    }


def write_attach_configuration(project: Path, configuration: dict[str, Any]) -> Path | None:
    """Add or replace `configuration` in the project's launch.json; None when the file is not
    plain JSON and was left as it is."""
    path = project / ".vscode" / "launch.json"
    document: dict[str, Any] = {"version": "0.2.0", "configurations": []}
    if path.exists():
        try:
            loaded = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(loaded, dict) or not isinstance(loaded.get("configurations", []), list):
            return None
        document = loaded
    configurations = [
        c
        for c in document.get("configurations", [])
        if not (isinstance(c, dict) and c.get("name") == configuration["name"])
    ]
    document["configurations"] = [*configurations, configuration]
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.with_name(".launch.json.tmp")
    fresh.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(fresh, path)
    return path
