"""CPU and memory of an instance counted with its descendants, sample after sample: a busy
worker (or a busy child of the server) shows as the instance's CPU, not as 0 %."""

from __future__ import annotations

import functools
import subprocess
import sys

import psutil

from tests.engine.harness import until
from workbench.telemetry.processes import ProcessSampler

BUSY = "import time\\nend = time.monotonic() + 60\\nwhile time.monotonic() < end: pass"
PARENT = f"""
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "{BUSY}"])
print(child.pid, flush=True)
sys.stdin.read()  # until the test closes it
"""


def test_a_busy_child_counts_as_its_parents_cpu_from_one_sample_to_the_next() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    child: list[psutil.Process] = []
    try:
        assert parent.stdout is not None
        child.append(psutil.Process(int(parent.stdout.readline())))  # the child runs
        sampler = ProcessSampler()
        readings = []
        for _ in range(5):  # as the control API samples: every instance, then forget the rest
            figures = sampler.sample(parent.pid)
            sampler.forget_unseen()
            assert figures is not None
            readings.append(figures)
            until(functools.partial(_ran, child[0], _cpu_s(child[0]) + 0.1), 30)  # psutil's interval
        assert all(r.processes == 2 for r in readings)
        assert max(r.cpu_percent for r in readings[1:]) > 20  # the child's busy loop, counted
    finally:
        for stream in (parent.stdin, parent.stdout):
            if stream is not None:
                stream.close()
        parent.kill()
        parent.wait()
        for process in child:  # orphaned by its parent's end: it would spin for a minute
            process.kill()


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _ran(process: psutil.Process, seconds: float) -> bool:
    """Whether `process` has used more than `seconds` of CPU in all."""
    return _cpu_s(process) > seconds
