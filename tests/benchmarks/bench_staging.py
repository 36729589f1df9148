"""Fast starts and staging, each against a reference in the same run.

Run: python tests/benchmarks/bench_staging.py [ROUNDS]

1. An instance start for the quickstart (`python -m workbench.server`, start to the first 200 on
   /: Python, scikit-learn's import, init()) in the quickstart's environment built as before
   (no bytecode) and as now (bytecode compiled at build time). Interleaved rounds, medians.
2. Staging a 1 GiB model: the first time (copied into the store), unchanged the second time,
   against copying the same folder with shutil.copytree (what a plain copy costs).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_up import time_single_server
from workbench.engine.blobs import BlobStore
from workbench.engine.environments import SERVER_NEEDS, requirements, uv_binary
from workbench.engine.storage import stage
from workbench.spec import load_project

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart"
MODEL_BYTES = 1024**3


def build(venv: Path, packages: list[str], *, bytecode: bool) -> Path:
    uv = uv_binary()
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    flags = ["--compile-bytecode"] if bytecode else []
    subprocess.run(
        [uv, "pip", "install", "--quiet", *flags, "--python", str(venv / "bin" / "python"), *packages],
        check=True,
    )
    return venv / "bin" / "python"


def time_start(python: Path) -> float:
    return time_single_server(python, {**os.environ, "PYTHONPATH": str(REPO)})


def starts(rounds: int, folder: Path) -> None:
    spec = load_project(QUICKSTART).raise_for_errors().endpoints[0].deployments[0]
    packages = [*requirements(spec.environment).packages, *SERVER_NEEDS]
    plain = build(folder / "plain", packages, bytecode=False)
    compiled = build(folder / "compiled", packages, bytecode=True)
    time_start(plain)  # the file system cache warm for both
    time_start(compiled)
    befores, afters = [], []
    for _ in range(rounds):
        befores.append(time_start(plain))
        afters.append(time_start(compiled))
    before, after = statistics.median(befores), statistics.median(afters)
    print(f"instance start to ready, quickstart, {rounds} interleaved rounds, seconds")
    print(f"  environment without bytecode (before): median {before:.2f} (min {min(befores):.2f})")
    print(f"  environment with bytecode (now):       median {after:.2f} (min {min(afters):.2f})")
    print(f"  ratio before / now: {before / after:.2f}x")


def staging(rounds: int, folder: Path) -> None:
    project = folder / "project"
    shutil.copytree(QUICKSTART, project)
    model = project / "model-1" / "model"
    with (model / "weights.bin").open("wb") as out:
        for _ in range(MODEL_BYTES // (64 * 1024 * 1024)):
            out.write(os.urandom(64 * 1024 * 1024))
    spec = load_project(project).raise_for_errors().endpoints[0].deployments[0]
    firsts, seconds, copies = [], [], []
    for round_ in range(rounds):
        store = BlobStore(folder / f"blobs-{round_}")
        log = folder / "si.log"
        start = time.perf_counter()
        stage(spec, folder / f"staged-{round_}" / "g1", log, store, project)
        firsts.append(time.perf_counter() - start)
        start = time.perf_counter()
        stage(spec, folder / f"staged-{round_}" / "g2", log, store, project)
        seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        shutil.copytree(model, folder / f"copy-{round_}")
        copies.append(time.perf_counter() - start)
        for path in (folder / f"staged-{round_}", folder / f"copy-{round_}", folder / f"blobs-{round_}"):
            shutil.rmtree(path, ignore_errors=True)
    first, second, copy = (statistics.median(x) for x in (firsts, seconds, copies))
    print(f"staging a {MODEL_BYTES / 2**30:.0f} GiB model, {rounds} rounds, seconds")
    print(f"  first time (hashed and copied into the store): median {first:.3f}")
    print(f"  unchanged, second time (linked):               median {second:.3f}")
    print(f"  reference, shutil.copytree of the model:       median {copy:.3f}")
    print(f"  ratio first / copy {first / copy:.2f}x; second / copy {second / copy:.4f}x")


def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        starts(rounds, Path(folder))
    with tempfile.TemporaryDirectory(dir=REPO.parent) as folder:
        staging(max(3, rounds // 2), Path(folder))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
