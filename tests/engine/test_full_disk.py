"""A full disk under `.workbench/` (a small tmpfs, filled): control actions are all or nothing,
answered 507 with the reason, and leave the old state both live and after a restart; scoring,
which needs no disk, answers 200 throughout. Real engine, real processes, a real file system."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import run_workbench
from tests.engine.harness import ECHO, deployment_yaml, engine, folder_with
from workbench.client import EngineClient

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@contextlib.contextmanager
def small_disk(folder: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs mounted at `folder`, until the block ends."""
    if os.geteuid() != 0:
        if os.environ.get("WORKBENCH_CI") == "1":
            pytest.fail("the full-disk test needs root (mount), and CI must run every test")
        pytest.skip("needs root to mount a tmpfs")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Fills the file system of `folder` to the last byte; the filler's path."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 65536)
    return filler


def test_a_full_disk_changes_nothing_and_scoring_goes_on(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    (folder / "endpoint.yml").write_text((folder / "endpoint.yml").read_text() + "traffic:\n  blue: 100\n")
    project = ["--project", str(folder)]
    with small_disk(folder / ".workbench") as workbench_folder:
        with engine(folder, tmp_path) as running:
            (endpoint,) = running.wait_settled(120)
            url = endpoint.scoring_uri or ""
            keys = json.loads(run_workbench("credentials", "tests", "--json", *project).stdout)
            old = {"Authorization": f"Bearer {keys['primaryKey']}"}
            filler = fill(workbench_folder)

            regenerated = run_workbench("regenerate-keys", "tests", "--key-type", "primary", *project)
            assert regenerated.returncode == 1
            assert "507" in regenerated.stderr
            assert "the disk is full" in regenerated.stderr
            moved = run_workbench("traffic", "tests", "blue=0", *project)
            assert moved.returncode == 1
            assert "the disk is full" in moved.stderr
            scaled = run_workbench("scale", "tests", "blue", "2", *project)
            assert scaled.returncode == 1
            assert "the disk is full" in scaled.stderr
            with EngineClient.for_folder(folder) as client:  # a recording on: its writes fail
                client.recording("tests", on=True)

            answers = [
                httpx.post(url, json={"n": n}, headers=old, timeout=30).status_code for n in range(200)
            ]
            assert answers == [200] * 200  # scoring needs no disk
            with EngineClient.for_folder(folder) as client:
                client.recording("tests", on=False)
            running.wait_for_output("the recording stopped early:")
            after = json.loads(run_workbench("credentials", "tests", "--json", *project).stdout)
            assert after == keys
            (state,) = running.status()
            assert state.traffic == {"blue": 100}
            assert len(state.deployments[0].instances) == 1
            filler.unlink()
        with engine(folder, tmp_path) as restarted:  # and on disk: the old key, the old split
            (endpoint,) = restarted.wait_settled(120)
            answer = httpx.post(endpoint.scoring_uri or "", json={}, headers=old, timeout=30)
            assert answer.status_code == 200
            assert endpoint.traffic == {"blue": 100}
