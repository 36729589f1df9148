"""One broken file per rule, reported in one run with file and line, exit code 2."""

from __future__ import annotations

import json

from tests.conftest import REPO, run_workbench

INVALID = REPO / "fixtures" / "specs" / "invalid"


def test_every_rule_is_reported_once_with_file_and_line() -> None:
    result = run_workbench("validate", "fixtures/specs/invalid")

    expected = (INVALID / "expected.txt").read_text()
    assert result.stdout == expected
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


# Problems in a file that a deployment refers to are reported where they are.
REPORTED_IN = {
    "dep-bad-conda.yml": "env/broken-conda.yml",
    "dep-syntax-error.yml": "code/syntax_error.py",
    "dep-no-run.yml": "code/no_run.py",
    "dep-bad-signature.yml": "code/bad_signature.py",
}
VALID = ("endpoint.yml", "dep-good.yml", "dep-shadow.yml")


def test_each_broken_file_is_named_in_the_output() -> None:
    output = (INVALID / "expected.txt").read_text()
    broken = [
        p.name
        for p in INVALID.glob("*.yml")
        if p.name not in VALID and not p.name.startswith(("dep-ts-", "dep-mc-"))
    ]
    assert len(broken) >= 25
    for name in broken:
        where = REPORTED_IN.get(name, name)
        assert f"invalid/{where}:" in output, f"{name} produced no problem"
    for name in VALID:
        assert f"invalid/{name}:" not in output


def test_json_output_lists_the_same_problems() -> None:
    result = run_workbench("validate", "--json", "fixtures/specs/invalid")

    problems = json.loads(result.stdout)
    text_lines = (INVALID / "expected.txt").read_text().splitlines()[:-1]
    assert len(problems) == len(text_lines)
    assert set(problems[0]) == {"file", "line", "column", "key", "severity", "message", "hint"}
    first = problems[0]
    assert (first["file"], first["line"], first["severity"]) == (
        "fixtures/specs/invalid/binary.yml",
        1,
        "error",
    )
    assert result.returncode == 2
