"""Conda environment files: the Python version, conda packages and the pip section."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from workbench.spec import interpreters
from workbench.spec.problems import Problems
from workbench.spec.reader import Reader
from workbench.spec.source import read_yaml

_KEYS = ("name", "channels", "dependencies", "prefix", "variables")
_PYTHON = re.compile(r"^python\s*(?:[=<>!~]=?\s*)?([0-9][0-9.*]*)?\s*$")


@dataclass(frozen=True)
class CondaSpec:
    path: Path
    name: str | None
    channels: tuple[str, ...]
    python: str | None
    """The requested Python version ("3.10", "3.11.*"), None when the file does not pin one."""
    conda_packages: tuple[str, ...]
    """Conda dependencies other than python and pip, as written."""
    pip_packages: tuple[str, ...]


def read_conda_file(path: Path, problems: Problems) -> CondaSpec | None:
    root = read_yaml(path, problems, what="conda environment")
    if root is None:
        return None
    reader = Reader(path, problems)
    found = reader.fields(root, "", _KEYS, schema="conda environment file format")
    if found is None:
        return None
    return _conda_spec(reader, path, found)


def _conda_spec(reader: Reader, path: Path, found: dict[str, yaml.Node]) -> CondaSpec:
    name = reader.string(found["name"], "name") if "name" in found else None
    channels = reader.string_list(found["channels"], "channels") if "channels" in found else []
    python: str | None = None
    conda: list[str] = []
    pip: list[str] = []
    if "dependencies" not in found:
        reader.problems.warning(reader.where(""), "dependencies", "no dependencies listed")
    for index, item in enumerate(
        reader.items(found["dependencies"], "dependencies") if "dependencies" in found else []
    ):
        key = f"dependencies[{index}]"
        if isinstance(item, yaml.MappingNode):
            section = reader.fields(item, key, ("pip",))
            if section and "pip" in section:
                pip.extend(reader.string_list(section["pip"], f"{key}.pip"))
            continue
        package = reader.text(item, key)
        if package is None:
            continue
        match = _PYTHON.match(package)
        if match:
            python = match.group(1) or None
            _, warning = interpreters.choose(python)
            if warning is not None:
                reader.warning(item, key, warning)
        elif package.split("=")[0].strip() != "pip":
            conda.append(package)
    return CondaSpec(path, name, tuple(channels), python, tuple(conda), tuple(pip))
