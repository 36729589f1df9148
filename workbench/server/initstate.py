"""Model-preserving reload: whether a reload may keep what the old init() built.

The rule, exactly. A reload skips init() and carries the globals that init() builds over from
the old script to the new one when, since the old init() ran, none of these changed:

1. init(), as Python parses it (comments and formatting do not count), with its decorators;
2. the functions of the same script that init() calls, directly or through each other;
3. every top-level statement of the script that is not a function or class definition
   (imports, constants, other assignments);
4. the model files: every file under AZUREML_MODEL_DIR, by relative path, size and
   modification time;

and init() keeps what it builds in globals: it (or a function of 2.) declares at least one name
`global`, and assigns no attribute of a name the script imports at top level (`helper.model =
...` would live in a module that the reload imports afresh). The carried-over globals are the
names declared `global` in init() and the functions of 2.

Anything else may change and init() is still skipped: run(), other functions and classes, other
modules of the code folder (even ones init() calls: a change there is not seen). Turned off with
WORKBENCH_REUSE_INIT=0 (`reuse_init: false` per deployment in workbench.yaml).
"""

from __future__ import annotations

import ast
import hashlib
import os
import types
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class InitFingerprint:
    code: str
    """Digest of rules 1 to 3."""
    model: str
    """Digest of rule 4."""
    names: tuple[str, ...]
    """The globals init() builds."""

    def allows_reuse_by(self, new: InitFingerprint | None) -> bool:
        return new is not None and bool(self.names) and new == self


def fingerprint(script: Path, model_dir: str) -> InitFingerprint | None:
    """None when init() cannot be analysed, or keeps state where a reload would lose it."""
    try:
        source = script.read_text()
        tree = ast.parse(source)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return None
    functions = {
        node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    if "init" not in functions:
        return None
    reached = _reached_from("init", functions)
    imported = {
        alias.asname or alias.name.split(".")[0]
        for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    names: set[str] = set()
    for name in reached:
        for node in ast.walk(functions[name]):
            if isinstance(node, ast.Global):
                names.update(node.names)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                base = node.value
                if isinstance(base, ast.Name) and base.id in imported:
                    return None  # state kept in an imported module: a reload would lose it
    digest = hashlib.sha256()
    for name in sorted(reached):
        digest.update(ast.dump(functions[name]).encode() + b"\0")
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            digest.update(ast.dump(node).encode() + b"\0")
    return InitFingerprint(digest.hexdigest(), model_digest(model_dir), tuple(sorted(names)))


def model_digest(model_dir: str) -> str:
    digest = hashlib.sha256()
    if model_dir and os.path.isdir(model_dir):
        for folder, subfolders, files in os.walk(model_dir):
            subfolders.sort()
            for name in sorted(files):
                path = os.path.join(folder, name)
                stat = os.stat(path)
                entry = f"{os.path.relpath(path, model_dir)}\0{stat.st_size}\0{stat.st_mtime_ns}\n"
                digest.update(entry.encode())
    return digest.hexdigest()


def carry_over(names: tuple[str, ...], old: types.ModuleType, new: types.ModuleType) -> list[str]:
    """Copy the globals init() built from the old module into the new one; those copied."""
    copied = []
    for name in names:
        if name in old.__dict__:
            new.__dict__[name] = old.__dict__[name]
            copied.append(name)
    return copied


def _reached_from(start: str, functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef]) -> set[str]:
    reached: set[str] = set()
    pending = [start]
    while pending:
        name = pending.pop()
        if name in reached or name not in functions:
            continue
        reached.add(name)
        pending.extend(
            node.id
            for node in ast.walk(functions[name])
            if isinstance(node, ast.Name) and node.id in functions
        )
    return reached
