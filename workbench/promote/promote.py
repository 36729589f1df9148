"""`workbench promote REMOTE`: the project, as it runs here, onto a remote host.

1. Preflight, before anything moves: the spec validates, SSH reaches the host, and the host has
   Python, the Docker engine, the disk for the project and GPUs where a deployment needs them.
2. Ship: the project's files by content, only those the host lacks (progress for large ones),
   and the workbench itself as a wheel, installed there once per version.
3. Run: the release is recorded, then applied to the remote project; the engine there is
   started detached (and set to come back with the host), or, already running, asked to apply
   the new files: only changed deployments roll out, new instances ready before old ones stop,
   keys and ports kept.
4. Traffic from the spec, unless `--keep-traffic`.

Nothing lost: nothing in the remote project changes before every file of the new release is
there; a deployment that fails to roll out brings the previous release back (as Kamal's
rollback does), and `--rollback [RELEASE]` applies an earlier one by hand.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.client import EngineClient
from workbench.errors import PromoteError
from workbench.promote import releases
from workbench.promote.answers import EngineOnHost
from workbench.promote.host_agent import AGENT_SOURCE, RemoteHostAgent
from workbench.promote.manifest import FileEntry, Manifest, Plan, build_manifest, needs_gpus, plan
from workbench.promote.remote import RemoteEngineClient
from workbench.promote.ssh import Ssh, connected
from workbench.promote.wheel import build_wheel
from workbench.spec import Project
from workbench.spec.local import RemoteHost, is_loopback
from workbench.state import EndpointState, InstancePhase, ProvisioningState

Say = Callable[[str], None]
SPACE_FACTOR = 3
"""The files, a staged copy and room for the environments: what the host's disk must hold."""
SPACE_MARGIN = 1_000_000_000
RECONCILE_TIMEOUT_S = 120.0
ROLLOUT_TIMEOUT_S = 1800.0
PROGRESS_EVERY_S = 1.0
POLL_S = 0.1


def promote(
    project: Project,
    remote: RemoteHost,
    say: Say,
    *,
    dry_run: bool = False,
    keep_traffic: bool = False,
) -> int:
    project.raise_for_errors()
    with connected(remote) as ssh, tempfile.TemporaryDirectory(prefix="workbench-promote-") as scratch:
        agent = RemoteHostAgent(ssh)
        say(f"preflight: {remote.host} answers over SSH")
        wheel = build_wheel(Path(scratch))
        manifest = build_manifest(project, _sha256(wheel))
        for note in manifest.notes:
            say(f"ship: {note}")
        _preflight(agent, remote, manifest, needs_gpus(project), say)
        engine = agent.engine()
        held = agent.manifest(engine.current) if engine.current else None
        steps = plan(manifest, held)
        for line in steps.lines():
            say(line)
        secret_values = _env_secrets(project, remote)
        if secret_values:
            say(f"secrets: {len(secret_values)} {{env:}} value(s) sent over SSH, never in a release")
        if dry_run:
            sources, lacking = _lacking(agent, manifest, wheel)
            size = sum(sources[m].stat().st_size for m in lacking)
            say(f"ship: {len(lacking)} file(s), {size / 1e6:.1f} MB, what {remote.host} lacks of them")
            say(_engine_plan(engine, manifest, remote))
            holder = agent.held()
            if holder is not None:
                say(releases.held_by(remote, holder))
            return 0
        with releases.locked(agent, remote, "promote"):
            _ship(ssh, agent, manifest, wheel, say)
            agent.record(manifest.to_json())
            changed = {
                "create": steps.create,
                "update": steps.update,
                "delete": steps.delete,
                "files": len(steps.send),
            }
            releases.record(
                agent, manifest.id, "rolling out", **releases.provenance(project.root), changed=changed
            )
            if secret_values and agent.secrets(secret_values):
                say("secrets changed: the deployments that read them roll out")  # the engine sees it
            try:
                installed = agent.install(manifest.wheel, wheel.name)
                if installed:
                    say("the workbench is installed on the remote (its version is the one here)")
                _apply(
                    ssh, agent, remote, project=project, release=manifest.id, engine=engine, steps=steps,
                    say=say, restart=installed, keep_traffic=keep_traffic,
                )  # fmt: skip
            except PromoteError as exc:
                releases.record(agent, manifest.id, "failed", reason=str(exc)[:1000])
                raise
            releases.record(agent, manifest.id, "live")
            _prune(agent, remote, manifest.id, say)
    return 0


