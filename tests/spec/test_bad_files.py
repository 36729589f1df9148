"""Files that are not YAML at all: each a clear message, never a traceback, nothing else lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ENDPOINT, run_workbench


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name: x\ntraffic: {blue: [90\n", "bad.yml:3:1: malformed YAML: while parsing a flow sequence"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "bad.yml:1:1: binary file, not YAML"),
        (b"", "bad.yml:1:1: file is empty"),
        (b"# only a comment\n", "bad.yml:1:1: file is empty"),
        (b"name: caf\xe9\n", "bad.yml:1:1: file is not valid UTF-8 (byte 0xe9 at offset 9)"),
        (b"name: a\n---\nname: b\n", "bad.yml:3:1: file holds 2 YAML documents"),
        (b"- a\n- b\n", "bad.yml:1:1: not an endpoint, deployment, model or environment file"),
        (b"name: x\n\ttraffic: 1\n", "bad.yml:2:1: malformed YAML"),
    ],
    ids=["malformed", "binary", "empty", "comment-only", "latin1", "two-documents", "a-list", "tab"],
)
def test_unreadable_file_gives_one_clear_problem(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "bad.yml").write_bytes(content)

    result = run_workbench("validate", str(tmp_path / "bad.yml"), cwd=tmp_path)

    assert result.returncode == 2
    assert message in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_ten_megabyte_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    (tmp_path / "endpoint.yml").write_text(ENDPOINT)
    (tmp_path / "huge.yml").write_bytes(b"# padding\n" * 1_048_576)

    result = run_workbench("validate", str(tmp_path), cwd=tmp_path)

    assert result.returncode == 2
    assert "huge.yml:1:1: file is 10.5 MB; spec files over 1024 KiB are not read" in result.stdout
    assert "Traceback" not in result.stderr


def test_a_broken_file_does_not_hide_problems_in_the_others(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_bytes(b"\x00")
    (tmp_path / "endpoint.yml").write_text(ENDPOINT + "auth_mode: nope\n")

    result = run_workbench("validate", str(tmp_path), cwd=tmp_path)

    assert "a.yml:1:1: binary file" in result.stdout
    assert "endpoint.yml:3:12: auth_mode: Value 'nope' passed is not in set" in result.stdout


def test_missing_path_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    result = run_workbench("validate", "no-such-folder", cwd=tmp_path)

    assert result.returncode == 2
    assert "no-such-folder:1:1: no such file or folder" in result.stdout
