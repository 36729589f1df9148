"""The keeper: a small process that outlives the engine. It holds the routers' listening sockets
and starts the engine again when it stops, so that a crash, a kill or an upgrade of the engine
costs waiting requests, not refused ones (kamal-proxy's promise: the front door stays up while
what is behind it switches). An upgrade, a stop on purpose, loses none; a crash or a kill loses
the requests that the killed engine had already accepted (their connections were its own).

- Every background engine (`up --detach`, the dashboard's, a remote host's) runs under one:
  `python -m workbench.engine.keeper SOCKET -- ENGINE COMMAND...`. The engine finds it through
  `WORKBENCH_KEEPER` and, for each endpoint, takes the socket the keeper holds for its address
  and port, or binds one and hands it over (SCM_RIGHTS; the keeper keeps a duplicate).
- While no engine accepts, connections wait in the socket's queue (the kernel answers their
  handshake); the next engine accepts them once the endpoint's deployments are ready again.
- The engine's end says what comes next: a stop on purpose (`workbench down`, SIGTERM: the engine
  says so first, and exits 0) ends the keeper and its sockets; RESTART_EXIT (75) waits for a
  `start` (promote places the new release's files first); any other end, a crash or a kill,
  after the engine had come up, starts it again, with a growing pause.
  An engine that stops before it ever came up ends the keeper with its exit code, so that the
  command that started it reports the failure.
- The keeper's socket is in a folder that is this user's alone (0700); it imports nothing but the
  standard library, so an upgrade of the workbench under it changes nothing it runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import selectors
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

KEEPER_ENV = "WORKBENCH_KEEPER"
RESTART_EXIT = 75
"""The engine's exit code for "start me again when told" (EX_TEMPFAIL)."""
WAIT_FOR_START_S = 600.0
"""How long a keeper whose engine stopped for a restart waits to be told to start one; past it,
it ends and the connections waiting in its sockets are refused."""
FIRST_PAUSE_S, LONGEST_PAUSE_S, STEADY_S = 0.5, 30.0, 60.0
"""Pauses before starting a stopped engine again: doubling from the first to the longest, back to
the first once an engine has run STEADY_S."""
STOP_GRACE_S = 60.0
CLOEXEC = getattr(socket, "MSG_CMSG_CLOEXEC", 0)


SOCKET_PATH_MAX = 104
"""Bytes of a unix socket's path: macOS's limit (Linux allows 108)."""


def socket_path(root: Path) -> Path:
    """Where the keeper of the project at `root` listens: in a folder of this user's alone, under
    $XDG_RUNTIME_DIR, else the temporary folder (whichever keeps the path short enough)."""
    name = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16] + ".sock"
    own = f"endpoint-workbench-{os.getuid()}"
    for base in (os.environ.get("XDG_RUNTIME_DIR"), tempfile.gettempdir(), "/tmp"):
        if base and len(os.path.join(base, own, name).encode()) < SOCKET_PATH_MAX:
            return _users_own(Path(base) / own) / name
    raise OSError("no folder has a path short enough for the keeper's socket")


def _users_own(folder: Path) -> Path:
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise PermissionError(f"{folder} is not a folder of this user's: the keeper will not use it")
    if stat.S_IMODE(info.st_mode) != 0o700:
        folder.chmod(0o700)
    return folder


