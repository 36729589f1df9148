"""Static checks of a scoring script, before any instance imports it.

The inference server refuses a script without `init` and `run`, a `run` taking `*args`,
`**kwargs` or positional-only parameters, a `run` with no input parameter, and `@rawhttp`
together with `@input_schema` (docs/azure.md, "The inference server's contract"). These checks
find the same faults from the source, with the file and line, without running user code.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from workbench.spec.problems import Location, Problems

_KEY = "code_configuration.scoring_script"


def check_scoring_script(path: Path, problems: Problems) -> None:
    try:
        source = path.read_bytes()
    except OSError as exc:
        problems.error(Location(path), _KEY, f"cannot read scoring script: {exc.strerror}")
        return
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        problems.error(
            Location(path, exc.lineno or 1, exc.offset or 1),
            _KEY,
            f"syntax error in scoring script: {exc.msg}",
        )
        return
    except ValueError as exc:  # null bytes, undecodable source
        problems.error(Location(path), _KEY, f"scoring script cannot be parsed: {exc}")
        return
    bound = dict(_module_bindings(tree))
    if "driver_module" in bound and "run" not in bound:
        return  # run() comes from the driver module, which only exists at run time
    for name in ("init", "run"):
        if name not in bound:
            problems.error(
                Location(path),
                _KEY,
                f"User script at {path.name} does not have a {name}() function defined.",
            )
    run = bound.get("run")
    if isinstance(run, (ast.FunctionDef, ast.AsyncFunctionDef)):
        _check_run(run, path, problems)


def _check_run(run: ast.FunctionDef | ast.AsyncFunctionDef, path: Path, problems: Problems) -> None:
    where = Location(path, run.lineno, run.col_offset + 1)
    args = run.args
    if args.posonlyargs or args.vararg or args.kwarg:
        problems.error(
            where,
            _KEY,
            "run() cannot accept positional-only arguments, *args, or **kwargs.",
        )
        return
    inputs = [a.arg for a in args.args + args.kwonlyargs if a.arg != "request_headers"]
    if not inputs:
        problems.error(where, _KEY, "run() must take an input parameter besides request_headers")
    decorators = {_decorator_name(d) for d in run.decorator_list}
    if "rawhttp" in decorators and "input_schema" in decorators:
        problems.error(where, _KEY, "run() cannot be decorated with both @rawhttp and @input_schema")


def _module_bindings(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
    """Names bound at module level, looking into if/try/with blocks but not into functions."""
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop(0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name, node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        yield name.id, node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                yield (alias.asname or alias.name).split(".")[0], node
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for block in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, block, []):
                    if isinstance(child, ast.ExceptHandler):
                        pending.extend(child.body)
                    else:
                        pending.append(child)


def _decorator_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""
