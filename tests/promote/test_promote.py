"""`workbench promote` to a real remote host: sshd on a loopback port and a user of its own, the
Docker engine that CI starts. The quickstart is promoted, answers through its scoring URI with
the remote's keys, a code change is promoted again under paced load with no failed request, and
every command (the dashboard too) works against the remote engine; preflight failures each say
what is missing before anything moves."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import joblib
import numpy
import pytest

from tests.conftest import QUICKSTART, require_program, run_workbench
from tests.dap import DapClient
from tests.engine.harness import copy_project, until
from tests.paced import PacedLoad
from tests.promote.remote_host import RemoteHostForTests, remote_host, wipe
from tests.terminal import Terminal
from workbench.cli.connect import remote_of
from workbench.engine.tls import self_signed
from workbench.promote.remote import remote_client


@pytest.fixture
def host(tmp_path: Path) -> Iterator[RemoteHostForTests]:
    require_program("docker")
    with remote_host(tmp_path) as running:
        yield running


def promoted_project(tmp_path: Path, host: RemoteHostForTests) -> tuple[Path, str]:
    folder = copy_project(QUICKSTART, tmp_path / "quickstart")
    path = f"runs/{uuid.uuid4().hex[:12]}"
    (folder / "workbench.yaml").write_text(host.workbench_yaml("staging", path))
    return folder, path


@pytest.mark.timeout(1500)
def test_the_quickstart_promoted_serves_rolls_out_a_change_with_no_failure_and_is_driven_remotely(
    tmp_path: Path, host: RemoteHostForTests
) -> None:
    require_program("tmux")
    folder, path = promoted_project(tmp_path, host)
    try:
        rehearsal = run_workbench("promote", "staging", "--dry-run", cwd=folder, timeout=600)
        assert rehearsal.returncode == 0, rehearsal.stdout + rehearsal.stderr
        assert "engine: not running on" in rehearsal.stdout
        first = run_workbench("promote", "staging", cwd=folder, timeout=1200)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "deployment quickstart/blue: create" in first.stdout
        assert "endpoint quickstart: http://127.0.0.1:" in first.stdout
        assert (host.home / path / "project" / ".workbench" / "state.json").is_file()  # its state lives there
        assert stat.S_IMODE((host.home / path).stat().st_mode) == 0o700  # the remote user's alone

        credentials = run_workbench("credentials", "quickstart", "--remote", "staging", "--json", cwd=folder)
        assert credentials.returncode == 0, credentials.stderr
        key = json.loads(credentials.stdout)["primaryKey"]
        request = (folder / "sample-request.json").read_bytes()
        model = joblib.load(folder / "model-1" / "model" / "sklearn_regression_model.pkl")
        expected = model.predict(numpy.array(json.loads(request)["data"])).tolist()
        with remote_client(remote_of(folder, "staging")) as client:
            (endpoint,) = client.status()
            uri = endpoint.scoring_uri or ""
            pinned = {"Authorization": f"Bearer {key}", "azureml-model-deployment": "blue"}
            answer = httpx.post(uri, content=request, headers=pinned, timeout=30)
            assert answer.status_code == 200, answer.text
            assert answer.json() == pytest.approx(expected)

            score = folder / "onlinescoring" / "score.py"
            score.write_text(
                score.read_text().replace("return result.tolist()", 'return {"v2": result.tolist()}')
            )
            rehearsal = run_workbench("promote", "staging", "--dry-run", cwd=folder, timeout=600)
            assert "deployment quickstart/blue: update (reload in place" in rehearsal.stdout
            assert "engine: keeps running" in rehearsal.stdout
            assert "ship: 1 file(s)" in rehearsal.stdout, "the host has every other file"
            with PacedLoad(uri, key, request) as load:
                until(lambda: len(load.answers) >= 10, 120)
                second = run_workbench("promote", "staging", cwd=folder, timeout=600)
                served = len(load.answers)
                until(lambda: len(load.answers) >= served + 5, 60)  # and it serves on
            assert second.returncode == 0, second.stdout + second.stderr
            assert "files: 1 changed since the release there" in second.stdout
            assert "deployment quickstart/blue: update (reload in place" in second.stdout
            assert "deployment quickstart/blue: update" in second.stdout
            assert load.failures == [], load.failures[:5]
            assert len(load.answers) >= 20
            answer = httpx.post(uri, content=request, headers=pinned, timeout=30)
            assert answer.json() == {"v2": pytest.approx(expected)}

            broken = '    global model\n    raise RuntimeError("this release cannot load its model")\n'
            score.write_text(score.read_text().replace("    global model\n", broken))  # init() fails
            third = run_workbench("promote", "staging", cwd=folder, timeout=600)
            assert third.returncode == 4, third.stdout + third.stderr
            assert "the remote serves the previous release again" in third.stderr
            answer = httpx.post(uri, content=request, headers=pinned, timeout=30)
            assert answer.json() == {"v2": pytest.approx(expected)}  # what it served before

            rehearsed = run_workbench(
                "promote", "staging", "--rollback", "--dry-run", cwd=folder, timeout=600
            )
            assert rehearsed.returncode == 0, rehearsed.stdout + rehearsed.stderr
            assert "(dry run: nothing changes)" in rehearsed.stdout
            answer = httpx.post(uri, content=request, headers=pinned, timeout=30)
            assert answer.json() == {"v2": pytest.approx(expected)}  # still the second release

            lock = host.home / path / ".promote" / "lock"
            lock.write_text(json.dumps({"holder": "bo@desk", "command": "promote", "token": "t", "since": 0}))
            refused = run_workbench("promote", "staging", "--rollback", cwd=folder, timeout=600)
            assert refused.returncode == 4
            assert "staging is locked by bo@desk (promote)" in refused.stderr
            assert "--lock release" in refused.stderr
            released = run_workbench("promote", "staging", "--lock", "release", cwd=folder)
            assert "released staging's lock, held by bo@desk (promote)" in released.stdout
            assert not lock.exists()

            back = run_workbench("promote", "staging", "--rollback", cwd=folder, timeout=600)
            assert back.returncode == 0, back.stdout + back.stderr
            answer = httpx.post(uri, content=request, headers=pinned, timeout=30)
            assert answer.json() == pytest.approx(expected)  # the first release, by hand: not the failed one
            assert not lock.exists(), "a promote gives its lock back"

            history = run_workbench("releases", "staging", cwd=folder)
            assert history.returncode == 0, history.stderr
            newest_first = [line for line in history.stdout.splitlines() if not line.startswith(" ")]
            assert len(newest_first) == 3, history.stdout
            assert "  failed " in newest_first[0], "the third release, rolled back automatically"
            assert "  rolled back " in newest_first[1], "the second, rolled back by hand"
            assert "  live (current) " in newest_first[2], "the first, serving again"
            assert "the rollout failed" in history.stdout, "the failure's reason is kept"

        status = run_workbench("status", "--remote", "staging", cwd=folder)
        assert status.returncode == 0, status.stderr
        assert "blue  Succeeded  1/1 ready  traffic 90%" in status.stdout

        masters_before = set(Path(tempfile.gettempdir()).glob("workbench-ssh-*"))
        follow = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "workbench",
                "logs",
                "quickstart",
                "blue",
                "--remote",
                "staging",
                "--follow",
            ],
            cwd=folder,
            stdout=subprocess.PIPE,
            text=True,
        )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(follow.stdout or []), daemon=True)
        reader.start()
        try:
            until(lambda: any("azmlinfsrv" in line for line in lines), 60)
        finally:
            follow.terminate()
            follow.wait(30)
            reader.join(30)
            if follow.stdout is not None:
                follow.stdout.close()
        left = set(Path(tempfile.gettempdir()).glob("workbench-ssh-*")) - masters_before
        assert left == set(), "SIGTERM closes the SSH master and its forwards, as Ctrl-C does"

        traffic = run_workbench(
            "traffic", "quickstart", "blue=50", "green=50", "--remote", "staging", cwd=folder
        )
        assert traffic.returncode == 0, traffic.stderr
        shown = run_workbench("status", "--remote", "staging", "--json", cwd=folder)
        assert json.loads(shown.stdout)[0]["traffic"] == {"blue": 50, "green": 50}

        debugging = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "workbench",
                "debug",
                "quickstart",
                "blue",
                "--remote",
                "staging",
                "--json",
            ],
            cwd=folder,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert debugging.stdout is not None
            said = "".join(iter(debugging.stdout.readline, "}\n")) + "}"  # one JSON document, then it waits
            session = json.loads(said)
            with remote_client(remote_of(folder, "staging")) as client:

                def under_debugger() -> bool:
                    (blue_instance,) = client.status()[0].deployments[0].instances
                    return (
                        blue_instance.debug_port == session["remote_port"]
                        and blue_instance.state.value == "Ready"
                    )

                until(under_debugger, 120)
            dap = DapClient(session["port"])  # the remote instance's debugpy, through the tunnel
            dap.attach()
            dap.close()
            launch = json.loads((folder / ".vscode" / "launch.json").read_text())
            (configuration,) = launch["configurations"]
            assert configuration["connect"]["port"] == session["port"]
            assert configuration["pathMappings"][0]["localRoot"].startswith(str(folder))
        finally:
            debugging.terminate()
            debugging.wait(60)
            if debugging.stdout is not None:
                debugging.stdout.close()
        assert debugging.returncode == 0
        stopped = run_workbench("debug", "quickstart", "blue", "--stop", "--remote", "staging", cwd=folder)
        assert stopped.returncode == 0, stopped.stderr
        after_debugging = run_workbench("promote", "staging", "--dry-run", cwd=folder, timeout=600)
        assert "launch.json" not in after_debugging.stdout, "debug's attach configuration stays here"

        terminal = Terminal(f"workbench-remote-{uuid.uuid4().hex[:8]}", 100, 30)
        try:
            command = (
                f"cd {shlex.quote(str(folder))} && {shlex.quote(sys.executable)} -m workbench up "
                "--remote staging; echo dashboard exited with $?; sleep 600"
            )
            terminal.start(f"env -u COLUMNS -u LINES TERM=xterm-256color sh -c {shlex.quote(command)}")
            terminal.wait_for("blue-0  Ready", timeout=120)
            terminal.press("3")  # the Invoke tab offers the project's request files, from here
            terminal.wait_for("sample-request.json", timeout=60)
            terminal.press("q")  # an engine it did not start: it quits at once, the engine serving on
            terminal.wait_for("dashboard exited with 0", timeout=60)
        finally:
            terminal.stop()
        still = run_workbench("status", "--remote", "staging", cwd=folder)
        assert still.returncode == 0, "quitting a remote dashboard leaves the remote engine running"

        down = run_workbench("down", "--remote", "staging", cwd=folder)
        assert down.returncode == 0, down.stderr
        after = run_workbench("status", "--remote", "staging", cwd=folder)
        assert after.returncode == 1
        assert "no engine is running on staging" in after.stderr
        purged = run_workbench("down", "--remote", "staging", "--purge", cwd=folder)
        assert purged.returncode == 0, purged.stderr
        assert f"removed {host.home / path}" in purged.stdout
        assert not (host.home / path).exists(), "folder, releases, blobs and venv: all gone"
        project = str(host.home / path / "project")
        unit = "workbench-" + hashlib.sha256(project.encode()).hexdigest()[:12] + ".service"
        assert not (host.home / ".config" / "systemd" / "user" / unit).exists(), "no boot entry left behind"
    finally:
        run_workbench("down", "--remote", "staging", cwd=folder)
        wipe(host, path)


@pytest.mark.timeout(1500)
def test_a_killed_remote_engine_and_a_workbench_upgrade_on_the_host_lose_no_request(
    tmp_path: Path, host: RemoteHostForTests
) -> None:
    """The engine on the host runs under its keeper (engine/keeper.py), which holds the scoring
    ports: killed, it is started again; upgraded by a promote, it restarts on the new workbench;
    the requests sent meanwhile wait. The upgrade loses none; the kill loses at most the request
    in flight on the killed engine's own connection (20 a second, a few ms each)."""
    folder, path = promoted_project(tmp_path, host)
    connection = host.home / path / "project" / ".workbench" / "connection.json"

    def engine_pid() -> int | None:
        try:
            return int(json.loads(connection.read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return None

    try:
        first = run_workbench("promote", "staging", cwd=folder, timeout=1200)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "if the engine stops, its keeper starts it again" in first.stdout
        credentials = run_workbench("credentials", "quickstart", "--remote", "staging", "--json", cwd=folder)
        key = json.loads(credentials.stdout)["primaryKey"]
        request = (folder / "sample-request.json").read_bytes()
        with remote_client(remote_of(folder, "staging")) as client:
            uri = client.status()[0].scoring_uri or ""
            with PacedLoad(uri, key, request) as load:
                until(lambda: len(load.answers) >= 10, 120)
                killed = engine_pid()
                assert killed is not None
                before_kill = len(load.failures)
                os.kill(killed, signal.SIGKILL)
                until(lambda: engine_pid() not in (None, killed), 120)
                served = len(load.answers)
                until(lambda: len(load.answers) >= served + 20, 180)  # the engine started again serves
                # what the killed engine had accepted died with its connections: one in flight at most
                lost_to_kill = load.failures[before_kill:]
                assert len(lost_to_kill) <= 1, lost_to_kill
                before_upgrade = len(load.failures)

                (host.home / path / ".promote" / "venv" / "installed-wheel").write_text("an older workbench")
                rehearsal = run_workbench("promote", "staging", "--dry-run", cwd=folder, timeout=600)
                assert "its keeper holds the ports, so requests wait while it restarts" in rehearsal.stdout
                upgraded = run_workbench("promote", "staging", cwd=folder, timeout=1200)
                served = len(load.answers)
                until(lambda: len(load.answers) >= served + 20, 180)
            assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
            assert "the remote engine restarts on it" in upgraded.stdout
            assert load.failures[before_upgrade:] == [], "an upgrade is a stop on purpose: none lost"
    finally:
        run_workbench("down", "--remote", "staging", cwd=folder)
        wipe(host, path)


@pytest.mark.timeout(1500)
def test_a_promote_repairs_deployments_that_had_failed_on_the_host(
    tmp_path: Path, host: RemoteHostForTests
) -> None:
    folder, path = promoted_project(tmp_path, host)
    score = folder / "onlinescoring" / "score.py"
    good = score.read_text()
    broken = '    global model\n    raise RuntimeError("no model in this release")\n'
    score.write_text(good.replace("    global model\n", broken))
    try:
        first = run_workbench("promote", "staging", cwd=folder, timeout=1200)
        assert first.returncode == 4, first.stdout + first.stderr
        assert "no model in this release" in first.stderr
        status = run_workbench("status", "--remote", "staging", cwd=folder)
        assert "blue  Failed" in status.stdout, status.stdout

        score.write_text(good)  # the fix, promoted onto the Failed deployments
        fixed = run_workbench("promote", "staging", cwd=folder, timeout=1200)
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        assert "quickstart/blue: Succeeded" in fixed.stdout
        invoked = run_workbench(
            "invoke", "quickstart", "--request-file", "sample-request.json", "--remote", "staging", cwd=folder
        )
        assert invoked.returncode == 0, invoked.stderr
        history = run_workbench("releases", "staging", cwd=folder)
        assert "  live (current) " in history.stdout.splitlines()[0], history.stdout
    finally:
        run_workbench("down", "--remote", "staging", cwd=folder)
        wipe(host, path)


def test_preflight_says_what_the_host_lacks_before_anything_moves(
    tmp_path: Path, host: RemoteHostForTests
) -> None:
    folder, path = promoted_project(tmp_path, host)
    workbench_yaml = folder / "workbench.yaml"

    workbench_yaml.write_text(
        host.workbench_yaml("staging", path)
        + f"  nowhere:\n    host: 127.0.0.1\n    port: {_closed_port()}\n"
    )
    unreachable = run_workbench("promote", "nowhere", cwd=folder)
    assert unreachable.returncode == 4
    assert "cannot reach 127.0.0.1 over SSH" in unreachable.stderr

    small = host.home / f"small-{uuid.uuid4().hex[:8]}"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(small)], check=True)
    try:
        subprocess.run(["chown", f"{host.user}:{host.user}", str(small)], check=True)
        workbench_yaml.write_text(host.workbench_yaml("staging", str(small / "project")))
        full = run_workbench("promote", "staging", cwd=folder)
        assert full.returncode == 4
        assert "MB free and the project needs" in full.stderr
        assert list(small.iterdir()) == []  # nothing moved
    finally:
        subprocess.run(["umount", str(small)], check=False)
        small.rmdir()

    workbench_yaml.write_text(host.workbench_yaml("staging", path))
    blue = folder / "blue-deployment.yml"
    blue.write_text(
        blue.read_text().replace("instance_type: Standard_DS3_v2", "instance_type: Standard_NC6s_v3")
    )
    gpu = run_workbench("promote", "staging", "--dry-run", cwd=folder)
    assert gpu.returncode == 4
    assert "a deployment needs GPUs and this host shows none" in gpu.stderr
    assert not (host.home / path).exists()


