"""Orphan cleanup signals only what it can prove is the workbench's: a recorded process group is
stopped when its processes carry the instance's mark, and a foreign program that holds the
recorded pid now (pids wrap) is left alone. Real processes."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import psutil

from tests.engine.harness import until
from workbench.engine.files import write_json
from workbench.engine.generation import INSTANCE_MARK
from workbench.engine.orphans import ProcessRegistry


def started(environment: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["sleep", "300"], start_new_session=True, env={**os.environ, **(environment or {})}
    )


def test_a_foreign_process_holding_a_recorded_pid_is_left_alone(tmp_path: Path) -> None:
    foreign = started()
    ours = started({INSTANCE_MARK: "blue-0@/project/.workbench/staged/x"})
    try:
        registry = tmp_path / "instances.json"
        earlier = time.time() - 60  # recorded before either started, as a wrapped pid would be
        write_json(
            registry,
            {
                "blue-0": {
                    "pid": ours.pid,
                    "created": earlier,
                    "mark": "blue-0@/project/.workbench/staged/x",
                },
                "green-0": {
                    "pid": foreign.pid,
                    "created": earlier,
                    "mark": "green-0@/project/.workbench/staged/y",
                },
            },
        )
        stopped = ProcessRegistry(registry).stop_orphans()
        assert stopped == ["blue-0"]
        until(lambda: ours.poll() is not None, 30)
        assert foreign.poll() is None
        assert psutil.Process(foreign.pid).is_running()
    finally:
        for process in (foreign, ours):
            process.kill()
            process.wait()
