"""The server's admin answers cross as JSON and are read back typed, as they were written;
what is not one is refused with why."""

from __future__ import annotations

import json

import pytest

from workbench.server.admin import (
    HTTP_STATUS,
    ReloadAnswer,
    Reloaded,
    ReloadFailed,
    ReloadFailure,
    ReloadSignalled,
    read_reload,
    to_json,
)

ANSWERS: list[ReloadAnswer] = [
    Reloaded("score.py changed", 3.5, 0.0, "kept", ("model",), 4.25),
    ReloadFailed(
        "admin request", ReloadFailure("SyntaxError", "invalid syntax", "/app/score.py", 4, "Trace")
    ),
    ReloadSignalled(4),
]


@pytest.mark.parametrize("answer", ANSWERS, ids=lambda a: type(a).__name__)
def test_an_answer_reads_back_as_it_was_written(answer: ReloadAnswer) -> None:
    wire = json.loads(json.dumps(to_json(answer)))
    assert read_reload(wire) == answer


def test_the_wire_keeps_the_fields_clients_read() -> None:
    reloaded, failed = to_json(ANSWERS[0]), to_json(ANSWERS[1])
    assert reloaded["status"] == "reloaded"
    assert reloaded["kept_globals"] == ["model"]
    assert (failed["status"], failed["file"], failed["line"]) == ("failed", "/app/score.py", 4)
    assert [HTTP_STATUS[type(a)] for a in ANSWERS] == [200, 422, 202]


@pytest.mark.parametrize(
    "wire", [None, [], {"status": "rebooted"}, {"status": "reloaded", "cause": "x"}, {"status": "reloading"}]
)
def test_what_is_not_an_answer_is_refused_with_why(wire: object) -> None:
    with pytest.raises(ValueError, match="reload answer"):
        read_reload(wire)
