"""The inner loop: from saving a file to the first answer from the new code, with a client
sending requests back to back the whole time; beside `uvicorn --reload` on an equivalent app.

Run: python tests/benchmarks/bench_reload.py [--edits 20]
Workbench: `workbench up` (process runtime) on an endpoint whose scoring script answers its
version; the client goes through the router. uvicorn 0.54 with watchfiles (`uvicorn[standard]`,
in a cached venv) runs an ASGI app that answers its version. Each edit rewrites the file as an
editor does (write a new file, rename it over the old one) with the next version; the time is
from the rename to the first answer carrying that version. Target (issue 8): workbench p50
under 250 ms, zero failed requests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx

from tests.engine.harness import ENDPOINT, deployment_yaml, engine, folder_with
from tests.server.harness import cached_venv, free_port
from workbench.client import EngineClient

SCORE = "def init():\n    pass\n\n\ndef run(data):\n    return {{'version': {version}}}\n"
ASGI = (
    "async def app(scope, receive, send):\n"
    "    if scope['type'] != 'http':\n        return\n"
    "    await send({{'type': 'http.response.start', 'status': 200,\n"
    "                 'headers': [(b'content-type', b'application/json')]}})\n"
    "    await send({{'type': 'http.response.body', 'body': b'{{\"version\": {version}}}'}})\n"
)
UVICORN = ["uvicorn[standard]==0.54.0"]


class Client(threading.Thread):
    """Back-to-back requests; the time each version was first seen, and every failure."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.url, self.headers = url, headers
        self.first_seen: dict[int, float] = {}
        self.requests = 0
        self.failures: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=10) as http:
            while not self.stopping.is_set():
                self.requests += 1
                try:
                    response = http.post(self.url, content=b"{}", headers=self.headers)
                    version = int(response.json()["version"])
                except Exception as exc:
                    self.failures.append(repr(exc))
                    time.sleep(0.001)
                    continue
                self.first_seen.setdefault(version, time.perf_counter())


def save(path: Path, text: str) -> float:
    fresh = path.with_name(path.name + ".tmp-save")
    fresh.write_text(text)
    os.replace(fresh, path)
    return time.perf_counter()


def measure(client: Client, path: Path, template: str, edits: int) -> list[float]:
    client.start()
    deadline = time.monotonic() + 30
    while 0 not in client.first_seen:
        if time.monotonic() > deadline:
            sys.exit(f"no answer from version 0: {client.failures[-3:]}")
        time.sleep(0.05)
    time.sleep(2)  # settled: the watchers run; start-up refusals are not reload failures
    client.failures.clear()
    client.requests = 0
    latencies = []
    for version in range(1, edits + 1):
        written = save(path, template.format(version=version))
        deadline = time.monotonic() + 30
        while version not in client.first_seen:
            if time.monotonic() > deadline:
                sys.exit(f"version {version} never answered: {client.failures[-3:]}")
            time.sleep(0.001)
        latencies.append((client.first_seen[version] - written) * 1000)
        time.sleep(0.5)  # let the new code serve a while
    client.stopping.set()
    client.join(10)
    return latencies


def workbench(folder: Path, edits: int) -> tuple[list[float], Client]:
    project = folder_with(
        folder, {"score.py": SCORE.format(version=0)}, {"blue": deployment_yaml("blue", "score.py")}
    )
    (project / "endpoint.yml").write_text(ENDPOINT.format(name="tests") + "traffic: {blue: 100}\n")
    with engine(project, folder) as running:
        running.wait_settled(120)
        with EngineClient.for_folder(project) as control:
            uri = control.status()[0].scoring_uri or ""
            key = control.credentials("tests").secret
        client = Client(uri, {"Authorization": f"Bearer {key}"})
        return measure(client, project / "code" / "score.py", SCORE, edits), client


def uvicorn(folder: Path, edits: int) -> tuple[list[float], Client]:
    venv = cached_venv("uvicorn-0.54.0", UVICORN)
    code = folder / "asgi"
    code.mkdir()
    (code / "app.py").write_text(ASGI.format(version=0))
    port = free_port()
    with (folder / "uvicorn.log").open("wb") as log:
        process = subprocess.Popen(
            [
                str(venv / "bin" / "uvicorn"),
                "app:app",
                "--reload",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=code,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        client = Client(f"http://127.0.0.1:{port}/", {})
        return measure(client, code / "app.py", ASGI, edits), client
    finally:
        process.terminate()
        process.wait(10)


def report(name: str, latencies: list[float], client: Client) -> None:
    ordered = sorted(latencies)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    print(
        f"  {name:26} p50 {statistics.median(ordered):7.1f} ms  p90 {p90:7.1f} ms  max {ordered[-1]:7.1f} ms"
        f"   requests {client.requests:6d}  failed {len(client.failures)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--edits", type=int, default=20)
    args = parser.parse_args()
    runs: list[tuple[str, Callable[[Path, int], tuple[list[float], Client]]]] = [
        ("workbench (via the router)", workbench),
        ("uvicorn --reload", uvicorn),
    ]
    results = []
    for name, run in runs:
        with tempfile.TemporaryDirectory() as tmp:
            results.append((name, *run(Path(tmp), args.edits)))
    print(f"\nfile saved -> first answer from the new code, {args.edits} edits, client sending throughout:")
    for name, latencies, client in results:
        report(name, latencies, client)
    ratio = statistics.median(results[1][1]) / statistics.median(results[0][1])
    print(f"  uvicorn / workbench (p50): {ratio:.1f}x")


if __name__ == "__main__":
    main()
