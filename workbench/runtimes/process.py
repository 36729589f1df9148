"""Instances as child processes: the workbench server in the deployment's environment.

Each instance runs in its own session (process group), so stopping it also stops its worker
processes, and a crashed engine's instances can be found and stopped by group.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from workbench.runtimes.base import InstanceSpec, OnTheHost, RunningInstance


class ProcessRuntime(OnTheHost):
    kind = "process"

    def __init__(self) -> None:
        self._processes: dict[str, asyncio.subprocess.Process] = {}

    async def start(self, spec: InstanceSpec) -> RunningInstance:
        spec.log_file.parent.mkdir(parents=True, exist_ok=True)
        with spec.log_file.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                str(spec.python),
                "-m",
                "workbench.server",
                "--port",
                str(spec.port),
                *spec.server_arguments,
                cwd=spec.app_root,
                env=dict(spec.environment),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        self._processes[spec.name] = process
        return RunningInstance(spec, process.pid, f"http://127.0.0.1:{spec.port}")

    async def stop(self, instance: RunningInstance, grace_s: float = 5.0) -> None:
        """SIGTERM to the instance's process group, SIGKILL after `grace_s`; then SIGKILL to the
        group whatever happened, since workers forked by a parent that was killed (or OOM-killed)
        live on in its group."""
        process = self._processes.pop(instance.spec.name, None)
        if process is None:
            return
        if process.returncode is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), grace_s)
            except asyncio.TimeoutError:
                _signal_group(process.pid, signal.SIGKILL)
                await process.wait()
        _signal_group(process.pid, signal.SIGKILL)

    async def wait(self, instance: RunningInstance) -> int:
        process = self._processes[instance.spec.name]
        code = await process.wait()
        # The parent has gone: its workers must not go on answering on its port.
        _signal_group(process.pid, signal.SIGKILL)
        return code


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)