def _apply(
    ssh: Ssh,
    agent: RemoteHostAgent,
    remote: RemoteHost,
    *,
    project: Project,
    release: str,
    engine: EngineOnHost,
    steps: Plan,
    say: Say,
    restart: bool,
    keep_traffic: bool,
) -> None:
    """The release onto the host: the engine started on it (`restart`: the workbench there has
    changed, and a running engine restarts on it), or rolled out by the running engine (and the
    release before it brought back when that fails)."""
    previous, running = engine.current, engine.engine
    if running is not None and restart:
        say(
            "the workbench itself changed: the remote engine restarts on it (requests wait in its "
            "keeper's sockets, none is refused)"
        )
        with RemoteEngineClient(ssh, running, agent) as client:
            client.shutdown(restart=True)
        running = None
    if running is None:
        _activate(agent, release, say)
        _start(agent, remote, say)
        with RemoteEngineClient(ssh, _running(agent), agent) as client:
            failed = _settle(client, list(steps.create) + list(steps.update), say)
            if failed:
                raise PromoteError("deployments failed on the remote:\n" + "\n".join(failed))
            _traffic(client, project, keep_traffic, say)
            _tell(client, remote, say)
        return
    with RemoteEngineClient(ssh, running, agent) as client:
        failed = _roll_out(client, agent, release=release, steps=steps, say=say)
        if failed:
            if previous is not None:
                say(f"rolling back to release {previous}")
                _roll_out(client, agent, release=previous, steps=_changed_back(steps), say=say)
                releases.record(agent, previous, "live")
            raise PromoteError(
                "the rollout failed, the remote serves the previous release again:\n" + "\n".join(failed)
            )
        _traffic(client, project, keep_traffic, say)
        _tell(client, remote, say)


def rollback(remote: RemoteHost, release: str | None, say: Say, *, dry_run: bool = False) -> int:
    """Applies an earlier release that served again: the last before the current, or `release`;
    all or nothing (a rollback that fails brings the current release back, and says so). With
    `dry_run`, says what it would do and changes nothing."""
    with connected(remote) as ssh:
        agent = RemoteHostAgent(ssh)
        engine = agent.engine()
        current = engine.current
        release = releases.rollback_target(agent, remote, release)
        target, held = agent.manifest(release), agent.manifest(current) if current else None
        assert target is not None
        steps = plan(_as_manifest(target), held)
        if dry_run:
            say(f"would roll {remote.name} back from {current} to {release} (dry run: nothing changes)")
            for line in steps.lines():
                say(line)
            return 0
        with releases.locked(agent, remote, "rollback"):
            if engine.engine is None:
                _activate(agent, release, say)
                _start(agent, remote, say)
            else:
                with RemoteEngineClient(ssh, engine.engine, agent) as client:
                    failed = _roll_out(client, agent, release=release, steps=steps, say=say)
                    if failed and current is not None:
                        say(f"the rollback failed: bringing release {current} back")
                        _roll_out(client, agent, release=current, steps=_changed_back(steps), say=say)
                if failed:
                    releases.record(agent, release, "failed", reason=failed[0][:500])
                    raise PromoteError(
                        f"the rollback's rollout failed; {remote.name} serves {current} as before:\n"
                        + "\n".join(failed)
                    )
            releases.record(agent, release, "live")
            if current is not None:
                releases.record(agent, current, "rolled back")
        say(f"{remote.name} serves release {release}")
    return 0


def lock_command(remote: RemoteHost, action: str, say: Say) -> int:
    """`promote R --lock status|release`."""
    with connected(remote) as ssh:
        agent = RemoteHostAgent(ssh)
        if action == "status":
            say(releases.held_by(remote, agent.held()))
            return 0
        released = agent.unlock()
        if released.held is None:
            say(f"{remote.name} was not locked")
        else:
            held = released.held
            say(f"released {remote.name}'s lock, held by {held.get('holder')} ({held.get('command')})")
    return 0


def purge(remote: RemoteHost, say: Say) -> int:
    """`workbench down --remote R --purge`: the engine stopped, then what promote put on the host
    for this remote removed (folder, releases, venv, boot entry); images, shared by content with
    the host's other projects, stay (`docker image prune` there removes those nothing uses)."""
    with connected(remote) as ssh:
        agent = RemoteHostAgent(ssh)
        with releases.locked(agent, remote, "purge"):
            running = agent.engine().engine
            if running is not None:
                with RemoteEngineClient(ssh, running, agent) as client:
                    client.shutdown()
                say(f"the engine on {remote.host} stopped")
            removed = agent.purge()
    for item in removed:
        say(f"removed {item}")
    say("images stay: other projects share them by content (`docker image prune` removes unused ones)")
    return 0