class KeeperClient:
    """The keeper's side for the engine and the commands that start it: one request per call."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)

    @classmethod
    def from_env(cls) -> KeeperClient | None:
        path = os.environ.get(KEEPER_ENV)
        return cls(path) if path else None

    def answers(self) -> bool:
        try:
            self.call({"op": "status"})
        except OSError:
            return False
        return True

    def take(self, key: str) -> socket.socket | None:
        """The listening socket held for `key` ("address:port"), if the keeper has one."""
        _, fds = self.call({"op": "take", "key": key})
        if not fds:
            return None
        for extra in fds[1:]:
            os.close(extra)
        return socket.socket(fileno=fds[0])

    def hold(self, key: str, sock: socket.socket) -> None:
        self.call({"op": "hold", "key": key}, [sock.fileno()])

    def drop(self, key: str) -> None:
        self.call({"op": "drop", "key": key})

    def ready(self, pid: int) -> None:
        self.call({"op": "ready", "pid": pid})

    def stopping(self, pid: int) -> None:
        """The engine `pid` stops on purpose (`down`, SIGTERM): the keeper ends after it, even
        if its end fails on the way out."""
        self.call({"op": "stopping", "pid": pid})

    def stop(self) -> None:
        """The keeper ends, its engine stopped first if one runs, and with it the held ports."""
        self.call({"op": "stop"})

    def start(self, command: list[str], env: dict[str, str]) -> int:
        """Starts `command` as the engine where none runs; its pid."""
        reply, _ = self.call({"op": "start", "command": command, "env": env})
        if "error" in reply:
            raise OSError(reply["error"])
        return int(reply["pid"])

    def call(self, message: dict[str, Any], fds: Sequence[int] = ()) -> tuple[dict[str, Any], list[int]]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(10)
            conn.connect(self.path)
            socket.send_fds(conn, [json.dumps(message).encode() + b"\n"], list(fds))
            data, got, _, _ = socket.recv_fds(conn, 1 << 20, 4, CLOEXEC)
            while not data.endswith(b"\n"):
                more = conn.recv(1 << 20)
                if not more:
                    break
                data += more
        return json.loads(data or b"{}"), got


class Keeper:
    def __init__(self, path: Path, command: list[str]) -> None:
        self.path = path
        self.command = command
        self.env = dict(os.environ)
        self.held: dict[str, socket.socket] = {}
        self.child: subprocess.Popen[bytes] | None = None
        self.came_up = False
        """The engine of the last `start` has come up at least once (it said `ready`)."""
        self.started_at = 0.0
        self.pause_s = FIRST_PAUSE_S
        self.restart_at: float | None = None
        self.waiting_since: float | None = None
        self.stopping = False
        self.selector = selectors.DefaultSelector()

    def say(self, message: str) -> None:
        print(f"keeper: {message}", flush=True)

    def run(self) -> int:
        self.path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        os.chmod(self.path, 0o600)
        listener.listen(16)
        listener.setblocking(False)
        self.selector.register(listener, selectors.EVENT_READ)
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        self.selector.register(wake_r, selectors.EVENT_READ)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the selector when the engine ends
        self._spawn()
        try:
            return self._loop(listener, wake_r)
        finally:
            self.path.unlink(missing_ok=True)
            for sock in self.held.values():
                sock.close()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signal.SIGTERM)

    def _loop(self, listener: socket.socket, wake_r: int) -> int:
        while True:
            for key, _ in self.selector.select(timeout=self._timeout()):
                if key.fileobj is listener:
                    with contextlib.suppress(OSError):
                        conn, _ = listener.accept()
                        self._serve(conn)
                else:
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_r, 512)
            code = self.child.poll() if self.child is not None else None
            if code is not None:
                self.child = None
                outcome = self._ended(code)
                if outcome is not None:
                    return outcome
            now = time.monotonic()
            if self.child is None and self.stopping:
                return 0
            if self.restart_at is not None and now >= self.restart_at:
                self.restart_at = None
                self._spawn()
            if self.waiting_since is not None and now - self.waiting_since > WAIT_FOR_START_S:
                self.say(f"no engine was started in {WAIT_FOR_START_S:.0f} s; the keeper ends")
                return 1

    def _timeout(self) -> float:
        if self.restart_at is not None:
            return max(0.0, min(1.0, self.restart_at - time.monotonic()))
        return 1.0

    def _ended(self, code: int) -> int | None:
        """What follows the engine's end: the keeper's own exit code, or None to go on."""
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        if self.stopping or code == 0:
            return 0 if self.stopping else code
        if code == RESTART_EXIT:
            self.say("the engine stopped to be started again; waiting for that start")
            self.waiting_since = time.monotonic()
            return None
        if not self.came_up:
            self.say(f"the engine stopped before it came up ({how})")
            return code if code > 0 else 1
        if time.monotonic() - self.started_at > STEADY_S:
            self.pause_s = FIRST_PAUSE_S
        self.say(f"the engine stopped ({how}); starting it again in {self.pause_s:g} s")
        self.restart_at = time.monotonic() + self.pause_s
        self.pause_s = min(self.pause_s * 2, LONGEST_PAUSE_S)
        return None

    def _spawn(self) -> None:
        env = {**self.env, KEEPER_ENV: str(self.path)}
        self.child = subprocess.Popen(self.command, env=env, stdin=subprocess.DEVNULL)
        self.started_at = time.monotonic()
        self.waiting_since = None

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 4, CLOEXEC)
                while data and not data.endswith(b"\n"):
                    more = conn.recv(1 << 20)
                    if not more:
                        break
                    data += more
                message = json.loads(data)
            except (OSError, ValueError):
                return
            reply, send = self._answer(message, fds)
            with contextlib.suppress(OSError):
                socket.send_fds(conn, [json.dumps(reply).encode() + b"\n"], send)

    def _answer(self, message: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        op, key = message.get("op"), str(message.get("key", ""))
        if op == "hold" and fds:
            previous = self.held.pop(key, None)
            if previous is not None:
                previous.close()
            self.held[key] = socket.socket(fileno=fds[0])
            for extra in fds[1:]:
                os.close(extra)
            return {"held": key}, []
        for fd in fds:
            os.close(fd)
        if op == "take":
            sock = self.held.get(key)
            return ({"found": True}, [sock.fileno()]) if sock is not None else ({"found": False}, [])
        if op == "drop":
            sock = self.held.pop(key, None)
            if sock is not None:
                sock.close()
            return {"dropped": sock is not None}, []
        if op == "ready":
            if self.child is not None and message.get("pid") == self.child.pid:
                self.came_up = True
            return {}, []
        if op == "start":
            if self.child is not None:
                return {"error": f"an engine runs already (pid {self.child.pid})"}, []
            self.command = [str(part) for part in message["command"]]
            self.env = {str(k): str(v) for k, v in message.get("env", self.env).items()}
            self.came_up, self.restart_at, self.pause_s = False, None, FIRST_PAUSE_S
            self._spawn()
            assert self.child is not None
            return {"pid": self.child.pid}, []
        if op == "stopping":  # the engine stops for good: whatever its exit code, none follows
            if self.child is not None and message.get("pid") == self.child.pid:
                self.stopping = True
            return {}, []
        if op == "stop":
            self._on_signal(signal.SIGTERM, None)
            return {"stopping": True}, []
        if op == "status":
            return {
                "pid": self.child.pid if self.child is not None else None,
                "held": sorted(self.held),
                "keeper": os.getpid(),
            }, []
        return {"error": f"unknown request {op!r}"}, []


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m workbench.engine.keeper SOCKET -- COMMAND...", file=sys.stderr)
        return 2
    return Keeper(Path(argv[0]), argv[2:]).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
