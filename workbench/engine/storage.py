"""The storage initializer: stages a deployment's model and code where Azure puts them.

    <staged>/azureml-models/<model name>/<version>/<file>      a single-file model
    <staged>/azureml-models/<model name>/<version>/<folder>/   a folder model keeps its name
    <staged>/<code folder name>/...                             the code

which is Azure's /var/azureml-app: a container mounts <staged> there as it is.

Files are hard-linked where the file system allows, copied otherwise, never symlinked (MLflow
refuses symlinked model paths, reference 1.16). Staging writes into a fresh folder and swaps it
in, so a failure never leaves a half-staged deployment. Every step goes to the deployment's
`storage-initializer` log.

A reload refreshes the staged model and code in place instead (`refresh`): the running servers'
working folder must stay the same folder, so files are replaced one by one (each atomically),
and files gone from the source are removed.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import StartupError
from workbench.spec.deployment import DeploymentSpec

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


def stage(deployment: DeploymentSpec, target: Path, log: Path) -> Staged:
    with _Log(log) as say:
        start = time.perf_counter()
        fresh = target.with_name(target.name + ".staging")
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True)
        model_dir: Path | None = None
        try:
            if deployment.model is not None:
                model = deployment.model
                model_dir = target / "azureml-models" / model.name / model.version
                say(f"Staging model {model.name}:{model.version} from {model.path}")
                destination = fresh / "azureml-models" / model.name / model.version
                destination.mkdir(parents=True)
                files, size = _link_tree(model.path, destination / model.path.name)
                say(f"Model staged: {files} file(s), {_megabytes(size)}")
            code = deployment.code_configuration
            if code is None:
                app_root, entry = target, ""
            else:
                say(f"Staging code from {code.code}")
                files, size = _link_tree(code.code, fresh / code.code.name)
                say(f"Code staged: {files} file(s), {_megabytes(size)}")
                script = Path(code.scoring_script)
                app_root = target / code.code.name / script.parent
                entry = script.name
        except OSError as exc:
            shutil.rmtree(fresh, ignore_errors=True)
            say(f"Failed: {exc.strerror or exc}: {exc.filename}")
            raise StagingError(f"storage initializer failed: {exc.strerror or exc}: {exc.filename}") from exc
        shutil.rmtree(target, ignore_errors=True)
        os.replace(fresh, target)
        say(f"Done in {(time.perf_counter() - start) * 1000:.0f} ms")
    return Staged(model_dir, app_root, entry)


def refresh(deployment: DeploymentSpec, target: Path, log: Path) -> int:
    """Bring the model and code staged under `target` in line with their sources; the number of
    files that changed, appeared or went away."""
    pairs = []
    if deployment.model is not None:
        model = deployment.model
        pairs.append((model.path, target / "azureml-models" / model.name / model.version / model.path.name))
    if deployment.code_configuration is not None:
        code = deployment.code_configuration.code
        pairs.append((code, target / code.name))
    changed = 0
    with _Log(log) as say:
        try:
            for source, destination in pairs:
                changed += _sync(source, destination)
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
