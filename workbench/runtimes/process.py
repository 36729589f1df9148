"""Instances as child processes: the workbench server in the deployment's environment.

Each instance runs in its own session (process group), so stopping it also stops its worker
processes, and a crashed engine's instances can be found and stopped by group. Its output comes
through a pipe into a log bounded as it is written (workbench/logfile.py): a chatty `run()`
never fills the disk, and a full disk never fails a request. Its instance type's memory and CPUs
are enforced by control groups where the engine can make them (cgroups.py), else its memory is
polled (`limits` says which).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

import psutil

from workbench.logfile import BoundedLog, start_pump
from workbench.runtimes.base import InstanceSpec, OnTheHost, RunningInstance
from workbench.runtimes.cgroups import Cgroups, InstanceGroup

MEMORY_POLL_S = 0.5
PUMP_DRAIN_S = 5.0
"""How long the output of an instance that has ended may take to reach its log."""


class ProcessRuntime(OnTheHost):
    kind = "process"

    def __init__(self, *, use_cgroups: bool = True) -> None:
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._logs: dict[str, tuple[BoundedLog, threading.Thread]] = {}
        self._groups: dict[str, InstanceGroup] = {}
        self._can_mount: bool | None = None
        self.cgroups: Cgroups | None = Cgroups.find() if use_cgroups else None
        """Where instances' limits are enforced; None: memory polled, CPU not bounded."""

    @property
    def limits(self) -> str:
        """How an instance type's memory and CPUs are enforced, in words."""
        if self.cgroups is not None:
            return f"memory and CPUs by {self.cgroups.describe}"
        return "memory by polling every 0.5 s (no cgroups this engine may make), CPUs not bounded"

    async def start(self, spec: InstanceSpec) -> RunningInstance:
        spec.log_file.parent.mkdir(parents=True, exist_ok=True)
        command = [str(spec.python), "-m", "workbench.server", "--port", str(spec.port)]
        command += spec.server_arguments
        if spec.read_only:
            if self._can_mount is None:
                self._can_mount = await mount_namespaces()
            if self._can_mount:  # else the files' mode (0444) keeps every user but root out
                command = read_only_command(spec.read_only, command)
        group = self._group(spec)
        if group is not None:
            command = group.command(command)
        log = BoundedLog(spec.log_file)
        reader, writer = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                cwd=spec.app_root,
                env=dict(spec.environment),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=writer,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        except BaseException:
            os.close(reader)
            log.close()
            if group is not None:
                group.remove()
            raise
        finally:
            os.close(writer)  # the instance and its workers hold it now: the pipe ends with them
        self._processes[spec.name] = process
        self._logs[spec.name] = (log, start_pump(reader, log, spec.name))
        return RunningInstance(spec, process.pid, f"http://127.0.0.1:{spec.port}")

    async def stop(self, instance: RunningInstance, grace_s: float = 5.0) -> None:
        """SIGTERM to the instance's process group, SIGKILL after `grace_s`; then SIGKILL to the
        group whatever happened, since workers forked by a parent that was killed (or OOM-killed)
        live on in its group."""
        process = self._processes.pop(instance.spec.name, None)
        if process is None:
            return
        try:
            if process.returncode is None:
                _signal_group(process.pid, signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), grace_s)
                except asyncio.TimeoutError:
                    _signal_group(process.pid, signal.SIGKILL)
                    await process.wait()
        finally:  # cancelled during the grace too: what was told to end is never left running
            _signal_group(process.pid, signal.SIGKILL)

    async def kill(self, instance: RunningInstance) -> None:
        process = self._processes.get(instance.spec.name)
        if process is not None and process.returncode is None:
            _signal_group(process.pid, signal.SIGKILL)

    async def wait(self, instance: RunningInstance) -> int:
        process = self._processes[instance.spec.name]
        log, pumping = self._logs[instance.spec.name]
        group = self._groups.get(instance.spec.name)
        watch = None
        if instance.spec.memory_bytes and group is None:
            watch = asyncio.ensure_future(_hold_to_memory(process, instance, log))
        try:
            code = await process.wait()
        finally:
            if watch is not None:
                watch.cancel()
        # The parent has gone: its workers must not go on answering on its port.
        _signal_group(process.pid, signal.SIGKILL)
        if group is not None and group.oom_killed():
            instance.oom_killed = True
            log.write(_oom_line(instance.spec, None))
        await asyncio.to_thread(pumping.join, PUMP_DRAIN_S)  # its last words, before they are read
        log.close()
        self._logs.pop(instance.spec.name, None)
        if group is not None:
            await _until_empty(group)
            self._groups.pop(instance.spec.name, None)
        return code

    def _group(self, spec: InstanceSpec) -> InstanceGroup | None:
        """The instance's control group with its limits, or None (none asked, or none to be had)."""
        if self.cgroups is None or not (spec.memory_bytes or spec.cpus):
            return None
        try:
            group = self.cgroups.make(spec.name, spec.memory_bytes, spec.cpus)
        except OSError:
            return None  # the kernel refused this one: the memory is polled instead
        self._groups[spec.name] = group
        return group


