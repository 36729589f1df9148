"""A deployment's instance under the debugger: restarted with debugpy listening (init() waiting
for it when asked), and VS Code's attach configuration written with the code folder mapped to
where the instance runs it; again: restarted without it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from workbench.contract import DebugSession
from workbench.dev.vscode import attach_configuration, write_attach_configuration
from workbench.errors import EngineError
from workbench.state import EventKind

if TYPE_CHECKING:
    from workbench.engine.deployments import DeploymentRunner


async def debug(runner: DeploymentRunner, instance_id: str, *, wait: bool) -> DebugSession:
    """Run one instance under the debugger and write VS Code's attach configuration for it:
    where debugpy listens and how the code folder maps to where the instance runs it."""
    instance = runner.instance(instance_id)
    generation = instance.generation
    code = generation.spec.code_configuration
    if generation.settings.server == "azmlinfsrv":
        raise EngineError(f"{runner.subject} runs azmlinfsrv: `workbench debug` needs the workbench server")
    if code is None:
        raise EngineError(f"{runner.subject} has no code_configuration: there is no Python code to debug")
    async with runner.lock:
        debugging = await instance.debug(wait=wait)
    seen = generation.runtime.place(
        generation.folder, generation.folder / code.code.name, None, runner.ctx.files.server_code, Path("/")
    )
    # the code folder as the instance sees it: in a container, where Azure mounts it
    configuration = attach_configuration(
        f"{runner.endpoint}/{instance_id}", debugging.port, code.code.resolve(), Path(seen.app_root)
    )
    written = write_attach_configuration(runner.ctx.files.project, configuration)
    runner.ctx.store.publish(
        EventKind.DEBUG,
        f"{runner.endpoint}/{instance_id}",
        f"debugpy on 127.0.0.1:{debugging.port}"
        + ("; init() waits for a debugger" if wait else "")
        + (f"; VS Code: '{configuration['name']}' in {written}" if written else ""),
    )
    return DebugSession("127.0.0.1", debugging.port, wait, configuration, str(written) if written else None)


async def stop_debugging(runner: DeploymentRunner, instance_id: str) -> None:
    instance = runner.instance(instance_id)
    async with runner.lock:
        await instance.stop_debugging()
