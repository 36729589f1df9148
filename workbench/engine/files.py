"""Files of the engine written whole or not at all (the layout of `.workbench/` is in
`workbench/layout.py`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workbench.atomic import write_whole


def write_json(path: Path, data: Any) -> None:
    """Write whole or not at all (atomic.py), mode 0600: what is in .workbench/ is the user's alone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_whole(path, json.dumps(data, indent=2))


def read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default
    except (OSError, ValueError):
        return default
