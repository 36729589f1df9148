"""The storage initializer: stages a deployment's model and code where Azure puts them.

    <staged>/azureml-models/<model name>/<version>/<file>      a single-file model
    <staged>/azureml-models/<model name>/<version>/<folder>/   a folder model keeps its name
    <staged>/<code folder name>/...                             the code

which is Azure's /var/azureml-app: a container mounts <staged> there as it is.

What is staged is what Azure would upload (`upload.py`: ignore files, links followed, never the
workbench's own folder). With processes, model files are hard links to read-only blobs of the
project's store (`blobs.py`), never to the user's files, and code files are copies; nothing is
ever a symlink (MLflow refuses symlinked model paths). With containers, the storage initializer
is a container of its own that copies from read-only mounts of the sources, as Azure's does
before the inference server starts. Staging writes into a fresh folder and swaps it
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
from pathlib import Path, PurePosixPath

from workbench.engine.blobs import BlobStore
from workbench.errors import StartupError
from workbench.spec.deployment import AZURE_APP_ROOT, DeploymentSpec
from workbench.spec.upload import Selection, select


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
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())  # UTC, as every log and event
        self._file.write(f"{stamp} | storage-initializer | {line}\n")
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


def stage(
    deployment: DeploymentSpec, target: Path, log: Path, blobs: BlobStore, project: Path | None = None
) -> Staged:
    """Stage on this machine: model files linked to read-only blobs, code files copied."""
    copies, staged = plan(deployment, target)
    with _Log(log) as say:
        start = time.perf_counter()
        fresh = _fresh(target)
        try:
            for copy in copies:
                say(f"Staging {copy.what} {copy.label} from {copy.source}")
                selection = select(copy.source, project)
                _say_selection(selection, say)
                copied = 0
                for relative, real in selection.files:
                    destination = (
                        fresh / copy.destination / relative
                        if copy.source.is_dir()
                        else fresh / copy.destination
                    )
                    if copy.what == "model":
                        copied += blobs.link(real, destination).copied
                    else:
                        _copy_file(real, destination)
                how = f" ({copied} copied into the store, the rest unchanged)" if copy.what == "model" else ""
                say(
                    f"{copy.what.capitalize()} staged: {len(selection.files)} file(s), "
                    f"{_megabytes(selection.size)}{how}"
                )
        except OSError as exc:
            shutil.rmtree(fresh, ignore_errors=True)
            say(f"Failed: {exc.strerror or exc}: {exc.filename}")
            raise StagingError(f"storage initializer failed: {exc.strerror or exc}: {exc.filename}") from exc
        finally:
            blobs.save()
        _swap(fresh, target)
        say(f"Done in {(time.perf_counter() - start) * 1000:.0f} ms")
    return staged


def _say_selection(selection: Selection, say: Callable[[str], None]) -> None:
    for note in selection.notes:
        say(note)
    if selection.left_out:
        shown = ", ".join(selection.left_out[:20]) + (" ..." if len(selection.left_out) > 20 else "")
        say(f"Left out by the ignore file: {len(selection.left_out)} path(s): {shown}")


def _copy_file(real: Path, destination: Path) -> None:
    """A copy of the user's file, writable by the instance as an uploaded copy is."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    fresh = destination.with_name(f".{destination.name}.copy")
    shutil.copy2(real, fresh)
    os.chmod(fresh, 0o644)
    os.replace(fresh, destination)


RunContainer = Callable[[list[str], dict[str, str], dict[str, str], Callable[[str], None]], Awaitable[int]]
"""Runs a command in a container with read-only and writable mounts (host -> inside), every
line of output to the callback; its exit code."""


async def stage_in_container(
    deployment: DeploymentSpec, target: Path, log: Path, run: RunContainer, project: Path | None = None
) -> Staged:
    """Stage in a container of its own before the inference server starts, as Azure's storage
    initializer does: the sources mounted read-only, copied into the staged folder. What to copy
    is chosen here (`upload.select`), so ignore files and links mean the same in both runtimes."""
    copies, staged = plan(deployment, target)
    fresh = _fresh(target)
    with _Log(log) as say:
        start = time.perf_counter()
        read_only: dict[str, str] = {}
        items = []
        for index, copy in enumerate(copies):
            selection = select(copy.source, project)
            _say_selection(selection, say)
            root = copy.source.resolve() if copy.source.is_dir() else copy.source.resolve().parent
            read_only[str(root)] = f"/mnt/source/{index}"
            files = []
            for relative, real in selection.files:
                if real.is_relative_to(root):
                    inside = f"/mnt/source/{index}/{real.relative_to(root).as_posix()}"
                else:  # a followed link that leads out of the folder: the file on its own
                    inside = read_only.setdefault(str(real), f"/mnt/extra/{len(read_only)}")
                destination = (
                    PurePosixPath(copy.destination) / relative
                    if copy.source.is_dir()
                    else PurePosixPath(copy.destination)
                )
                files.append([inside, str(destination)])
            items.append({"what": copy.what, "label": copy.label, "files": files})
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
    print(f"Staging {item['what']} {item['label']}", flush=True)
    size = 0
    for source, destination in item["files"]:
        destination = os.path.join(sys.argv[2], destination)
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        shutil.copy2(source, destination)
        size += os.path.getsize(source)
    count = len(item["files"])
    print(f"{item['what'].capitalize()} staged: {count} file(s), {size / 1e6:.2f} MB", flush=True)
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


def refresh(
    deployment: DeploymentSpec, target: Path, log: Path, blobs: BlobStore, project: Path | None = None
) -> int:
    """Bring the model and code staged under `target` in line with their sources; the number of
    files that changed, appeared or went away."""
    copies, _ = plan(deployment, target)
    changed = 0
    with _Log(log) as say:
        try:
            for copy in copies:
                changed += _sync(copy, target, blobs, project)
        except OSError as exc:
            say(f"Refresh failed: {exc.strerror or exc}: {exc.filename}")
            raise StagingError(f"refresh failed: {exc.strerror or exc}: {exc.filename}") from exc
        finally:
            blobs.save()
        say(f"Model and code refreshed: {changed} file(s) changed")
    return changed


def _sync(copy: Copy, target: Path, blobs: BlobStore, project: Path | None) -> int:
    """Make the staged copy match its source, file by file; files gone from it are removed."""
    selection = select(copy.source, project)
    root = target / copy.destination
    if not copy.source.is_dir():
        selection.files = [(PurePosixPath(), real) for _, real in selection.files]
    changed = 0
    wanted: set[Path] = set()
    for relative, real in selection.files:
        destination = root / relative
        wanted.add(destination)
        wanted.update(destination.parents)
        if copy.what == "model":
            if not blobs.holds(real, destination):
                blobs.link(real, destination)
                changed += 1
        elif not _same_file(real, destination):
            _copy_file(real, destination)
            changed += 1
    if copy.source.is_dir():
        for folder, _subfolders, names in os.walk(root, topdown=False):
            for name in names:
                path = Path(folder) / name
                if path not in wanted and not name.endswith(".pyc"):
                    path.unlink()
                    changed += 1
            if Path(folder) not in wanted and Path(folder) != root and Path(folder).name != "__pycache__":
                shutil.rmtree(folder, ignore_errors=True)
    return changed


def _same_file(origin: Path, copy: Path) -> bool:
    try:
        a, b = origin.stat(), copy.stat()
    except FileNotFoundError:
        return False
    return a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.2f} MB"