def test_a_host_whose_user_cannot_reach_docker_is_refused_with_the_fix(tmp_path: Path) -> None:
    require_program("docker")
    with remote_host(tmp_path, "wb-nodocker", docker=False) as host:
        folder, path = promoted_project(tmp_path, host)
        refused = run_workbench("promote", "staging", cwd=folder)
    assert refused.returncode == 4
    assert "the Docker engine does not answer this user" in refused.stderr
    assert "usermod -aG docker" in refused.stderr
    assert not (host.home / path).exists()


def _closed_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_remote_given_a_certificate_serves_https_and_invoke_reaches_it(
    tmp_path: Path, host: RemoteHostForTests
) -> None:
    folder, path = promoted_project(tmp_path, host)
    tls = host.home / f"tls-{uuid.uuid4().hex[:8]}"
    certificate, key = self_signed(tls, "127.0.0.1")
    subprocess.run(["chown", "-R", f"{host.user}:{host.user}", str(tls)], check=True)
    extra = f"    tls_cert: {certificate}\n    tls_key: {key}\n"
    (folder / "workbench.yaml").write_text(host.workbench_yaml("staging", path, extra))
    try:
        promoted = run_workbench("promote", "staging", cwd=folder, timeout=1200)
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr
        assert "endpoint quickstart: https://127.0.0.1:" in promoted.stdout
        invoked = run_workbench(
            "invoke", "quickstart", "--request-file", "sample-request.json", "--remote", "staging", cwd=folder
        )
        assert invoked.returncode == 0, invoked.stderr
        assert len(json.loads(invoked.stdout)) == 2  # two predictions, through the tunnel
    finally:
        run_workbench("down", "--remote", "staging", cwd=folder)
        wipe(host, path)
        wipe(host, tls.name)


