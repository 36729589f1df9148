"""The engine's files in the project's `.workbench/` folder, written atomically.

.workbench/
  connection.json        control URL, token and engine pid (mode 0600)
  state.json             keys, ports, traffic overrides: what must survive a restart
  instances.json         pids of running instances, to stop orphans after a crash
  server/                the inference server's code, for instance environments
  staged/<ep>/<dep>/     model and code, laid out as Azure lays them out
  blobs/                 read-only copies of model files by content, linked into staged/
  collected/<ep>/<dep>/<collection>/<yyyy>/<MM>/<dd>/<HH>/data.jsonl   data collection
  logs/<ep>/<dep>/...    storage-initializer, build and per-instance inference-server logs
  logs/<ep>/router.access.log   the endpoint's access log
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


class ProjectFiles:
    def __init__(self, project_root: Path) -> None:
        self.project = project_root
        self.root = project_root / ".workbench"

    @property
    def connection(self) -> Path:
        return self.root / "connection.json"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def instances(self) -> Path:
        return self.root / "instances.json"

    @property
    def blobs(self) -> Path:
        """Read-only copies of model files, by content, that staged models link to."""
        return self.root / "blobs"

    def generated(self, endpoint: str, deployment: str) -> Path:
        """What the workbench writes for a deployment, as Azure generates it (a no-code scoring script)."""
        return self.root / "generated" / endpoint / deployment

    @property
    def collected(self) -> Path:
        """What deployments' data collectors collected, laid out as Azure's blob storage."""
        return self.root / "collected"

    @property
    def server_code(self) -> Path:
        return self.root / "server"

    @property
    def debugger(self) -> Path:
        """debugpy alone, for the PYTHONPATH of instances under the debugger."""
        return self.root / "debugger"

    def staged(self, endpoint: str, deployment: str) -> Path:
        return self.root / "staged" / endpoint / deployment

    def logs(self, endpoint: str, deployment: str) -> Path:
        return self.root / "logs" / endpoint / deployment

    def access_log(self, endpoint: str) -> Path:
        """The router's log; beside the deployments' folders, so no deployment name can clash."""
        return self.root / "logs" / endpoint / "router.access.log"

    def instance_log(self, endpoint: str, deployment: str, instance: str) -> Path:
        return self.logs(endpoint, deployment) / instance / "inference-server.log"


def write_json(path: Path, data: Any, *, private: bool = False) -> None:
    """Write whole or not at all: a temporary file in the same folder, fsynced, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        if private:
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump(data, file, indent=2)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default
    except (OSError, ValueError):
        return default
