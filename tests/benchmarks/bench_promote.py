"""Promote against rsync of the same folder, in the same run, to the same remote host.

Run (as root, with the Docker engine up): python tests/benchmarks/bench_promote.py [ROUNDS]

The remote is tests/promote/remote_host.py's: sshd on a loopback port, a user of its own. The
project is the quickstart with a 200 MB model beside it (random bytes: nothing compresses).

1. A first promote (preflight, ship, install, start, the Docker images already built) and the
   bytes it sent, against `rsync -a` of the same folder into an empty one (files only).
2. A promote after a one-line edit of score.py (ship, apply, the in-place reload, settled),
   against `rsync -a` of the edited folder onto the last copy. ROUNDS edits, medians.
3. Under 20 requests a second to the remote endpoint: requests failed and the longest wait while
   the remote engine is killed (SIGKILL; its keeper starts it again) and while a promote
   upgrades the workbench on the host (the engine restarts on it), against the reference of the
   same engine stopped and started again without its keeper (`down --remote`, then `promote`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.engine.harness import until
from tests.paced import PacedLoad
from tests.promote.remote_host import RemoteHostForTests, remote_host, wipe
from workbench.cli.connect import remote_of
from workbench.promote.remote import remote_client

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart"
MODEL_BYTES = 200 * 1000 * 1000


def promote(folder: Path) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "promote", "staging"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"promote failed:\n{done.stdout}\n{done.stderr}")
    sent = re.search(r"ship: ([\d.]+) MB sent", done.stdout)
    return seconds, int(float(sent.group(1)) * 1e6) if sent else 0


def rsync(host: RemoteHostForTests, folder: Path, target: str) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(
        [
            "rsync",
            "-a",
            "--stats",
            "-e",
            f"ssh -F {host.ssh_config}",
            f"{folder}/",
            f"{host.alias}:{target}/",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    sent = re.search(r"Total bytes sent: ([\d,]+)", done.stdout)
    return seconds, int(sent.group(1).replace(",", "")) if sent else 0


def edit(folder: Path, round_: int) -> None:
    score = folder / "onlinescoring" / "score.py"
    score.write_text(re.sub(r"\n# edit \d+\n|$", f"\n# edit {round_}\n", score.read_text(), count=1))


def engine_pid(connection: Path) -> int | None:
    try:
        return int(json.loads(connection.read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def under_load(folder: Path, change: Callable[[], None]) -> tuple[int, int, float]:
    """Requests sent, failed and the longest wait (s) while `change` runs and the endpoint
    serves 40 requests after it, at 20 requests a second."""
    key = json.loads(workbench(folder, "credentials", "quickstart", "--remote", "staging", "--json"))[
        "primaryKey"
    ]
    request = (folder / "sample-request.json").read_bytes()
    with remote_client(remote_of(folder, "staging")) as client:
        uri = client.status()[0].scoring_uri or ""
        with PacedLoad(uri, key, request) as load:
            until(lambda: len(load.answers) >= 20, 120)
            change()
            served = len(load.answers)
            until(lambda: len(load.answers) >= served + 40, 300)
    return len(load.latencies_s), len(load.failures), max(load.latencies_s)


def workbench(folder: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "workbench", *args], cwd=folder, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"workbench {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def restarts(folder: Path, host: RemoteHostForTests, path: str) -> None:
    connection = host.home / path / "project" / ".workbench" / "connection.json"
    installed = host.home / path / ".promote" / "venv" / "installed-wheel"

    def kill() -> None:
        pid = engine_pid(connection)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        until(lambda: engine_pid(connection) not in (None, pid), 120)

    def upgrade() -> None:
        installed.write_text("an older workbench")  # the next promote installs and restarts
        promote(folder)

    def without_keeper() -> None:
        workbench(folder, "down", "--remote", "staging")
        promote(folder)

    print("engine restarts under 20 requests/s (sent, failed, longest wait):")
    for name, change in (
        ("SIGKILL", kill),
        ("upgrade", upgrade),
        ("reference: down, promote", without_keeper),
    ):
        sent, failed, longest = under_load(folder, change)
        print(f"        {name:26} {sent:5d} sent, {failed:4d} failed, longest wait {longest:.2f} s")


def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as scratch, remote_host(Path(scratch)) as host:
        folder = Path(scratch) / "quickstart"
        shutil.copytree(QUICKSTART, folder)
        (folder / "big-model").mkdir()
        (folder / "big-model" / "weights.bin").write_bytes(os.urandom(MODEL_BYTES))
        path = f"bench/{uuid.uuid4().hex[:8]}"
        copy = f"bench/rsync-{uuid.uuid4().hex[:8]}"
        (folder / "workbench.yaml").write_text(host.workbench_yaml("staging", path))
        host.run("mkdir -p bench")
        try:
            rsync_first = rsync(host, folder, copy)
            first = promote(folder)
            print(f"first:  promote {first[0]:.2f} s, {first[1] / 1e6:.1f} MB sent")
            print(f"        rsync   {rsync_first[0]:.2f} s, {rsync_first[1] / 1e6:.1f} MB sent (files only)")
            promotes, syncs = [], []
            for round_ in range(rounds):
                edit(folder, round_)
                syncs.append(rsync(host, folder, copy))
                promotes.append(promote(folder))
            p_time = statistics.median(p[0] for p in promotes)
            r_time = statistics.median(r[0] for r in syncs)
            p_bytes = statistics.median(p[1] for p in promotes)
            r_bytes = statistics.median(r[1] for r in syncs)
            print(f"one-line edit, median of {rounds}:")
            print(
                f"        promote {p_time:.2f} s, {p_bytes / 1e3:.1f} kB sent (ship, apply, reload, settled)"
            )
            print(f"        rsync   {r_time:.2f} s, {r_bytes / 1e3:.1f} kB sent (files only)")
            ratio = p_bytes / max(r_bytes, 1)
            print(f"        promote / rsync: {p_time / r_time:.2f}x the time, {ratio:.2f}x the bytes")
            restarts(folder, host, path)
        finally:
            subprocess.run(
                [sys.executable, "-m", "workbench", "down", "--remote", "staging"],
                cwd=folder,
                capture_output=True,
                check=False,
            )
            wipe(host, path)
            wipe(host, copy)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
