"""The dashboard's own settings: a theme and keys of the user's choosing, read from
`$XDG_CONFIG_HOME/endpoint-workbench/dashboard.yaml` (else `~/.config/...`), YAML as k9s'
own settings are:

    theme: nord
    keys:             # a binding's id: the key (or keys, comma-separated) that runs it
      traffic: T
      quit: ctrl+q

A file that cannot be read, an unknown theme or binding id, or a key that is not a string is
said in a warning at start (with what would be valid), and the rest of the file still applies:
a typo never costs the user the dashboard.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

FILE = Path("endpoint-workbench") / "dashboard.yaml"


def settings_path() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / FILE


@dataclass(frozen=True)
class DashboardSettings:
    theme: str | None = None
    keys: dict[str, str] = field(default_factory=dict)
    """Binding id -> key string (Textual's keymap)."""
    problems: tuple[str, ...] = ()
    """What in the file was not applied, and why, for a warning at start."""


def load(path: Path, themes: Iterable[str], binding_ids: Iterable[str]) -> DashboardSettings:
    """The settings in `path` that can be applied; none (and no problem) when there is no file."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        return DashboardSettings()
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return DashboardSettings(problems=(f"{path}: not read ({exc}); the defaults apply",))
    if not isinstance(data, dict):
        return DashboardSettings(problems=(f"{path}: a mapping of theme: and keys: is expected",))
    problems: list[str] = []
    theme = data.get("theme")
    known_themes = sorted(themes)
    if theme is not None and theme not in known_themes:
        problems.append(f"{path}: theme {theme!r} is not one of {', '.join(known_themes)}")
        theme = None
    keys = data.get("keys", {})
    if not isinstance(keys, dict):
        problems.append(f"{path}: keys: is a mapping of binding id: key")
        keys = {}
    ids = set(binding_ids)
    chosen: dict[str, str] = {}
    for binding, key in keys.items():
        if binding not in ids:
            problems.append(f"{path}: no key has the id {binding!r}; the ids: {', '.join(sorted(ids))}")
        elif not isinstance(key, str) or not key.strip():
            problems.append(f"{path}: keys: {binding}: is {key!r}, not a key such as ctrl+t")
        else:
            chosen[binding] = key.strip()
    unknown = sorted(set(data) - {"theme", "keys"})
    if unknown:
        problems.append(f"{path}: {', '.join(map(str, unknown))} not known (theme: and keys: are)")
    return DashboardSettings(theme if isinstance(theme, str) else None, chosen, tuple(problems))
