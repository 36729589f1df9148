"""What Azure would upload from a model or code folder: the files, as the storage initializer
then finds them.

- `.amlignore` at the folder's root is honoured, else `.gitignore` (Azure uses one, the first);
  what it leaves out is listed.
- The workbench's own `.workbench/` is never part of it (`model: path: .` is common), nor are
  `__pycache__` and `.git`, nor a folder the workbench wrote for the user (an export, which holds
  keys and copies of models: its `.workbench-output` mark says so).
- Symbolic links are followed, as an upload follows them: their target's content is staged, a
  link into a folder brings that folder's files. A link that leads outside the project is
  followed and said; a dangling link and a folder loop are said and left out. Nothing staged is
  ever a link.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pathspec

from workbench.layout import FOLDER, OUTPUT_MARK

IGNORE_FILES = (".amlignore", ".gitignore")
ALWAYS_LEFT_OUT = (FOLDER, "__pycache__", ".git")


@dataclass
class Selection:
    """The files of one folder (or a single file) to stage, each with the file whose content
    it gets, and what the storage initializer should say about the rest."""

    files: list[tuple[PurePosixPath, Path]] = field(default_factory=list)
    """(path relative to the staged folder, the real file to read)"""
    notes: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(real.stat().st_size for _, real in self.files)


def select(source: Path, project: Path | None = None) -> Selection:
    """The files to stage from `source` (a folder, or one file); `project` is the folder whose
    outside a followed link is worth a word."""
    selection = Selection()
    if source.is_file():
        selection.files.append((PurePosixPath(source.name), source.resolve()))
        return selection
    if not source.is_dir():
        raise FileNotFoundError(2, "No such file or directory", str(source))
    ignore, ignore_file = _ignore_rules(source)
    if ignore_file is not None:
        selection.notes.append(f"{ignore_file.name} honoured: {ignore_file}")
    inside = project.resolve() if project is not None else None
    _walk(
        source, PurePosixPath(), ignore=ignore, project=inside, seen={source.resolve()}, selection=selection
    )
    selection.files.sort()
    return selection


def _ignore_rules(source: Path) -> tuple[pathspec.GitIgnoreSpec | None, Path | None]:
    for name in IGNORE_FILES:
        path = source / name
        if path.is_file():
            lines = path.read_text(errors="replace").splitlines()
            return pathspec.GitIgnoreSpec.from_lines(lines), path
    return None, None


def _walk(
    folder: Path,
    relative: PurePosixPath,
    *,
    ignore: pathspec.GitIgnoreSpec | None,
    project: Path | None,
    seen: set[Path],
    selection: Selection,
) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        selection.notes.append(f"left out {relative or '.'}: {exc.strerror}")
        return
    for entry in entries:
        path, name = Path(entry.path), relative / entry.name
        if entry.name in ALWAYS_LEFT_OUT:
            continue
        is_dir = entry.is_dir(follow_symlinks=True)
        if ignore is not None and ignore.match_file(f"{name}/" if is_dir else str(name)):
            selection.left_out.append(f"{name}/" if is_dir else str(name))
            continue
        real = path.resolve()
        if entry.is_symlink():
            if not real.exists():
                selection.notes.append(
                    f"left out {name}: a link to {os.readlink(path)}, which does not exist"
                )
                continue
            if project is not None and not real.is_relative_to(project):
                selection.notes.append(f"followed {name}: a link to {real}, outside the project")
        if is_dir:
            if (real / OUTPUT_MARK).is_file():
                selection.left_out.append(f"{name}/ (written by the workbench)")
                continue
            if real in seen:  # the folders this one is in, as their real paths
                selection.notes.append(f"left out {name}: a link back into a folder it is in (a loop)")
                continue
            _walk(path, name, ignore=ignore, project=project, seen=seen | {real}, selection=selection)
        elif entry.is_file(follow_symlinks=True):
            selection.files.append((name, real))
