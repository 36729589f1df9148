"""How the log tab draws its lines: dates or times cut, long lines wrapped, the search's matches
highlighted, and the router's access log as aligned columns with the status coloured by its
class."""

from __future__ import annotations

import json
import re
import textwrap

from rich.highlighter import Highlighter
from rich.text import Text

PREFIX = re.compile(r"^(\[[^\]]+\] )?")
"""The instance a line of a deployment's merged log came from."""
DATE = re.compile(r"\d{4}-\d{2}-\d{2}[ T]")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?Z?(?: \| | )?")
"""A line's leading date and time as the server, the storage initializer and the build write it."""
STATUS_COLUMN = slice(9, 16)
"""Where `router_columns` writes the status."""
STATUS_COLOURS = {"2": "green", "3": "cyan", "4": "yellow", "5": "bold red"}


class LogLook(Highlighter):
    """How the log draws its lines: every occurrence of the search, whatever its case, in reverse
    video; in the router's columns, the status coloured by its class (a 503 is never read as a
    200)."""

    def __init__(self, query: str = "", *, router: bool = False) -> None:
        self.query = query.lower()
        self.router = router

    def highlight(self, text: Text) -> None:
        if self.router:
            status = text.plain[STATUS_COLUMN]
            if status[:1] in STATUS_COLOURS and status[:3].isdigit():
                text.stylize(STATUS_COLOURS[status[0]], STATUS_COLUMN.start, STATUS_COLUMN.stop)
        if not self.query:
            return
        plain, start = text.plain.lower(), 0
        while (found := plain.find(self.query, start)) >= 0:
            text.stylize("reverse bold yellow", found, found + len(self.query))
            start = found + len(self.query)


def router_columns(line: str) -> str:
    """An access-log record as aligned columns, the most telling first so that a narrow pane cuts
    the least: time, status (the model's beside a 424), latency, deployment, how it got there
    (live, pinned, or live with a mirror copy), request id, then method, path and where the
    mirror copy went. A line that is not a record is shown as it is."""
    try:
        record = json.loads(line)
        status = str(record["status"])
    except (ValueError, KeyError, TypeError):
        return line
    if record.get("model_status") and record["model_status"] != record["status"]:
        status += f"/{record['model_status']}"
    how = "pinned" if record.get("pinned") else "live"
    mirror = record.get("mirrored_to")
    if mirror:
        how += "+mirror"
    clock = str(record.get("time", ""))[11:19]
    latency = f"{float(record.get('latency_ms') or 0):.1f}ms"
    return (
        f"{clock:8} {status:7} {latency:>8} {record.get('deployment') or '-'!s:12} {how:11} "
        f"{record.get('request_id', '')} {record.get('method', '')} {record.get('path', '')}"
        + (f" mirror:{mirror}" if mirror else "")
    )


def drawn(lines: list[str], cut: re.Pattern[str] | None, wrap_width: int | None) -> list[str]:
    """The lines as the log draws them: without what `cut` matches at their start (a narrow
    screen's date, or the time `T` hid), after the instance a merged log prefixes; wrapped to
    `wrap_width` when `w` asked, the rest of a line indented."""
    shown_lines: list[str] = []
    for line in lines:
        shown = line
        if cut is not None:
            prefix = PREFIX.match(line)
            start = prefix.end() if prefix else 0
            if cut.match(line, start):
                shown = line[:start] + cut.sub("", line[start:], count=1)
        if wrap_width is not None and len(shown) > wrap_width:
            shown_lines += textwrap.wrap(
                shown, wrap_width, subsequent_indent="  ", drop_whitespace=False
            ) or [shown]
        else:
            shown_lines.append(shown)
    return shown_lines


def log_title(target: tuple[str, str, str, tuple[str, ...]] | None, instance: str | None) -> str:
    """Whose log `target` (endpoint, deployment, container, instances) is, and which container."""
    if target is None:
        return "no log"
    endpoint, deployment, container, instances = target
    if container == "router":
        return f"{endpoint} · router (access log)"
    whose = (
        f"{deployment}: {len(instances)} instances merged" if len(instances) > 1 else instance or deployment
    )
    return f"{endpoint}/{whose} · {container}"
