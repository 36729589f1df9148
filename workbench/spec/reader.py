"""Typed reading of YAML nodes into Python values, with every problem located.

`Reader` is bound to one file. Each method takes a node and the key path that led to it, and
returns the value, or None after recording a problem. Unknown keys are refused with the nearest
valid key as a hint, as Azure's schemas refuse them ("Unknown field.").
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path

import yaml

from workbench.spec.problems import Location, Problems, did_you_mean

_constructor = yaml.constructor.SafeConstructor()

_TYPE_NAMES = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "str": "a string",
    "null": "a value",
    "seq": "a list",
    "map": "a mapping",
}


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class Reader:
    def __init__(self, file: Path, problems: Problems) -> None:
        self.file = file
        self.problems = problems
        self.locations: dict[str, Location] = {}

    # -- locations and problems -------------------------------------------------------------

    def at(self, node: yaml.Node) -> Location:
        mark = node.start_mark
        return Location(self.file, mark.line + 1, mark.column + 1)

    def where(self, path: str) -> Location:
        """Where the key at `path` was written; the file's start if it was not."""
        return self.locations.get(path, Location(self.file))

    def error(self, node: yaml.Node, path: str, message: str, hint: str | None = None) -> None:
        self.problems.error(self.at(node), path, message, hint)

    def warning(self, node: yaml.Node, path: str, message: str, hint: str | None = None) -> None:
        self.problems.warning(self.at(node), path, message, hint)

    # -- structure --------------------------------------------------------------------------

    def fields(
        self, node: yaml.Node, path: str, known: Collection[str], *, schema: str = ""
    ) -> dict[str, yaml.Node] | None:
        """The value nodes of a mapping by key; unknown, duplicate and non-string keys refused."""
        if not isinstance(node, yaml.MappingNode):
            self._wrong_type(node, path, "a mapping")
            return None
        found: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, path)
            if key is None:
                continue
            key_path = join(path, key)
            if key not in known:
                hint = did_you_mean(key, known)
                if hint is None and schema:
                    hint = f"see {schema}"
                self.error(key_node, key_path, "Unknown field.", hint)
                continue
            if key in found:
                self.error(key_node, key_path, "duplicate key; YAML keeps only the last value")
            found[key] = value_node
            self.locations[key_path] = self.at(key_node)
        return found

    def entries(self, node: yaml.Node, path: str) -> list[tuple[str, yaml.Node]]:
        """The (key, value node) pairs of a free-form mapping such as `traffic` or `tags`."""
        if not isinstance(node, yaml.MappingNode):
            self._wrong_type(node, path, "a mapping")
            return []
        pairs: list[tuple[str, yaml.Node]] = []
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = self._key(key_node, path)
            if key is None:
                continue
            key_path = join(path, key)
            if key in seen:
                self.error(key_node, key_path, "duplicate key; YAML keeps only the last value")
            seen.add(key)
            self.locations[key_path] = self.at(key_node)
            pairs.append((key, value_node))
        return pairs

    def items(self, node: yaml.Node, path: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            self._wrong_type(node, path, "a list")
            return []
        return list(node.value)

    # -- scalars ----------------------------------------------------------------------------

    def scalar(self, node: yaml.Node) -> object:
        """The Python value of a scalar node, or the node itself for a collection."""
        if isinstance(node, yaml.ScalarNode):
            return _constructor.construct_object(node, deep=True)
        return node

    def string(self, node: yaml.Node, path: str) -> str | None:
        value = self.scalar(node)
        if isinstance(value, str):
            return value
        self._wrong_type(node, path, "a string")
        return None

    def text(self, node: yaml.Node, path: str) -> str | None:
        """A string, also accepting numbers written without quotes (versions, env values)."""
        value = self.scalar(node)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (str, int, float)):
            return str(value)
        self._wrong_type(node, path, "a string")
        return None

    def integer(
        self,
        node: yaml.Node,
        path: str,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int | None:
        value = self.scalar(node)
        if isinstance(value, bool) or not isinstance(value, int):
            self._wrong_type(node, path, "an integer")
            return None
        if minimum is not None and value < minimum:
            self.error(node, path, f"must be at least {minimum}, got {value}")
            return None
        if maximum is not None and value > maximum:
            self.error(node, path, f"must be at most {maximum}, got {value}")
            return None
        return value

    def number(self, node: yaml.Node, path: str) -> float | None:
        value = self.scalar(node)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self._wrong_type(node, path, "a number")
            return None
        return float(value)

    def boolean(self, node: yaml.Node, path: str) -> bool | None:
        value = self.scalar(node)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        self._wrong_type(node, path, "true or false")
        return None

    def choice(
        self, node: yaml.Node, path: str, choices: Iterable[str], *, snake_case: bool = False
    ) -> str | None:
        """One of `choices`, compared case-insensitively (and snake-cased, as the SDK does)."""
        raw = self.string(node, path)
        if raw is None:
            return None
        options = list(choices)
        wanted = _snake(raw) if snake_case else raw.lower()
        for option in options:
            if option.lower() == wanted:
                return option
        self.error(
            node,
            path,
            f"Value '{raw}' passed is not in set {options}",
            did_you_mean(raw, options),
        )
        return None

    def string_map(self, node: yaml.Node, path: str) -> dict[str, str]:
        values: dict[str, str] = {}
        for key, value_node in self.entries(node, path):
            value = self.text(value_node, join(path, key))
            if value is not None:
                values[key] = value
        return values

    def string_list(self, node: yaml.Node, path: str) -> list[str]:
        values: list[str] = []
        for index, item in enumerate(self.items(node, path)):
            value = self.string(item, f"{path}[{index}]")
            if value is not None:
                values.append(value)
        return values

    # -- helpers ----------------------------------------------------------------------------

    def _key(self, key_node: yaml.Node, path: str) -> str | None:
        key = self.scalar(key_node)
        if isinstance(key, str):
            return key
        self.error(key_node, path, f"keys must be strings, got {_describe(key_node)}")
        return None

    def _wrong_type(self, node: yaml.Node, path: str, expected: str) -> None:
        self.error(node, path, f"expected {expected}, got {_describe(node)}")


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        kind = _TYPE_NAMES.get(node.tag.rsplit(":", 1)[-1], "a value")
        value = node.value if len(node.value) <= 40 else node.value[:37] + "..."
        return f"{kind} ({value!r})" if node.value else "nothing"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return "a mapping"


def _snake(value: str) -> str:
    """`AMLToken` -> `aml_token`, as azure-ai-ml snake-cases enum input before checking it."""
    out: list[str] = []
    for index, char in enumerate(value):
        if (
            char.isupper()
            and index
            and (value[index - 1].islower() or (index + 1 < len(value) and value[index + 1].islower()))
        ):
            out.append("_")
        out.append(char.lower())
    return "".join(out).replace("-", "_")