def list_releases(remote: RemoteHost) -> list[str]:
    with connected(remote) as ssh:
        return releases.listed(RemoteHostAgent(ssh))


def _env_secrets(project: Project, remote: RemoteHost) -> dict[str, str]:
    """The values here of workbench.yaml's `{env: NAME}` secrets: the remote engine reads them
    from what promote sends over SSH (agent.py's `secrets`), as this engine reads them here."""
    names = sorted({s.env for s in project.settings.secrets.values() if s.env})
    missing = [n for n in names if n not in os.environ]
    if missing:
        raise PromoteError(
            f"secrets: {', '.join('$' + n for n in missing)} not set here: export them; promote sends "
            f"their values to {remote.name} over SSH, kept there apart from every release"
        )
    return {name: os.environ[name] for name in names}


def _prune(agent: RemoteHostAgent, remote: RemoteHost, live: str, say: Say) -> None:
    pruned = agent.prune(live, remote.keep_releases)
    if pruned:
        say(f"releases pruned (keep_releases {remote.keep_releases}): {', '.join(pruned)}")


# -- the steps ----------------------------------------------------------------------------------


def _preflight(agent: RemoteHostAgent, remote: RemoteHost, manifest: Manifest, gpus: bool, say: Say) -> None:
    needed = manifest.size * SPACE_FACTOR + SPACE_MARGIN
    report = agent.preflight(needed, remote.runtime, gpus)
    if report.problems:
        lines = "\n".join(f"  - {p}" for p in report.problems)
        raise PromoteError(f"preflight: {remote.host} cannot take the project yet:\n{lines}")
    say(
        f"preflight: Python {report.python}, {remote.runtime} runtime, "
        f"{report.free_bytes / 1e9:.1f} GB free at {report.folder}" + (", GPUs" if gpus else "")
    )


def _lacking(
    agent: RemoteHostAgent, manifest: Manifest, wheel: Path
) -> tuple[dict[tuple[str, bool], Path], list[tuple[str, bool]]]:
    """Every blob of the release with the file here that holds it, and those the host lacks."""
    sources: dict[tuple[str, bool], Path] = {(manifest.wheel, False): wheel}
    for relative, entry in manifest.files.items():
        sources.setdefault((entry.digest, entry.executable), manifest.sources[relative])
    return sources, agent.missing(list(sources))


def _running(agent: RemoteHostAgent) -> dict[str, Any]:
    """The engine the host runs now, which has just been started."""
    running = agent.engine().engine
    if running is None:
        raise PromoteError(f"the engine on {agent.host} stopped right after it started")
    return running


def _engine_plan(engine: EngineOnHost, manifest: Manifest, remote: RemoteHost) -> str:
    """What happens to the remote engine, as `--dry-run` says it."""
    if engine.engine is None:
        return f"engine: not running on {remote.host}: it starts, and serves once its deployments are ready"
    if engine.installed_wheel != manifest.wheel:
        if engine.kept:
            return (
                "engine: the workbench changed: the remote engine restarts on the new one; its keeper holds "
                "the ports, so requests wait while it restarts and none is refused"
            )
        return (
            "engine: the workbench changed: the remote engine restarts on the new one, and scoring stops "
            "while it restarts (it runs without a keeper: an older workbench started it)"
        )
    return "engine: keeps running: only the deployments above change, none of the others pauses"


