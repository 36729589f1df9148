"""A real remote host on this machine, for promote's tests and benchmark: an OpenSSH server on a
loopback port, started by the test with its own host key, and a separate user with its own home
(in the docker group, or not), logged into with a key the test makes. The workbench reaches it
with the system `ssh` and an ssh config file, as a user's `~/.ssh/config` would.

The remote's pip finds the workbench's dependencies in a local wheelhouse (as an offline server
is set up), built once before the tests by `.ci/run` (`python -m tests.warm`), so that no test
waits on PyPI.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.engine.harness import until

WHEELHOUSE = Path(os.environ.get("WORKBENCH_TEST_WHEELHOUSE", "/var/cache/workbench-tests/wheelhouse"))
SSHD = "/usr/sbin/sshd"
EXTRAS = ("docker", "gpu", "debug")
"""What a promote installs there with the workbench ([all])."""


@dataclass(frozen=True)
class RemoteHostForTests:
    alias: str
    """The host name the ssh config file gives it."""
    user: str
    home: Path
    ssh_config: Path
    port: int

    def workbench_yaml(self, name: str, path: str, extra: str = "") -> str:
        return (
            f"remotes:\n  {name}:\n    host: {self.alias}\n    path: {path}\n"
            f"    ssh_options: [-F, {self.ssh_config}]\n{extra}"
        )

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        """A shell command as the remote user, over SSH."""
        return subprocess.run(
            ["ssh", "-F", str(self.ssh_config), self.alias, command],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def require_root_and_sshd() -> None:
    if os.geteuid() == 0 and Path(SSHD).exists():
        return
    if os.environ.get("WORKBENCH_CI") == "1":
        pytest.fail("promote's tests need root (to add the remote user) and sshd (openssh-server)")
    pytest.skip("promote's tests need root and openssh-server")


def ensure_wheelhouse() -> Path:
    """The workbench's dependencies as wheels, for the remote's pip (built once, under a lock)."""
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    with (WHEELHOUSE.parent / "wheelhouse.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = WHEELHOUSE / ".complete"
        wanted = _requirements()
        if not done.is_file() or done.read_text() != "\n".join(wanted):
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(WHEELHOUSE), *wanted],
                check=True,
                timeout=900,
            )
            done.write_text("\n".join(wanted))
    for path in (WHEELHOUSE.parent, WHEELHOUSE, *WHEELHOUSE.iterdir()):
        path.chmod(path.stat().st_mode | 0o555 if path.is_dir() else path.stat().st_mode | 0o444)
    return WHEELHOUSE


def _requirements() -> list[str]:
    required = importlib.metadata.requires("endpoint-workbench") or []
    wanted = [r for r in required if "extra ==" not in r or any(f'extra == "{e}"' in r for e in EXTRAS)]
    return sorted(r.split(";")[0].strip() if "extra ==" in r else r for r in wanted)


def ensure_user(name: str, *, docker: bool) -> Path:
    """A local user with its own home (made once), in the docker group or not."""
    try:
        home = Path(pwd.getpwnam(name).pw_dir)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
        home = Path(pwd.getpwnam(name).pw_dir)
    # no password, but not locked either: sshd (without PAM) refuses a locked account's keys
    subprocess.run(["usermod", "-p", "*", name], check=True)
    groups = subprocess.run(["id", "-nG", name], capture_output=True, text=True, check=True).stdout.split()
    if docker and "docker" not in groups:
        subprocess.run(["usermod", "-aG", "docker", name], check=True)
    if not docker and "docker" in groups:
        subprocess.run(["gpasswd", "-d", name, "docker"], check=True, capture_output=True)
    pip_conf = home / ".config" / "pip" / "pip.conf"
    pip_conf.parent.mkdir(parents=True, exist_ok=True)
    pip_conf.write_text(f"[global]\nno-index = true\nfind-links = {WHEELHOUSE}\n")
    subprocess.run(["chown", "-R", f"{name}:{name}", str(home)], check=True)
    return home


@contextlib.contextmanager
def remote_host(
    tmp_path: Path, user: str = "wb-remote", *, docker: bool = True
) -> Iterator[RemoteHostForTests]:
    """sshd on a free loopback port, for `user`, until the block ends."""
    require_root_and_sshd()
    ensure_wheelhouse()
    home = ensure_user(user, docker=docker)
    keys = tmp_path / "ssh"
    keys.mkdir(mode=0o700)
    for key in ("host_key", "id"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / key)], check=True)
    authorized = home / ".ssh" / "authorized_keys"
    authorized.parent.mkdir(mode=0o700, exist_ok=True)
    authorized.write_text((keys / "id.pub").read_text())
    subprocess.run(["chown", "-R", f"{user}:{user}", str(authorized.parent)], check=True)
    authorized.chmod(0o600)
    port = free_port()
    config = keys / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {keys / 'host_key'}\nPidFile {keys / 'sshd.pid'}\n"
        f"AuthorizedKeysFile .ssh/authorized_keys\nPasswordAuthentication no\n"
        f"KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nAllowUsers {user}\n"
        "AllowTcpForwarding yes\nMaxSessions 50\nMaxStartups 50\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = (keys / "sshd.log").open("wb")
    server = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    client_config = keys / "ssh_config"
    alias = f"wbtest-{user}"
    client_config.write_text(
        f"Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {keys / 'id'}\n"
        f"  IdentitiesOnly yes\n  UserKnownHostsFile {keys / 'known_hosts'}\n"
        "  StrictHostKeyChecking accept-new\n  LogLevel ERROR\n"
    )
    try:
        _until_listening(port, server, keys / "sshd.log")
        yield RemoteHostForTests(alias, user, home, client_config, port)
    finally:
        _stop_engines(user)
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _stop_engines(user: str) -> None:
    """Whatever the remote user still runs (engines a failed test left) ends with the test."""
    subprocess.run(["pkill", "-TERM", "-u", user], check=False)
    deadline = time.monotonic() + 30
    while subprocess.run(["pgrep", "-u", user], capture_output=True, check=False).returncode == 0:
        if time.monotonic() > deadline:
            subprocess.run(["pkill", "-KILL", "-u", user], check=False)
            break
        time.sleep(0.2)


def _until_listening(port: int, server: subprocess.Popen[bytes], log: Path) -> None:

    def listening() -> bool:
        if server.poll() is not None:
            raise RuntimeError(f"sshd exited with {server.returncode}: {log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
        return False

    until(listening, 30, lambda: f"sshd did not listen on {port}: {log.read_text()}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wipe(host: RemoteHostForTests, path: str) -> None:
    """The remote folder of a test, removed (as root: blobs are read-only)."""
    target = host.home / path
    if re.fullmatch(r"[\w./-]+", path) and target.is_relative_to(host.home):
        shutil.rmtree(target, ignore_errors=True)
