"""What `az` prints: a result filtered by `--query` (JMESPath) and written as `-o json` (the
default), `tsv`, `table`, `yaml` or `none`, in the shapes Azure's CLI (knack) writes them: JSON
indented by two with sorted keys, TSV one row per item with a dict's values in key order, a table
of an item's plain values."""

from __future__ import annotations

import json
from typing import Any

import jmespath
import jmespath.exceptions
import yaml

from workbench.errors import WorkbenchError

FORMATS = ("json", "jsonc", "tsv", "table", "yaml", "yamlc", "none")


def render(result: Any, output: str, query: str | None) -> str:
    """The text to print for `result` ("" prints nothing)."""
    if query:
        try:
            result = jmespath.search(query, result)
        except jmespath.exceptions.JMESPathError as exc:
            raise WorkbenchError(f"argument --query: invalid jmespath_type value: {query!r} ({exc})") from exc
    if output == "none":
        return ""
    if output in ("json", "jsonc"):
        return json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if output in ("yaml", "yamlc"):
        return yaml.safe_dump(result, default_flow_style=False, allow_unicode=True)
    if output == "tsv":
        return "".join(_tsv_row(item) + "\n" for item in (result if isinstance(result, list) else [result]))
    return _table(result)


def _tsv_row(item: Any) -> str:
    if isinstance(item, dict):
        return "\t".join(_tsv_value(value) for _, value in sorted(item.items()))
    if isinstance(item, list):
        return "\t".join(_tsv_value(value) for value in item)
    return _tsv_value(item)


def _tsv_value(value: Any) -> str:
    if value is None or isinstance(value, dict):
        return ""
    if isinstance(value, list):
        return str(len(value))
    return str(value)


def _table(result: Any) -> str:
    rows = result if isinstance(result, list) else [result]
    if not rows:
        return ""
    if not all(isinstance(row, dict) for row in rows):
        rows = [{"Result": row} for row in rows]
    columns: list[str] = []
    for row in rows:
        for key, value in row.items():
            if not isinstance(value, dict | list) and key not in columns:
                columns.append(key)
    headers = [column[:1].upper() + column[1:] for column in columns]
    cells = [[_tsv_value(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    lines = [
        "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
        "  ".join("-" * w for w in widths),
        *("  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip() for cell in cells),
    ]
    return "\n".join(lines) + "\n"
