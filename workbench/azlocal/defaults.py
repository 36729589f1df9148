"""`azlocal configure --defaults workspace=NAME group=RG`: azlocal's own defaults, in
`$XDG_CONFIG_HOME/endpoint-workbench/azlocal.json` (never Azure's ~/.azure/config, which the
real `az` keeps), read as `-w` and `-g` where a command is not given them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from workbench.errors import WorkbenchError

KEYS = ("workspace", "group", "location")


def path() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "endpoint-workbench" / "azlocal.json"


def read() -> dict[str, str]:
    try:
        data = json.loads(path().read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise WorkbenchError(f"{path()} cannot be read: {exc}; remove it to start again") from exc
    defaults = data.get("defaults", {}) if isinstance(data, dict) else {}
    return {str(k): str(v) for k, v in defaults.items()} if isinstance(defaults, dict) else {}


def update(pairs: list[str]) -> None:
    """`KEY=VALUE` pairs into the defaults; an empty value removes the key, as az does."""
    defaults = read()
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals:
            raise WorkbenchError(f"--defaults takes KEY=VALUE pairs, got {pair!r}")
        if value:
            defaults[key.strip()] = value.strip()
        else:
            defaults.pop(key.strip(), None)
    target = path()
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = target.with_suffix(".tmp")
    fresh.write_text(json.dumps({"defaults": defaults}, indent=2) + "\n")
    fresh.replace(target)


def listed() -> list[dict[str, str]]:
    """As `az configure --list-defaults` prints them."""
    return [{"name": k, "source": str(path()), "value": v} for k, v in sorted(read().items())]