@pytest.mark.timeout(1500)
def test_env_secrets_reach_the_remote_over_ssh_never_in_a_release_and_rotate(
    tmp_path: Path, host: RemoteHostForTests
) -> None:
    folder, path = promoted_project(tmp_path, host)
    reference = "azureml://connections/team/credentials/key"
    (folder / "workbench.yaml").write_text(
        host.workbench_yaml("staging", path) + f"secrets:\n  {reference}: {{env: TEAM_KEY}}\n"
    )
    blue = folder / "blue-deployment.yml"
    blue.write_text(blue.read_text() + f"environment_variables:\n  TEAM_KEY: ${{{{{reference}}}}}\n")
    endpoint = folder / "endpoint.yml"
    stores = "properties: {enforce_access_to_default_secret_stores: enabled}\n"
    endpoint.write_text(endpoint.read_text() + "identity: {type: system_assigned}\n" + stores)
    remote_folder = host.home / path
    try:
        unset = run_workbench("promote", "staging", cwd=folder, timeout=600)
        assert unset.returncode == 2, "checked with the spec, before anything moves"
        assert "TEAM_KEY reads $TEAM_KEY, which is not set here" in unset.stdout + unset.stderr

        first = run_workbench("promote", "staging", cwd=folder, timeout=1200, env={"TEAM_KEY": "first-value"})
        assert first.returncode == 0, first.stdout + first.stderr
        secrets = remote_folder / "project" / ".workbench" / "secrets.json"
        assert json.loads(secrets.read_text()) == {"TEAM_KEY": "first-value"}
        assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
        shipped = [
            p
            for p in (remote_folder / ".promote").rglob("*")
            if p.is_file() and b"first-value" in p.read_bytes()
        ]
        assert shipped == [], "never in a release, a blob or a log"
        assert "first-value" not in first.stdout + first.stderr
        assert _container_values(remote_folder / "project", "blue", "TEAM_KEY") == {"first-value"}

        second = run_workbench(
            "promote", "staging", cwd=folder, timeout=600, env={"TEAM_KEY": "second-value"}
        )
        assert second.returncode == 0, second.stdout + second.stderr
        assert "secrets changed: the deployments that read them roll out" in second.stdout
        assert "update quickstart/blue" in second.stdout, "a new generation of instances reads the new value"
        assert json.loads(secrets.read_text()) == {"TEAM_KEY": "second-value"}
        assert _container_values(remote_folder / "project", "blue", "TEAM_KEY") == {"second-value"}
    finally:
        run_workbench("down", "--remote", "staging", cwd=folder)
        wipe(host, path)


