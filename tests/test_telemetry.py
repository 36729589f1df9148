"""CPU and memory of an instance counted with its descendants, sample after sample: a busy
worker (or a busy child of the server) shows as the instance's CPU, not as 0 %."""

from __future__ import annotations

import subprocess
import sys
import time

from workbench.telemetry.processes import ProcessSampler

BUSY = "import time\\nend = time.monotonic() + 60\\nwhile time.monotonic() < end: pass"
PARENT = f"""
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "{BUSY}"])
print(child.pid, flush=True)
time.sleep(60)
"""


def test_a_busy_child_counts_as_its_parents_cpu_from_one_sample_to_the_next() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        parent.stdout.readline()  # the child runs
        sampler = ProcessSampler()
        readings = []
        for _ in range(5):  # as the control API samples: every instance, then forget the rest
            figures = sampler.sample(parent.pid)
            sampler.forget_unseen()
            assert figures is not None
            readings.append(figures)
            time.sleep(0.5)  # between two polls of the dashboard: the interval psutil measures
        assert all(r.processes == 2 for r in readings)
        assert max(r.cpu_percent for r in readings[1:]) > 20  # the child's busy loop, counted
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
