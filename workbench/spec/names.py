"""Azure's rules for endpoint and deployment names."""

from __future__ import annotations

import re

import yaml

from workbench.spec.reader import Reader

NAME_PATTERN = re.compile(r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
NAME_HINT = "start with a letter, use letters, digits and '-', end with a letter or digit"


def read_name(reader: Reader, node: yaml.Node, what: str) -> str | None:
    """A valid endpoint or deployment name; the messages are the SDK's own."""
    name = reader.string(node, "name")
    if name is None:
        return None
    if not NAME_PATTERN.match(name):
        reader.error(node, "name", "String does not match expected pattern.", NAME_HINT)
        return None
    if not 3 <= len(name) <= 32:
        reader.error(
            node,
            "name",
            f"The name for {what} must be at least 3 and at most 32 characters long "
            f"(inclusive of both limits).",
            f"'{name}' has {len(name)}",
        )
        return None
    return name
