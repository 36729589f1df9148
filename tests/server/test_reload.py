"""In-place reload: new code takes over only once it loaded and its init() ran; no request fails."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx

from tests.engine.harness import until
from tests.server.harness import running

TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def script(version: int, init_body: str = "pass") -> str:
    return (
        "import helper\n\n\n"
        f"def init():\n    {init_body}\n\n\n"
        f"def run(data):\n    return {{'version': {version}, 'helper': helper.VALUE}}\n"
    )


def project(tmp_path: Path) -> Path:
    code = tmp_path / "code"
    code.mkdir()
    (code / "score.py").write_text(script(1))
    (code / "helper.py").write_text("VALUE = 'one'\n")
    return code / "score.py"


class Load:
    """A client sending requests back to back, counting answers by version and failures."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.versions: list[int] = []
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            deadline = time.monotonic() + 30
            while not self.stop.is_set() and time.monotonic() < deadline:
                try:
                    response = client.post(self.url + "/score", content=b"{}")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                if response.status_code != 200:
                    self.failures.append(f"{response.status_code} {response.text}")
                else:
                    self.versions.append(response.json()["version"])

    def more(self, answers: int) -> None:
        """Until `answers` more answers arrived."""
        target = len(self.versions) + answers

        def arrived() -> bool:
            assert self.thread.is_alive(), self.failures[-3:]
            return len(self.versions) >= target

        until(arrived, 60, lambda: str(self.failures[-3:]))

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


def test_reload_under_load_switches_code_with_no_failed_request(tmp_path: Path) -> None:
    entry = project(tmp_path)
    with running("workbench", entry, env={"WORKBENCH_ADMIN_TOKEN": TOKEN}, log_dir=tmp_path) as server:
        with Load(server.url) as load:
            load.more(20)
            entry.write_text(script(2))
            (entry.parent / "helper.py").write_text("VALUE = 'two'\n")
            outcome = httpx.post(server.url + "/-/reload", headers=ADMIN, timeout=30).json()
            load.more(20)
        answer = httpx.post(server.url + "/score", content=b"{}").json()

    assert outcome["status"] == "reloaded"
    assert load.failures == []
    assert load.versions[0] == 1
    assert load.versions[-1] == 2
    assert load.versions == sorted(load.versions)  # never back to the old code
    assert answer == {"version": 2, "helper": "two"}


def test_failed_reload_keeps_old_code_serving_and_says_where(tmp_path: Path) -> None:
    entry = project(tmp_path)
    with running("workbench", entry, env={"WORKBENCH_ADMIN_TOKEN": TOKEN}, log_dir=tmp_path) as server:
        entry.write_text("def init():\n    pass\n\n\ndef run(data)\n    return 1\n")
        syntax = httpx.post(server.url + "/-/reload", headers=ADMIN, timeout=30)
        entry.write_text(script(3, init_body="raise RuntimeError('bad init')"))
        raising = httpx.post(server.url + "/-/reload", headers=ADMIN, timeout=30)
        answer = httpx.post(server.url + "/score", content=b"{}")
        status = httpx.get(server.url + "/-/status", headers=ADMIN).json()

    assert syntax.status_code == 422
    assert syntax.json()["error"] == "SyntaxError"
    assert (syntax.json()["file"], syntax.json()["line"]) == (str(entry), 5)
    assert raising.status_code == 422
    assert raising.json()["error"] == "RuntimeError"
    assert raising.json()["message"] == "bad init"
    assert (raising.json()["file"], raising.json()["line"]) == (str(entry), 5)
    assert answer.json() == {"version": 1, "helper": "one"}
    assert status["reloads"] == 0
    assert status["last_reload"]["status"] == "failed"
    assert "Reload failed (admin request); the previous code keeps serving" in server.output()


def test_sighup_reloads(tmp_path: Path) -> None:
    entry = project(tmp_path)
    with running("workbench", entry, log_dir=tmp_path) as server:
        entry.write_text(script(2))
        os.kill(server.process.pid, signal.SIGHUP)
        until(
            lambda: httpx.post(server.url + "/score", content=b"{}").json()["version"] == 2, 10, server.output
        )


def test_reload_flag_polls_the_app_root(tmp_path: Path) -> None:
    """`--reload` inside the server itself (a dev container has no watcher package): an edit of
    the script, or of a module it imports, is picked up within a second or so."""
    entry = project(tmp_path)
    with running("workbench", entry, extra=["--reload"], log_dir=tmp_path) as server:
        entry.write_text(script(2))
        (entry.parent / "helper.py").write_text("VALUE = 'two'\n")
        wanted = {"version": 2, "helper": "two"}
        until(lambda: httpx.post(server.url + "/score", content=b"{}").json() == wanted, 10, server.output)


def test_admin_routes_need_the_token(tmp_path: Path) -> None:
    entry = project(tmp_path)
    with running("workbench", entry, env={"WORKBENCH_ADMIN_TOKEN": TOKEN}, log_dir=tmp_path) as server:
        missing = httpx.post(server.url + "/-/reload")
        wrong = httpx.get(server.url + "/-/status", headers={"Authorization": "Bearer nope"})
        httpx.get(server.url + "/-/status", headers=ADMIN)
        log = server.output()
    with running("workbench", entry, log_dir=tmp_path) as server:
        disabled = httpx.post(server.url + "/-/reload", headers=ADMIN)

    assert missing.status_code == 401
    assert wrong.status_code == 401
    assert disabled.status_code == 404
    assert TOKEN not in log