def _container_values(project: Path, deployment: str, variable: str) -> set[str]:
    """`variable` in the environment of each running container of the remote deployment (the
    Docker engine is this machine's: the remote host's user runs its containers here)."""
    import docker  # noqa: PLC0415

    client = docker.from_env()
    labels = [f"workbench.project={project}", f"workbench.deployment={deployment}"]
    try:
        containers = client.containers.list(filters={"label": labels})
        environments = [dict(i.split("=", 1) for i in c.attrs["Config"]["Env"]) for c in containers]
        return {environment.get(variable, "") for environment in environments}
    finally:
        client.close()


@pytest.mark.timeout(1500)
def test_a_rollout_on_the_remote_is_run_there_and_a_killed_one_leaves_its_traffic_as_it_was(
    tmp_path: Path, host: RemoteHostForTests
) -> None:
    """The engine on the host runs the rollout: the command here only asks and shows. Killed,
    it leaves its SSH tunnel closed and the host puts the traffic back by itself."""
    folder, path = promoted_project(tmp_path, host)
    for name in ("blue", "green"):  # room for a few at once: a slow answer is no 429 to judge
        with (folder / f"{name}-deployment.yml").open("a") as spec:
            spec.write("request_settings:\n  max_concurrent_requests_per_instance: 8\n")

    def remote_traffic() -> dict[str, int]:
        with remote_client(remote_of(folder, "staging")) as client:
            return {k: v for k, v in client.status()[0].traffic.items() if v}

    try:
        first = run_workbench("promote", "staging", cwd=folder, timeout=1200)
        assert first.returncode == 0, first.stdout + first.stderr
        all_to_blue = ("traffic", "quickstart", "blue=100", "green=0", "--remote", "staging")
        moved = run_workbench(*all_to_blue, cwd=folder)
        assert moved.returncode == 0, moved.stderr
        rehearse = ["rollout", "quickstart", "green", "--remote", "staging"]
        rehearse += ["--request-file", "sample-request.json"]
        rolled = run_workbench(
            *rehearse, "--steps", "50,100", "--interval", "3", "--rate", "10", cwd=folder, timeout=300
        )
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
        assert "quickstart: green takes 100%; blue kept, with no traffic" in rolled.stdout
        assert remote_traffic() == {"green": 100}

        run_workbench(*all_to_blue, cwd=folder)
        strict = run_workbench(  # no p99 is under a microsecond: judged there, rolled back there
            *rehearse, "--steps", "50,100", "--interval", "3", "--rate", "10", "--max-p99-ms", "0.001",
            cwd=folder, timeout=300,
        )  # fmt: skip
        assert strict.returncode == 4, strict.stdout + strict.stderr
        assert "rolled back: quickstart/green at 50%: p99 " in strict.stderr
        assert remote_traffic() == {"blue": 100}

        command = [sys.executable, "-m", "workbench", *rehearse, "--interval", "600", "--rate", "5"]
        rollout = subprocess.Popen(
            command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            until(lambda: remote_traffic() == {"blue": 90, "green": 10}, 120)
        finally:
            os.killpg(rollout.pid, signal.SIGKILL)  # the command and its SSH tunnel: a laptop closed
            rollout.wait()
        until(lambda: remote_traffic() == {"blue": 100}, 60, lambda: f"the host left {remote_traffic()}")
    finally:
        run_workbench("down", "--remote", "staging", cwd=folder)
        wipe(host, path)
