"""What every azlocal command works with: its workspace (`-w`, else `azlocal configure --defaults
workspace=NAME`, else "local"), the workspace's engine (started in the background on first use,
as a folder's is by `workbench up --detach`), and the waits that make a command block until what
it asked for is done, as `az ml` blocks unless given `--no-wait`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from workbench.azlocal import defaults
from workbench.azlocal.shapes import Where
from workbench.cli.background import EngineArguments, running_engine, start_background_engine
from workbench.client import EngineClient
from workbench.errors import EngineError, NotFound, WorkbenchError
from workbench.spec.project import Project
from workbench.state import DeploymentState, EndpointState, InstancePhase, ProvisioningState
from workbench.workspace.folder import DEFAULT_NAME, Change, Workspace

WAIT_TIMEOUT_S = 900.0
"""Long enough for a first environment build."""
POLL_S = 0.1
SETTLED = (ProvisioningState.SUCCEEDED, ProvisioningState.FAILED)


class Context:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        chosen = defaults.read()
        self.workspace = Workspace(
            getattr(args, "workspace_name", None) or chosen.get("workspace") or DEFAULT_NAME
        )
        self._group = getattr(args, "resource_group", None) or chosen.get("group")
        self._location = chosen.get("location")
        self._client: EngineClient | None = None

    def where(self) -> Where:
        self.workspace.create(self._group, self._location)
        info = self.workspace.info()
        return Where(self.workspace.name, info["resource_group"], info["location"], info.get("resources", {}))

    def project(self) -> Project:
        self.workspace.create(self._group, self._location)
        return self.workspace.project()

    def engine(self) -> EngineClient:
        """The workspace's engine, started if it is not running."""
        if self._client is not None:
            return self._client
        self.workspace.create(self._group, self._location)
        client = running_engine(self.workspace.root)
        if client is None:
            progress(f"starting the engine of workspace {self.workspace.name}")
            start_background_engine(self.workspace.root, EngineArguments())
            client = running_engine(self.workspace.root)
            if client is None:
                raise EngineError(f"the engine of workspace {self.workspace.name} did not start")
        self._client = client
        return client

    def applied(self, change: Change, cause: str, *, warn: bool = True) -> None:
        """After a change is written: the engine reads it and starts applying it (--no-wait or
        not: what is left to wait for is the deployments' state). `warn`: say what the check
        found short of an error in the files written."""
        for warning in change.warnings if warn else []:
            print(f"WARNING: {warning.format()}", file=sys.stderr)
        problems = self.engine().reconcile(f"azlocal: {cause}", wait=True)
        if problems:
            raise WorkbenchError("the engine did not apply the change:\n" + "\n".join(problems))

    def endpoint_file(self, name: str | None, option: str = "--name/-n") -> Path:
        """The staged file of an endpoint that exists: az's errors for none given or none there."""
        if not name:
            raise Missing(option)
        path = self.workspace.endpoint_file(name)
        if not self.workspace.exists or not path.is_file():
            raise not_found("Online endpoint", name, self.workspace.name)
        return path

    def endpoint_state(self, endpoint: str) -> EndpointState | None:
        return next((e for e in self.engine().status() if e.name == endpoint), None)

    def deployment_state(self, endpoint: str, deployment: str) -> DeploymentState | None:
        state = self.endpoint_state(endpoint)
        return next((d for d in state.deployments if d.name == deployment), None) if state else None

    def wait_for_endpoint(self, endpoint: str) -> None:
        self._wait(lambda: _settled(self.endpoint_state(endpoint)), f"endpoint {endpoint}")

    def wait_for_deployment(self, endpoint: str, deployment: str) -> DeploymentState:
        """Until the deployment has succeeded or failed; a failure is an error, as Azure's."""
        seen: list[str] = []

        def settled() -> DeploymentState | None:
            state = self.deployment_state(endpoint, deployment)
            if state is None:
                return None
            ready = sum(1 for i in state.instances if i.serves)
            phase = state.provisioning_state.value
            line = f"{endpoint}/{deployment}: {phase} ({ready}/{state.instance_count} ready)"
            if not seen or seen[-1] != line:
                seen.append(line)
                progress(line)
            return state if state.provisioning_state in SETTLED else None

        state: DeploymentState = self._wait(settled, f"deployment {deployment} of {endpoint}")
        if state.provisioning_state is ProvisioningState.FAILED:
            raise DeploymentFailed(
                f"(ResourceNotReady) deployment {deployment} of endpoint {endpoint} failed: "
                f"{state.reason or 'see its logs'}\nLogs: azlocal ml online-deployment get-logs "
                f"-e {endpoint} -n {deployment} --lines 100"
            )
        return state

    def redeploy(self, endpoint: str, deployment: str) -> DeploymentState:
        """An update that changes nothing in the YAML: Azure deploys it again all the same, with
        its model and code staged again. Here they are staged again and reloaded in place, and a
        failed deployment's instances start afresh; then as `wait_for_deployment`."""
        client = self.engine()
        before = self.deployment_state(endpoint, deployment)
        assert before is not None
        client.reload(endpoint, deployment)
        self._wait(
            lambda: _reloaded(self.deployment_state(endpoint, deployment), before.reloads), "the reload"
        )
        if before.provisioning_state is ProvisioningState.FAILED:
            restarts = {i.id: i.restarts for i in before.instances}
            client.restart_all(endpoint, deployment)
            self._wait(
                lambda: _restarted(self.deployment_state(endpoint, deployment), restarts), "the restart"
            )
        return self.wait_for_deployment(endpoint, deployment)

    def wait_until_gone(self, endpoint: str, deployment: str | None = None) -> None:
        def gone() -> bool | None:
            if deployment is None:
                return True if self.endpoint_state(endpoint) is None else None
            return True if self.deployment_state(endpoint, deployment) is None else None

        self._wait(gone, f"{'deployment ' + deployment if deployment else 'endpoint ' + endpoint} to go")

    def _wait(self, check: Any, what: str) -> Any:
        deadline = time.monotonic() + WAIT_TIMEOUT_S
        while time.monotonic() < deadline:
            found = check()
            if found is not None:
                return found
            time.sleep(POLL_S)
        raise WorkbenchError(
            f"waited {WAIT_TIMEOUT_S:.0f} s for {what}; `workbench status --workspace "
            f"{self.workspace.name}` shows why"
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class Missing(WorkbenchError):
    """Arguments a command needs and was not given (az's exit code 2)."""

    def __init__(self, names: str) -> None:
        super().__init__(f"the following arguments are required: {names}")


class DeploymentFailed(WorkbenchError):
    """A deployment that ended Failed, as Azure's ResourceNotReady."""


def _reloaded(state: DeploymentState | None, reloads: int) -> bool | None:
    return True if state is not None and state.reloads > reloads else None


def _restarted(state: DeploymentState | None, restarts: dict[str, int]) -> bool | None:
    """Every instance restarted since, and none still starting."""
    if state is None:
        return True
    fresh = all(
        i.restarts > restarts.get(i.id, -1) and i.state is not InstancePhase.STARTING for i in state.instances
    )
    return True if fresh else None


def _settled(state: EndpointState | None) -> EndpointState | None:
    return state if state is not None and state.provisioning_state in SETTLED else None


def progress(line: str) -> None:
    """A line about a long step, on stderr (stdout is the command's result, for scripts)."""
    print(line, file=sys.stderr, flush=True)


def not_found(kind: str, name: str, workspace: str) -> NotFound:
    return NotFound(f"{kind} {name} not found in workspace {workspace}")