async def _hold_to_memory(
    process: asyncio.subprocess.Process, instance: RunningInstance, log: BoundedLog
) -> None:
    """Where no control group can be made: the resident memory of the instance's process group
    (the server and its workers) is checked every MEMORY_POLL_S; past the limit the group is
    killed and the log says OOMKilled, as Docker's limit does (after the fact, unlike it)."""
    spec = instance.spec
    assert spec.memory_bytes is not None
    while True:
        await asyncio.sleep(MEMORY_POLL_S)
        used = await asyncio.to_thread(_group_memory, process.pid)
        if used > spec.memory_bytes:
            instance.oom_killed = True
            log.write(_oom_line(spec, used))
            _signal_group(process.pid, signal.SIGKILL)
            return


def _oom_line(spec: InstanceSpec, used: int | None) -> bytes:
    assert spec.memory_bytes is not None
    measured = f"{used / 2**30:.2f} GiB used, " if used is not None else ""
    return (
        f"OOMKilled: the instance went over its memory limit ({measured}{spec.memory_bytes / 2**30:.1f} "
        "GiB from the instance type; `memory_limit: false` in workbench.yaml lifts it)\n"
    ).encode()


async def _until_empty(group: InstanceGroup) -> None:
    """Remove the group once the kernel has let go of its last process (a moment after SIGKILL)."""
    for _ in range(50):
        group.remove()
        if not any(folder.exists() for folder in group.folders):
            return
        await asyncio.sleep(0.02)


def _group_memory(pgid: int) -> int:
    """Resident bytes of the processes in a process group."""
    try:
        parent = psutil.Process(pgid)
        members = [parent, *parent.children(recursive=True)]
    except psutil.Error:
        return 0
    used = 0
    for member in members:
        with contextlib.suppress(psutil.Error):
            if os.getpgid(member.pid) == pgid:
                used += member.memory_info().rss
    return used


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


READ_ONLY_MOUNTS = """
set -e
count=$1; shift
while [ "$count" -gt 0 ]; do
  mount --bind "$1" "$1"
  mount -o remount,bind,ro "$1" "$1"
  shift; count=$((count - 1))
done
exec "$@"
"""
"""Run inside a private mount namespace: each folder bound over itself read-only, then the server
(the same process, so its pid and process group are the instance's)."""


def read_only_command(folders: tuple[Path, ...], command: list[str]) -> list[str]:
    """`command` in its own mount namespace with `folders` bound read-only."""
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", READ_ONLY_MOUNTS,
            "sh", str(len(folders)), *map(str, folders), *command]  # fmt: skip


async def mount_namespaces() -> bool:
    """Whether this process may give a child a private mount namespace with a read-only bind
    mount (root on Linux, where the kernel and its sandbox allow it): tried, not guessed."""
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    with tempfile.TemporaryDirectory() as folder:
        probe = await asyncio.create_subprocess_exec(
            *read_only_command((Path(folder),), ["true"]),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return await probe.wait() == 0