def _ship(ssh: Ssh, agent: RemoteHostAgent, manifest: Manifest, wheel: Path, say: Say) -> None:
    """The blobs the host lacks, as one tar stream, with progress."""
    sources, missing = _lacking(agent, manifest, wheel)
    total = sum(sources[m].stat().st_size for m in missing)
    if not missing:
        say("ship: the remote has every file already")
        return
    say(f"ship: {len(missing)} file(s), {total / 1e6:.1f} MB")
    process = ssh.popen(
        ["python3", "-c", AGENT_SOURCE, "receive", agent.folder],
        stdin=-1,  # subprocess.PIPE
        stdout=-1,
        stderr=-1,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    sent = _Progress(total, say)
    failure: BaseException | None = None
    try:  # the agent reads all of its input before it says anything: no need for a second thread
        with tarfile.open(fileobj=_Counting(process.stdin, sent), mode="w|") as stream:
            for digest, executable in missing:
                path = sources[(digest, executable)]
                info = tarfile.TarInfo(digest + ("x" if executable else ""))
                info.size = path.stat().st_size
                with path.open("rb") as source:
                    stream.addfile(info, source)
    except (OSError, tarfile.TarError) as exc:
        failure = exc
    with contextlib.suppress(OSError):
        process.stdin.close()
    err = process.stderr.read()
    process.stdout.read()
    process.wait()
    if process.returncode != 0 or failure is not None:
        why = err.decode(errors="replace").strip() or str(failure or process.returncode)
        raise PromoteError(f"ship: sending the files failed, the remote project is unchanged: {why}")
    sent.done()


def _activate(agent: RemoteHostAgent, release: str, say: Say) -> None:
    result = agent.activate(release)
    say(f"release {release}: {result.changed} file(s) placed, {result.removed} removed")


def _start(agent: RemoteHostAgent, remote: RemoteHost, say: Say) -> None:
    say(f"starting the engine on {remote.host} ({remote.runtime} runtime)")
    listen = ["--listen", remote.address]
    if remote.tls_cert and remote.tls_key:
        listen += ["--tls-cert", remote.tls_cert, "--tls-key", remote.tls_key]
    started = agent.start(remote.runtime, listen, ROLLOUT_TIMEOUT_S)
    for line in started.said[-12:]:
        say(f"  {line}")
    if started.exit_code != 0 and agent.engine().engine is None:  # else deployments failed: said next
        raise PromoteError(
            f"the engine on {remote.host} did not come up (exit {started.exit_code}); "
            f"see `workbench logs ... --remote {remote.name}` or {remote.folder}/.promote/engine-start.log"
        )
    say(f"comes back with the host: {started.boot}")
    say("if the engine stops, its keeper starts it again; the scoring ports stay open meanwhile")


def _roll_out(
    client: EngineClient, agent: RemoteHostAgent, *, release: str, steps: Plan, say: Say
) -> list[str]:
    """Applies `release` to the running engine and waits for its deployments; what failed."""
    before = {f"{e.name}/{d.name}": d.reloads for e in client.status() for d in e.deployments}
    marker = _last_event(client)
    _activate(agent, release, say)
    client.reconcile(f"promote {release}")
    reconciled = _wait_event(client, marker, lambda m: m.startswith("reconciled:"), RECONCILE_TIMEOUT_S)
    say(f"remote engine {reconciled}")
    for name in steps.update:
        if name not in reconciled:  # the same spec, new code or model: reloaded in place
            endpoint, deployment = name.split("/", 1)
            client.reload(endpoint, deployment, if_changed=True)  # the file watcher may have reloaded it
            reloaded = functools.partial(_reloaded, client, name, before.get(name, 0))
            _wait(reloaded, RECONCILE_TIMEOUT_S, f"{name} to reload")
    return _settle(client, list(steps.create) + list(steps.update), say)


def _reloaded(client: EngineClient, name: str, before: int) -> bool:
    """Whether the deployment has finished a reload since it had finished `before` of them (a
    reload's words may repeat: the count does not)."""
    deployment = _deployment(client, name)
    return deployment is not None and deployment.reloads > before


def _settle(client: EngineClient, changed: list[str], say: Say) -> list[str]:
    """Waits until no deployment is creating or updating, and no changed one that had failed is
    starting again (a fix reloaded into a Failed deployment restarts its instances: their outcome,
    not the old failure, is the release's); what failed among `changed`."""
    busy = (ProvisioningState.CREATING, ProvisioningState.UPDATING)

    def settled() -> bool:
        for endpoint in client.status():
            for deployment in endpoint.deployments:
                if deployment.provisioning_state in busy:
                    return False
                retried = f"{endpoint.name}/{deployment.name}" in changed and any(
                    i.state is InstancePhase.STARTING for i in deployment.instances
                )
                if retried and deployment.provisioning_state is ProvisioningState.FAILED:
                    return False
        return True

    _wait(settled, ROLLOUT_TIMEOUT_S, "the deployments to settle")
    failed: list[str] = []
    for endpoint in client.status():
        for deployment in endpoint.deployments:
            name = f"{endpoint.name}/{deployment.name}"
            if name in changed and (
                deployment.provisioning_state is ProvisioningState.FAILED or deployment.failure is not None
            ):
                failed.append(f"{name}: {deployment.reason or deployment.last_reload}")
            else:
                say(f"{name}: {deployment.provisioning_state.value}")
    return failed


def _traffic(client: EngineClient, project: Project, keep: bool, say: Say) -> None:
    if keep:
        say("traffic kept as the remote had it (--keep-traffic)")
        return
    running = {e.name: e for e in client.status()}
    for endpoint in project.endpoints:
        wanted, mirror = dict(endpoint.spec.traffic), dict(endpoint.spec.mirror_traffic)
        if not (wanted or mirror):
            continue
        now = running.get(endpoint.name)
        if (
            now is not None
            and _shares(now.traffic) == _shares(wanted)
            and _shares(now.mirror_traffic) == _shares(mirror)
        ):
            continue  # as the spec says already: no change, no event
        client.set_traffic(endpoint.name, wanted, mirror)


def _shares(split: dict[str, int]) -> dict[str, int]:
    return {name.lower(): share for name, share in split.items() if share}


def _tell(client: EngineClient, remote: RemoteHost, say: Say) -> None:
    for endpoint in client.status():
        remote_uri = _remote_uri(client, endpoint)
        if is_loopback(remote.address):
            port = remote_uri.rsplit(":", 1)[-1].split("/")[0]
            say(f"endpoint {endpoint.name}: {remote_uri} on {remote.host} (its loopback)")
            say(f"  reach it:  ssh -L {port}:127.0.0.1:{port} {remote.host}, then {remote_uri}")
        else:
            signed = "" if remote.tls_cert else " (self-signed certificate: .workbench/tls/cert.pem there)"
            say(f"endpoint {endpoint.name}: {remote_uri}{signed}")
        say(f"  from here: workbench invoke {endpoint.name} --remote {remote.name} --request-file F")
        say(f"  keys:      workbench credentials {endpoint.name} --remote {remote.name}")


def _remote_uri(client: EngineClient, endpoint: EndpointState) -> str:
    uri = endpoint.scoring_uri or "-"
    if isinstance(client, RemoteEngineClient):
        remote_json = EngineClient.status_json(client)  # the remote's own URIs, not the forwards
        for item in remote_json:
            if item["name"] == endpoint.name and item.get("scoring_uri"):
                return str(item["scoring_uri"])
    return uri


# -- helpers ------------------------------------------------------------------------------------


def _changed_back(steps: Plan) -> Plan:
    """The plan that undoes `steps`."""
    return Plan(
        send=[],
        send_bytes=0,
        remove=[],
        create=list(steps.delete),
        update=list(steps.update),
        delete=list(steps.create),
        unchanged=list(steps.unchanged),
    )


def _as_manifest(data: dict[str, Any]) -> Manifest:
    files = {p: FileEntry(str(e[0]), int(e[1]), bool(e[2])) for p, e in data["files"].items()}
    return Manifest(str(data["id"]), files, dict(data["deployments"]), str(data.get("wheel", "")))


def _deployment(client: EngineClient, name: str) -> Any:
    endpoint_name, deployment_name = name.split("/", 1)
    endpoint = next((e for e in client.status() if e.name == endpoint_name), None)
    return endpoint.deployment(deployment_name) if endpoint else None


def _last_event(client: EngineClient) -> tuple[float, str] | None:
    events = list(client.events())
    return (events[-1].time, events[-1].message) if events else None


def _wait_event(
    client: EngineClient, marker: tuple[float, str] | None, wanted: Callable[[str], bool], timeout_s: float
) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        events = list(client.events())
        keys = [(e.time, e.message) for e in events]
        after = events[keys.index(marker) + 1 :] if marker in keys else events
        for event in after:
            if wanted(event.message):
                return event.message
        time.sleep(POLL_S)
    raise PromoteError(f"the remote engine did not reconcile within {timeout_s:g} s")


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise PromoteError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(POLL_S)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Progress:
    def __init__(self, total: int, say: Say) -> None:
        self.total, self.sent, self.say = total, 0, say
        self._said_at = time.monotonic()
        self._started = self._said_at

    def add(self, count: int) -> None:
        self.sent += count
        now = time.monotonic()
        if now - self._said_at >= PROGRESS_EVERY_S and self.total:
            self._said_at = now
            rate = self.sent / max(now - self._started, 1e-6) / 1e6
            share = min(100, self.sent * 100 // self.total)
            self.say(f"ship: {self.sent / 1e6:.1f} of {self.total / 1e6:.1f} MB ({share}%, {rate:.1f} MB/s)")

    def done(self) -> None:
        seconds = time.monotonic() - self._started
        self.say(f"ship: {self.sent / 1e6:.3f} MB sent in {seconds:.1f} s")


class _Counting(io.RawIOBase):
    """A write-only stream that counts what passes into `sink`."""

    def __init__(self, sink: Any, progress: _Progress) -> None:
        self.sink, self.progress = sink, progress

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.sink.write(data)
        self.progress.add(len(data))
        return len(data)
