"""Files written whole or not at all, 0600: a write that fails leaves the old file and no stray."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from workbench.atomic import write_whole


def test_a_write_replaces_the_file_whole_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_whole(path, "old")
    write_whole(path, "new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"], "no temporary file left"


def test_a_write_that_fails_leaves_the_old_file_and_no_stray(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_whole(path, "old")
    with pytest.raises(UnicodeEncodeError):
        write_whole(path, "half \udc80 written")  # fails inside the write, as a full disk would
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
