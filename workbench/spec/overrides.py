"""`--set KEY=VALUE`, as `az ml online-deployment create -f FILE --set ...` applies it: a value
put at a dotted path of the YAML before it is read, so placeholders and per-run values need no
edit of the file. With files named, it applies to those whose kind has the key (an endpoint's
`auth_mode`, a deployment's `instance_count`), as `az ml` applies it to the one file of one
command; with a folder, to its deployment files. A key that no file took is an error.

    --set instance_count=2
    --set environment_variables.MODEL_NAME=resnet
    --set endpoint_name=my-endpoint
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from workbench.errors import WorkbenchError


@dataclass(frozen=True)
class Override:
    path: tuple[str, ...]
    value: str

    def __str__(self) -> str:
        return f"{'.'.join(self.path)}={self.value}"


def parse_overrides(items: Sequence[str]) -> tuple[Override, ...]:
    """`KEY=VALUE` strings as overrides; a clear error for one that is not."""
    overrides = []
    for item in items:
        key, equals, value = item.partition("=")
        path = tuple(part.strip() for part in key.split("."))
        if not equals or not all(path):
            raise WorkbenchError(f"--set takes KEY=VALUE (a dotted YAML path), got '{item}'")
        overrides.append(Override(path, value))
    return tuple(overrides)


def apply(root: yaml.Node, overrides: Sequence[Override]) -> None:
    """Put each override's value into the document at its path, creating mappings on the way."""
    if not isinstance(root, yaml.MappingNode):
        return
    for override in overrides:
        node = root
        for depth, key in enumerate(override.path):
            last = depth == len(override.path) - 1
            entry = next(
                (
                    pair
                    for pair in node.value
                    if isinstance(pair[0], yaml.ScalarNode) and pair[0].value == key
                ),
                None,
            )
            value = _value(override.value, node) if last else _mapping(node)
            if entry is None:
                node.value.append(
                    (yaml.ScalarNode("tag:yaml.org,2002:str", key, node.start_mark, node.end_mark), value)
                )
            elif last or not isinstance(entry[1], yaml.MappingNode):
                node.value[node.value.index(entry)] = (entry[0], value)
            else:
                value = entry[1]
            if not last:
                assert isinstance(value, yaml.MappingNode)
                node = value


def _value(text: str, near: yaml.Node) -> yaml.Node:
    """The value as YAML reads it (2 is a number, [a, b] a list), marked where its parent is."""
    try:
        node = yaml.compose(text) if text.strip() else None
    except yaml.YAMLError:
        node = None
    if node is None:
        node = yaml.ScalarNode("tag:yaml.org,2002:str", text)
    _mark(node, near)
    return node


def _mapping(near: yaml.Node) -> yaml.MappingNode:
    return yaml.MappingNode("tag:yaml.org,2002:map", [], near.start_mark, near.end_mark)


def _mark(node: yaml.Node, near: yaml.Node) -> None:
    node.start_mark, node.end_mark = near.start_mark, near.end_mark
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _mark(key, near)
            _mark(value, near)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _mark(item, near)
