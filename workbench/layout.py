"""Where the workbench keeps its files in a project: the `.workbench/` folder, spelled here only.

.workbench/              mode 0700: the user's alone
  connection.json        control URL, token and engine pid (mode 0600)
  state.json             keys, ports, traffic overrides: what must survive a restart
  instances.json         pids of running instances, to stop orphans after a crash
  engine.log             what a background engine said
  server/                the inference server's code, for instance environments
  staged/<ep>/<dep>/     model and code, laid out as Azure lays them out
  blobs/                 read-only copies of model files by content, linked into staged/
  generated/<ep>/<dep>/  what the workbench writes as Azure would (a no-code scoring script)
  collected/<ep>/<dep>/<collection>/<yyyy>/<MM>/<dd>/<HH>/data.jsonl   data collection
  logs/<ep>/<dep>/...    storage-initializer, build and per-instance inference-server logs
  logs/<ep>/router.access.log   the endpoint's access log
  tls/                   a self-signed certificate for a listen address that is not loopback
  promote-digests.json   the project's file digests by size and time, for promote
  secrets.json           on a promote's host: the values of workbench.yaml's {env: NAME} secrets,
                         sent over SSH by promote, never in a release (mode 0600)
  recordings/            requests recorded for a replay (`workbench record`), mode 0600
"""

from __future__ import annotations

from pathlib import Path

FOLDER = ".workbench"
OUTPUT_MARK = ".workbench-output"
"""In a folder the workbench writes for the user (an export): what is there is never uploaded,
staged or shipped by promote, though the folder sits in the project (its keys included)."""


def mark_as_output(folder: Path) -> None:
    (folder / OUTPUT_MARK).write_text(
        "written by the endpoint workbench: never staged, uploaded or promoted from here\n"
    )


CONNECTION = Path(FOLDER) / "connection.json"
"""The running engine's connection file, relative to the project."""


class ProjectFiles:
    def __init__(self, project_root: Path) -> None:
        self.project = project_root
        self.root = project_root / FOLDER

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

    @property
    def engine_log(self) -> Path:
        return self.root / "engine.log"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def recordings(self) -> Path:
        return self.root / "recordings"

    @property
    def rollouts(self) -> Path:
        """`workbench rollout`'s reports, one JSON file per rollout."""
        return self.root / "rollouts"

    @property
    def secrets(self) -> Path:
        """Values of `{env: NAME}` secrets that promote sent to this host (agent.py writes it)."""
        return self.root / "secrets.json"

    @property
    def promote_digests(self) -> Path:
        return self.root / "promote-digests.json"

    def build_log(self, endpoint: str, deployment: str) -> Path:
        return self.logs(endpoint, deployment) / "build.log"
