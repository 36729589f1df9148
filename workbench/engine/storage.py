"""The storage initializer: stages a deployment's model and code where Azure puts them.

    <staged>/azureml-models/<model name>/<version>/<file>      a single-file model
    <staged>/azureml-models/<model name>/<version>/<folder>/   a folder model keeps its name
    <staged>/<code folder name>/...                             the code

which is Azure's /var/azureml-app: a container mounts <staged> there as it is.

With processes, files are hard-linked where the file system allows, copied otherwise, never
symlinked (MLflow refuses symlinked model paths, reference 1.16). With containers, the storage
initializer is a container of its own that copies from read-only mounts of the sources, as
Azure's does before the inference server starts. Staging writes into a fresh folder and swaps it
in, so a failure never leaves a half-staged deployment. Every step goes to the deployment's
`storage-initializer` log.

A reload refreshes the staged model and code in place instead (`refresh`): the running servers'
working folder must stay the same folder, so files are replaced one by one (each atomically),
and files gone from the source are removed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import StartupError
from workbench.spec.deployment import AZURE_APP_ROOT, DeploymentSpec

IGNORED_FOLDERS = ("__pycache__", ".git")


@dataclass(frozen=True)
class Staged:
    model_dir: Path | None
    """AZUREML_MODEL_DIR: .../azureml-models/<name>/<version>"""
    app_root: Path
    """AML_APP_ROOT: the code folder joined with the scoring script's sub-folder"""
    entry_script: str
    """AZUREML_ENTRY_SCRIPT: the scoring script's file name"""


class StagingError(StartupError):
    pass


class _Log:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a")

    def __enter__(self) -> Callable[[str], None]:
        return self.say

    def __exit__(self, *_: object) -> None:
        self._file.close()

    def say(self, line: str) -> None:
        self._file.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} | storage-initializer | {line}\n")
        self._file.flush()


@dataclass(frozen=True)
class Copy:
    """One thing the storage initializer stages: the model or the code."""

    what: str
    label: str
    source: Path
    destination: str
    """Relative to the staged folder (Azure's /var/azureml-app)."""


def plan(deployment: DeploymentSpec, target: Path) -> tuple[list[Copy], Staged]:
    """What to copy where, and where the instances will find it once staged under `target`."""
    copies: list[Copy] = []
    model_dir: Path | None = None
    if deployment.model is not None:
        model = deployment.model
        place = f"azureml-models/{model.name}/{model.version}"
        model_dir = target / place
        copies.append(
            Copy("model", f"{model.name}:{model.version}", model.path, f"{place}/{model.path.name}")
        )
    code = deployment.code_configuration
    if code is None:
        return copies, Staged(model_dir, target, "")
    copies.append(Copy("code", str(code.code), code.code, code.code.name))
    script = Path(code.scoring_script)
    return copies, Staged(model_dir, target / code.code.name / script.parent, script.name)


def stage(deployment: DeploymentSpec, target: Path, log: Path) -> Staged:
    """Stage on this machine, with hard links (the process runtime)."""
    copies, staged = plan(deployment, target)
    with _Log(log) as say:
        start = time.perf_counter()
        fresh = _fresh(target)
        try:
            for copy in copies:
                say(f"Staging {copy.what} {copy.label} from {copy.source}")
                files, size = _link_tree(copy.source, fresh / copy.destination)
                say(f"{copy.what.capitalize()} staged: {files} file(s), {_megabytes(size)}")
        except OSError as exc:
            shutil.rmtree(fresh, ignore_errors=True)
            say(f"Failed: {exc.strerror or exc}: {exc.filename}")
            raise StagingError(f"storage initializer failed: {exc.strerror or exc}: {exc.filename}") from exc
        _swap(fresh, target)
        say(f"Done in {(time.perf_counter() - start) * 1000:.0f} ms")
    return staged


RunContainer = Callable[[list[str], dict[str, str], dict[str, str], Callable[[str], None]], Awaitable[int]]
"""Runs a command in a container with read-only and writable mounts (host -> inside), every
line of output to the callback; its exit code."""


async def stage_in_container(
    deployment: DeploymentSpec, target: Path, log: Path, run: RunContainer
) -> Staged:
    """Stage in a container of its own before the inference server starts, as Azure's storage
    initializer does: the sources mounted read-only, copied into the staged folder."""
    copies, staged = plan(deployment, target)
    items = [
        {"what": c.what, "label": c.label, "source": f"/mnt/source/{i}", "destination": c.destination}
        for i, c in enumerate(copies)
    ]
    fresh = _fresh(target)
    with _Log(log) as say:
        start = time.perf_counter()
        read_only = {str(c.source.resolve()): f"/mnt/source/{i}" for i, c in enumerate(copies)}
        try:
            command = ["python3", "-c", STAGE_PROGRAM, json.dumps(items), AZURE_APP_ROOT]
            code = await run(command, read_only, {str(fresh): AZURE_APP_ROOT}, say)
        except StartupError as exc:
            shutil.rmtree(fresh, ignore_errors=True)
            say(f"Failed: {exc}")
            raise StagingError(f"storage initializer failed: {exc}") from exc
        if code != 0:
            shutil.rmtree(fresh, ignore_errors=True)
            say(f"Failed: the storage initializer exited with code {code}")
            raise StagingError(f"storage initializer failed (exit code {code}); see its log: {log}")
        _swap(fresh, target)
        say(f"Done in {(time.perf_counter() - start) * 1000:.0f} ms")
    return staged


