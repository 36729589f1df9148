"""The system `ssh` client, one multiplexed connection per remote.

Why the system client and not a library: it is what the user's own `ssh` does, with their
`~/.ssh/config` (aliases, ports, `ProxyJump` hosts), their agent and keys, their known hosts,
and any `ssh_options` from workbench.yaml; a library would need all of that re-implemented. One
master connection (`ControlMaster`) carries every command and every port forward, so a promote
pays for one handshake, and forwards are added to it (`ssh -O forward`) without new logins.
`BatchMode` is on: a password prompt would hang a command, so a host that needs one is refused
with a clear error instead.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from workbench.errors import PromoteError
from workbench.spec.local import RemoteHost

CONNECT_TIMEOUT_S = 15


class SshError(PromoteError):
    pass


class Ssh:
    """Commands and port forwards on one remote host, over one master connection."""

    def __init__(self, remote: RemoteHost) -> None:
        if shutil.which("ssh") is None:
            raise SshError("the `ssh` client is not installed here (Debian: apt-get install openssh-client)")
        self.remote = remote
        self._folder = Path(tempfile.mkdtemp(prefix="workbench-ssh-"))  # mode 0700
        self._control = self._folder / "master"
        self._forwards: dict[int, int] = {}

    def base(self) -> list[str]:
        """`ssh` with the remote's options and the shared master connection."""
        command = [
            "ssh",
            "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}",
            "-o", "ControlMaster=auto",
            "-o", f"ControlPath={self._control}",
            "-o", "ControlPersist=120",
            "-o", "ServerAliveInterval=15",
        ]  # fmt: skip
        if self.remote.port is not None:
            command += ["-p", str(self.remote.port)]
        return [*command, *self.remote.ssh_options]

    def run(
        self, remote_command: list[str], *, input_bytes: bytes | None = None, timeout_s: float | None = 600
    ) -> subprocess.CompletedProcess[bytes]:
        """Runs `remote_command` (quoted for the remote shell) and returns what it gave."""
        command = [*self.base(), "--", self.remote.host, shlex.join(remote_command)]
        try:
            return subprocess.run(
                command, input=input_bytes, capture_output=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise SshError(
                f"{self.remote.host}: `{shlex.join(remote_command)}` gave no answer in {timeout_s:g} s"
            ) from exc

    def popen(self, remote_command: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        command = [*self.base(), "--", self.remote.host, shlex.join(remote_command)]
        return subprocess.Popen(command, **kwargs)  # type: ignore[call-overload,no-any-return]

    def check_reachable(self) -> None:
        """Opens the master connection; an SshError naming why it could not."""
        result = self.run(["true"], timeout_s=CONNECT_TIMEOUT_S + 15)
        if result.returncode != 0:
            said = result.stderr.decode(errors="replace").strip().splitlines()
            why = said[-1] if said else f"ssh exited with {result.returncode}"
            raise SshError(
                f"cannot reach {self.remote.host} over SSH: {why}",
            )

    def forward(self, remote_port: int, remote_host: str = "127.0.0.1") -> int:
        """A local port on 127.0.0.1 that reaches `remote_host:remote_port` on the remote."""
        if remote_port in self._forwards:
            return self._forwards[remote_port]
        local_port = _free_port()
        spec = f"127.0.0.1:{local_port}:{remote_host}:{remote_port}"
        command = [*self.base(), "-O", "forward", "-L", spec, "--", self.remote.host]
        result = subprocess.run(command, capture_output=True, timeout=CONNECT_TIMEOUT_S + 15, check=False)
        if result.returncode != 0:
            raise SshError(
                f"cannot forward a port to {self.remote.host}:{remote_port}: "
                f"{result.stderr.decode(errors='replace').strip()}"
            )
        self._forwards[remote_port] = local_port
        return local_port

    def close(self) -> None:
        """Ends the master connection, and with it every forward."""
        if self._control.exists():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                subprocess.run(
                    [*self.base(), "-O", "exit", "--", self.remote.host],
                    capture_output=True,
                    timeout=15,
                    check=False,
                )
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> Ssh:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@contextlib.contextmanager
def connected(remote: RemoteHost) -> Iterator[Ssh]:
    ssh = Ssh(remote)
    try:
        ssh.check_reachable()
        yield ssh
    finally:
        ssh.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
