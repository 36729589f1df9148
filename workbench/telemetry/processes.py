"""CPU and memory of instances, each counted with its worker processes.

psutil measures CPU use between two calls on the same process object, so the sampler keeps those
objects from one sample to the next; the first sample of a new process reads 0 %.
"""

from __future__ import annotations

import contextlib

import psutil

from workbench.contract import ProcessFigures


class ProcessSampler:
    def __init__(self) -> None:
        self._known: dict[int, psutil.Process] = {}
        self._seen: set[int] = set()
        """Processes sampled since the last `forget_unseen`: roots and their descendants."""

    def sample(self, pid: int) -> ProcessFigures | None:
        """The process and its descendants; None when it is gone."""
        try:
            root = self._process(pid)
            family = [root, *root.children(recursive=True)]
        except psutil.Error:
            return None
        cpu, rss, alive = 0.0, 0, 0
        for process in family:
            with contextlib.suppress(psutil.Error):
                tracked = self._process(process.pid)
                self._seen.add(process.pid)
                cpu += tracked.cpu_percent(None)
                rss += tracked.memory_info().rss
                alive += 1
        return ProcessFigures(round(cpu, 1), rss, alive)

    def forget_unseen(self) -> None:
        """Drop the processes not sampled since the last call (stopped instances, ended workers).
        Workers are kept with their instance: a process forgotten and found again reads 0 %."""
        for pid in list(self._known):
            if pid not in self._seen:
                del self._known[pid]
        self._seen = set()

    def _process(self, pid: int) -> psutil.Process:
        process = self._known.get(pid)
        if process is None or not process.is_running():
            process = psutil.Process(pid)
            process.cpu_percent(None)
            self._known[pid] = process
        return process