STAGE_PROGRAM = """
import json, os, shutil, sys
for item in json.loads(sys.argv[1]):
    source, destination = item["source"], os.path.join(sys.argv[2], item["destination"])
    print(f"Staging {item['what']} {item['label']}", flush=True)
    files = size = 0
    if os.path.isfile(source):
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        shutil.copy2(source, destination)
        files, size = 1, os.path.getsize(source)
    else:
        for folder, subfolders, names in os.walk(source):
            subfolders[:] = [d for d in subfolders if d not in ("__pycache__", ".git")]
            inside = os.path.join(destination, os.path.relpath(folder, source))
            os.makedirs(inside, exist_ok=True)
            for name in names:
                shutil.copy2(os.path.join(folder, name), os.path.join(inside, name))
                files, size = files + 1, size + os.path.getsize(os.path.join(folder, name))
    print(f"{item['what'].capitalize()} staged: {files} file(s), {size / 1e6:.2f} MB", flush=True)
"""
"""The storage initializer's program inside its container: only the standard library."""


def _fresh(target: Path) -> Path:
    fresh = target.with_name(target.name + ".staging")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    return fresh


def _swap(fresh: Path, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    os.replace(fresh, target)


def refresh(deployment: DeploymentSpec, target: Path, log: Path) -> int:
    """Bring the model and code staged under `target` in line with their sources; the number of
    files that changed, appeared or went away."""
    copies, _ = plan(deployment, target)
    changed = 0
    with _Log(log) as say:
        try:
            for copy in copies:
                changed += _sync(copy.source, target / copy.destination)
        except OSError as exc:
            say(f"Refresh failed: {exc.strerror or exc}: {exc.filename}")
            raise StagingError(f"refresh failed: {exc.strerror or exc}: {exc.filename}") from exc
        say(f"Model and code refreshed: {changed} file(s) changed")
    return changed


def _sync(source: Path, destination: Path) -> int:
    """Make `destination` (a file or a folder) match `source`, file by file."""
    if source.is_file():
        return _sync_file(source, destination)
    changed = 0
    wanted: set[Path] = set()
    for folder, subfolders, names in os.walk(source):
        subfolders[:] = [d for d in subfolders if d not in IGNORED_FOLDERS]
        relative = Path(folder).relative_to(source)
        (destination / relative).mkdir(parents=True, exist_ok=True)
        wanted.add(relative)
        for name in names:
            wanted.add(relative / name)
            changed += _sync_file(Path(folder) / name, destination / relative / name)
    for folder, _subfolders, names in os.walk(destination, topdown=False):
        relative = Path(folder).relative_to(destination)
        for name in names:
            if relative / name not in wanted and not name.endswith(".pyc"):
                (Path(folder) / name).unlink()
                changed += 1
        if relative not in wanted and relative.name != "__pycache__":
            shutil.rmtree(folder, ignore_errors=True)
    return changed


def _sync_file(origin: Path, copy: Path) -> int:
    """Link (or copy) `origin` over `copy` atomically unless they are already the same; 1 if it
    had to."""
    if _same_file(origin, copy):
        return 0
    copy.parent.mkdir(parents=True, exist_ok=True)
    fresh = copy.with_name(f".{copy.name}.refresh")
    fresh.unlink(missing_ok=True)
    _link(origin, fresh)
    os.replace(fresh, copy)
    return 1


def _same_file(origin: Path, copy: Path) -> bool:
    try:
        a, b = origin.stat(), copy.stat()
    except FileNotFoundError:
        return False
    if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino):
        return True
    return a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns


def _link_tree(source: Path, destination: Path) -> tuple[int, int]:
    """Hard-link (or copy) `source`, a file or a folder, to `destination`; (files, bytes)."""
    if source.is_file():
        destination.parent.mkdir(parents=True, exist_ok=True)
        _link(source, destination)
        return 1, source.stat().st_size
    if not source.is_dir():
        raise FileNotFoundError(2, "No such file or directory", str(source))
    files = size = 0
    for folder, subfolders, names in os.walk(source):
        subfolders[:] = [d for d in subfolders if d not in IGNORED_FOLDERS]
        relative = Path(folder).relative_to(source)
        (destination / relative).mkdir(parents=True, exist_ok=True)
        for name in names:
            path = Path(folder) / name
            _link(path, destination / relative / name)
            files += 1
            size += path.stat().st_size
    return files, size


def _link(source: Path, destination: Path) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.2f} MB"
