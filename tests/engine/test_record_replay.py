"""`workbench record` and `workbench replay`: live requests kept without their credentials, sent
again after a change, and the differing answers reported, with tolerance and ignored paths."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import run_workbench
from tests.engine.harness import deployment_yaml, engine, folder_with, key_headers, until
from workbench.replay import compare

SCRIPT = (
    "import json\n\ndef init():\n    pass\n\n\n"
    "def run(data):\n    values = json.loads(data)['data']\n"
    "    return {{'sum': sum(values) * {factor}, 'version': {version}}}\n"
)


def test_compare_finds_paths_and_honours_tolerance_and_ignore() -> None:
    before = b'{"sum": 6.0, "version": 1, "items": [1, 2]}'
    assert compare(before, b'{"sum": 6.0000001, "version": 1, "items": [1, 2]}', 1e-6, []) == []
    assert compare(before, b'{"sum": 6.1, "version": 2, "items": [1, 3]}', 1e-6, []) == [
        "items[1]",
        "sum",
        "version",
    ]
    assert compare(before, b'{"sum": 6.0, "version": 2, "items": [1, 2]}', 0, ["version"]) == []
    assert compare(b"plain", b"plain", 0, []) == []
    assert compare(b"plain", b"other", 0, []) == ["$"]


def test_recorded_requests_replay_against_changed_code(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        {"score.py": SCRIPT.format(factor=1, version=1)},
        {"blue": deployment_yaml("blue", "score.py")},
    )
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(120)
        uri, headers = endpoint.scoring_uri or "", key_headers(folder)
        recorder = subprocess.Popen(
            [sys.executable, "-m", "workbench", "record", "tests", "--project", str(folder)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        recordings = folder / ".workbench" / "recordings"
        until(lambda: len(list(recordings.glob("*.jsonl"))) == 1, 60)
        for values in ([1, 2, 3], [4, 5]):
            assert httpx.post(uri, json={"data": values}, headers=headers, timeout=30).status_code == 200
        key = headers["Authorization"].removeprefix("Bearer ")
        carrying = {
            **headers,
            "X-Api-Key": key,
            "X-Forwarded-Credential": "c",
            "X-Custom": key,
            "X-Trace": "t1",
        }
        answered = httpx.post(f"{uri}?api_key={key}&x=1", json={"data": [10]}, headers=carrying, timeout=30)
        assert answered.status_code == 200
        recorder.send_signal(signal.SIGINT)  # Ctrl-C ends the recording
        out, err = recorder.communicate(timeout=60)
        assert "recorded 3 request(s)" in out, out + err
        (file,) = recordings.glob("*.jsonl")
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
        kept = file.read_text()
        assert "authorization" not in kept.lower()  # credentials are never kept: by name,
        assert "x-api-key" not in kept.lower()
        assert "X-Forwarded-Credential" not in kept
        assert key not in kept  # by value, whatever they are called,
        assert "api_key" not in kept  # in the query string too
        assert '"/score?x=1"' in kept  # and the rest is kept
        assert '["x-trace", "t1"]' in kept.lower()

        same = run_workbench("replay", str(file), "tests", "--project", str(folder), timeout=60)
        assert same.returncode == 0, same.stdout + same.stderr
        assert "3 same, 0 different" in same.stdout

        (folder / "code" / "score.py").write_text(SCRIPT.format(factor=1.0000001, version=2))
        until(
            lambda: httpx.post(uri, json={"data": [1]}, headers=headers, timeout=30).json()["version"] == 2,
            60,
        )
        changed = run_workbench("replay", str(file), "tests", "--project", str(folder), timeout=60)
        assert changed.returncode == 1
        assert "0 same, 3 different" in changed.stdout
        assert "differs at sum, version" in changed.stdout
        forgiven = run_workbench(
            "replay",
            str(file),
            "tests",
            "--tolerance",
            "1e-3",
            "--ignore",
            "version",
            "--project",
            str(folder),
        )
        assert forgiven.returncode == 0, forgiven.stdout
        assert "3 same, 0 different" in forgiven.stdout

        broken = tmp_path / "broken.jsonl"
        broken.write_text(file.read_text().splitlines()[0] + "\n{not json\n")
        refused = run_workbench("replay", str(broken), "tests", "--project", str(folder))
        assert refused.returncode == 1
        assert f"{broken}:2: not JSON" in refused.stderr
        assert "Traceback" not in refused.stderr
