"""A table the user can sort: a click on a column's header sorts by it (again: the other way),
`o` sorts by the next column, `O` reverses the order; the header marks the column and the way
(▲ ▼). Numbers sort as numbers ("9.5ms" before "12ms", "424" after "200"), everything else as
text; rows added later (a refill of the whole table, a new row) take their place by `resort`."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

NUMBER = re.compile(r"^\s*(-?\d[\d,]*(?:\.\d+)?)")
MARKS = {False: " ▲", True: " ▼"}


def order(value: object) -> tuple[int, float, str]:
    """How a cell sorts: numbers (a leading one, as in "12.5ms") before text, each in its order."""
    plain = value.plain if isinstance(value, Text) else str(value)
    number = NUMBER.match(plain)
    if number:
        return (0, float(number.group(1).replace(",", "")), plain)
    return (1, 0.0, plain.lower())


class SortableTable(DataTable[Any]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "sort_next", "sort by the next column", show=False, id="sort_next"),
        Binding("O", "sort_reverse", "sort the other way", show=False, id="sort_reverse"),
    ]

    def __init__(self, *, id: str | None = None, cursor_type: Any = "row") -> None:
        super().__init__(id=id, cursor_type=cursor_type)
        self.sorted_by: ColumnKey | None = None
        self.reverse = False
        self._labels: dict[ColumnKey, str] = {}

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(event.column_key, reverse=event.column_key == self.sorted_by and not self.reverse)

    def action_sort_next(self) -> None:
        keys = [column.key for column in self.ordered_columns]
        if not keys:
            return
        at = keys.index(self.sorted_by) + 1 if self.sorted_by in keys else 0
        self.sort_by(keys[at % len(keys)], reverse=False)

    def action_sort_reverse(self) -> None:
        if self.sorted_by is None:
            self.action_sort_next()
        self.sort_by(self.sorted_by, reverse=not self.reverse)

    def sort_by(self, column: ColumnKey | None, *, reverse: bool) -> None:
        if column is None:
            return
        if not self._labels:  # the first sort: room for a mark in every header, so none moves later
            self._labels = {c.key: c.label.plain for c in self.ordered_columns}
            for each in self.ordered_columns:
                each.content_width = max(each.content_width, each.label.cell_len + len(MARKS[False]))
        self.sorted_by, self.reverse = column, reverse
        for key, label in self._labels.items():
            marked = self.columns[key]
            marked.label = Text(label + (MARKS[reverse] if key == column else ""))
        self.resort()

    def resort(self) -> None:
        """The rows in the chosen order again (after a refill, or a row added)."""
        if self.sorted_by is not None and self.sorted_by in self.columns:
            self.sort(self.sorted_by, key=order, reverse=self.reverse)
        self.refresh()
