"""Reading a YAML file into a node tree that keeps every key's line and column.

Nothing here raises on bad input: a file that is too large, binary, not UTF-8, empty, malformed
or holding several documents becomes one clear problem, and the caller moves on to the next file.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from workbench.spec.problems import Location, Problems

MAX_SPEC_BYTES = 1024 * 1024
"""Spec files are small; anything larger is almost certainly the wrong file (a model, a dataset)."""

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path, problems: Problems, *, what: str = "spec") -> yaml.Node | None:
    """The root node of `path`, or None after recording why it could not be read."""
    start = Location(path)
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            problems.error(
                start,
                "",
                f"file is {size / 1e6:.1f} MB; {what} files over {MAX_SPEC_BYTES // 1024} KiB are not read",
                "is this the right file?",
            )
            return None
        data = path.read_bytes()
    except OSError as exc:
        problems.error(start, "", f"cannot read file: {exc.strerror or exc}")
        return None
    text = _decode(data, path, problems)
    if text is None:
        return None
    try:
        documents = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(path, mark.line + 1, mark.column + 1) if mark else start
        detail = " ".join(part for part in (exc.context, exc.problem) if part)
        problems.error(where, "", f"malformed YAML: {detail}")
        return None
    except yaml.YAMLError as exc:
        problems.error(start, "", f"malformed YAML: {exc}")
        return None
    documents = [d for d in documents if d is not None]
    if not documents:
        problems.error(start, "", "file is empty", f"expected a {what} in YAML")
        return None
    if len(documents) > 1:
        second = documents[1].start_mark
        problems.error(
            Location(path, second.line + 1, second.column + 1),
            "",
            f"file holds {len(documents)} YAML documents; the Azure CLI reads one per file",
        )
        return None
    return documents[0]


def _decode(data: bytes, path: Path, problems: Problems) -> str | None:
    if b"\x00" in data:
        problems.error(Location(path), "", "binary file, not YAML")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problems.error(
            Location(path, line),
            "",
            f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
        )
        return None
