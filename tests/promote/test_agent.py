"""The promote agent runs alone on the remote host and imports nothing of the workbench: what it
knows of a project's `.workbench/` must stay what workbench/layout.py says."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from workbench.errors import PromoteError
from workbench.layout import ProjectFiles
from workbench.promote.agent import PROTOCOL
from workbench.promote.answers import checked, field_of
from workbench.promote.host_agent import AGENT_SOURCE


def agent(command: str, folder: Path, *args: str, given: object = None) -> dict[str, Any]:
    """`command` run as promote runs it on a host: the agent's source given to `python3 -c`."""
    said = subprocess.run(
        [sys.executable, "-c", AGENT_SOURCE, command, str(folder), *args],
        input=json.dumps(given) if given is not None else None,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    answer: dict[str, Any] = json.loads(said.stdout)
    assert answer.pop("protocol") == PROTOCOL, "every answer says its protocol"
    return answer


def test_the_agent_finds_the_engine_where_the_layout_writes_its_connection_file(tmp_path: Path) -> None:
    files = ProjectFiles(tmp_path / "project")
    assert agent("engine", tmp_path)["engine"] is None
    files.connection.parent.mkdir(parents=True)
    info = {"url": "http://127.0.0.1:1", "token": "t", "pid": os.getpid()}  # a live pid: this test's
    files.connection.write_text(json.dumps(info))
    assert agent("engine", tmp_path)["engine"] == info


def test_one_promote_at_a_time_and_the_lock_says_who_holds_it(tmp_path: Path) -> None:
    first = {"holder": "ana@laptop", "command": "promote", "token": "a"}
    assert agent("lock", tmp_path, given=first) == {"locked": True}
    second = agent("lock", tmp_path, given={"holder": "bo@desk", "command": "rollback", "token": "b"})
    assert second["locked"] is False
    assert (second["held"]["holder"], second["held"]["command"]) == ("ana@laptop", "promote")
    assert agent("unlock", tmp_path, "b")["released"] is False, "only its holder gives it back"
    assert agent("unlock", tmp_path, "a")["released"] is True
    assert agent("lock", tmp_path, given={"holder": "bo@desk", "token": "b"}) == {"locked": True}
    assert agent("unlock", tmp_path)["released"] is True, "--lock release: a stale one, whoever held it"
    assert agent("lock-status", tmp_path) == {"held": None}


def test_pruning_keeps_the_releases_that_served_never_a_failed_one_in_their_place(tmp_path: Path) -> None:
    releases = tmp_path / ".promote" / "releases"
    releases.mkdir(parents=True)
    outcomes = {"r1": "live", "r2": "live", "r3": "failed", "r4": "failed", "r5": "live"}
    for release, outcome in outcomes.items():
        (releases / f"{release}.json").write_text(json.dumps({"id": release, "files": {}, "deployments": {}}))
        agent("outcome", tmp_path, release, outcome, given={"by": "ana@laptop"})
    history = agent("history", tmp_path)["history"]
    assert {r: h["outcome"] for r, h in history.items()} == {
        "r1": "superseded", "r2": "superseded", "r3": "failed", "r4": "failed", "r5": "live",
    }  # fmt: skip

    pruned = agent("prune", tmp_path, "r5", "2")["pruned"]

    assert pruned == ["r1", "r3", "r4"], "keep_releases 2: the two last that served, failed ones out"
    assert agent("history", tmp_path)["releases"] == ["r2", "r5"]
    assert agent("history", tmp_path)["history"]["r3"]["pruned"] is True, "its record stays"
    assert agent("prune", tmp_path, "r5", "1")["pruned"] == ["r2"]


def test_an_engine_start_tells_what_this_start_said_not_the_earlier_ones(tmp_path: Path) -> None:
    workbench = tmp_path / ".promote" / "venv" / "bin" / "workbench"
    workbench.parent.mkdir(parents=True)
    counter = tmp_path / "starts"
    workbench.write_text(
        f'#!/bin/sh\necho x >> {counter}\necho "start number $(/usr/bin/wc -l < {counter})"\n'
    )
    workbench.chmod(0o755)
    said = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", AGENT_SOURCE, "start", str(tmp_path), "process"],
            env={"PATH": "/nonexistent"},  # no systemctl, no crontab: nothing set up at boot here
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        said.append(json.loads(done.stdout)["said"])
    assert said == [["start number 1"], ["start number 2"]]


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/cron.d/x", ".workbench/state.json", "a/../../b"])
def test_a_release_naming_a_path_outside_the_project_is_refused(tmp_path: Path, path: str) -> None:
    digest = "ab" * 32
    blob = tmp_path / ".promote" / "blobs" / digest[:2] / digest
    blob.parent.mkdir(parents=True)
    blob.write_text("x")
    release = {"id": "r1", "files": {path: [digest, 1, False]}, "deployments": {}}
    refused = subprocess.run(
        [sys.executable, "-c", AGENT_SOURCE, "record", str(tmp_path)],
        input=json.dumps(release),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert refused.returncode != 0
    assert f"names {path}, outside the project: refused" in refused.stderr
    (tmp_path / ".promote" / "releases").mkdir()
    (tmp_path / ".promote" / "releases" / "r1.json").write_text(json.dumps(release))  # written by hand
    activated = subprocess.run(
        [sys.executable, "-c", AGENT_SOURCE, "activate", str(tmp_path), "r1"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert activated.returncode != 0
    assert not (tmp_path / "outside.txt").exists()
    assert not (tmp_path / "project" / ".workbench").exists()


def test_secrets_are_kept_in_the_engines_folder_mode_0600_and_never_said_back(tmp_path: Path) -> None:
    said = agent("secrets", tmp_path, given={"TEAM_KEY": "s3cr3t"})
    assert said == {"changed": True, "count": 1}
    path = ProjectFiles(tmp_path / "project").secrets
    assert json.loads(path.read_text()) == {"TEAM_KEY": "s3cr3t"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert agent("secrets", tmp_path, given={"TEAM_KEY": "s3cr3t"})["changed"] is False
    assert agent("secrets", tmp_path, given={"TEAM_KEY": "rotated"})["changed"] is True


def test_an_answer_in_another_protocol_or_malformed_is_refused_with_its_verb() -> None:
    """What something else on the host might print in the agent's place."""
    with pytest.raises(PromoteError, match="engine was answered in protocol 1, and this workbench's agent"):
        checked("staging", "engine", {"protocol": 1, "engine": None})
    with pytest.raises(PromoteError, match="answer to history is not a JSON object"):
        checked("staging", "history", ["r1"])
    data = checked("staging", "start", {"protocol": PROTOCOL, "exit_code": "0"})
    with pytest.raises(PromoteError, match="answer to start has no valid 'exit_code'"):
        field_of("staging", "start", data, "exit_code", int)
