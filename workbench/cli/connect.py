"""Which engine a command talks to: the project's own (found from `--project`, else the current
folder or the nearest above it; outside any project, the one engine this user runs), a local
workspace's (`--workspace NAME`, what azlocal creates), or the engine on a remote host (`--remote
NAME` or $WORKBENCH_REMOTE), reached through SSH."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.client import EngineClient
    from workbench.spec.local import LocalSettings, RemoteHost


def add_target_arguments(parser: Any) -> None:
    parser.add_argument(
        "--project",
        type=Path,
        help="the project folder (default: ., or the folder above it that has an engine; outside "
        "any, the one engine running)",
    )
    parser.add_argument(
        "--workspace",
        metavar="NAME",
        help="the engine of a local workspace, as azlocal creates them (instead of a project folder)",
    )
    parser.add_argument(
        "--remote",
        metavar="NAME",
        help="the engine on a remote of workbench.yaml, through SSH (default: $WORKBENCH_REMOTE, else local)",
    )


@contextlib.contextmanager
def engine_client(args: argparse.Namespace) -> Iterator[EngineClient]:
    """A client of the engine the arguments name, for as long as the block runs."""
    from workbench.promote.remote import chosen_remote, remote_client

    name = chosen_remote(getattr(args, "remote", None))
    folder = project_folder(args)
    if name is None:
        from workbench.client import EngineClient

        anywhere = args.project is None and getattr(args, "workspace", None) is None
        with EngineClient.for_folder(folder, anywhere=anywhere) as client:
            yield client
        return
    with remote_client(remote_of(folder, name)) as remote:
        yield remote


def project_folder(args: argparse.Namespace) -> Path:
    """The folder `--project` names, else the workspace `--workspace` names, else the current one."""
    folder: Path | None = args.project
    workspace: str | None = getattr(args, "workspace", None)
    if folder is None and workspace is not None:
        return workspace_folder(workspace)
    return folder if folder is not None else Path(".")


def workspace_folder(name: str) -> Path:
    """The folder of an existing local workspace."""
    from workbench.errors import WorkbenchError
    from workbench.workspace.folder import Workspace

    workspace = Workspace(name)
    if not workspace.exists:
        raise WorkbenchError(f"no workspace named {name!r}: azlocal makes one with its first command")
    return workspace.root


def read_request_file(path: Path) -> bytes:
    """A request file's bytes, or a clear error."""
    from workbench.errors import WorkbenchError

    try:
        return path.read_bytes()
    except OSError as exc:
        raise WorkbenchError(f"cannot read {path}: {exc.strerror}") from exc


def local_settings(project: Path) -> LocalSettings | None:
    """The workbench.yaml of `project` or of the nearest folder above it (None: there is none);
    one with errors is refused with them."""
    from workbench.errors import SpecError
    from workbench.spec.local import FILE_NAMES, read_local_settings
    from workbench.spec.problems import Problems

    start = project.resolve()
    for folder in (start, *start.parents):
        for file_name in FILE_NAMES:
            path = folder / file_name
            if path.is_file():
                problems = Problems()
                settings = read_local_settings(path, problems)
                if problems.has_errors:
                    raise SpecError(problems.sorted())
                return settings
    return None


def remote_of(project: Path, name: str) -> RemoteHost:
    """The remote called `name` in the project's workbench.yaml."""
    from workbench.errors import PromoteError

    settings = local_settings(project)
    if settings is None:
        raise PromoteError(f"no workbench.yaml in {project.resolve()} or above it names a remote {name!r}")
    remote = settings.remotes.get(name)
    if remote is None:
        known = ", ".join(sorted(settings.remotes)) or "none"
        raise PromoteError(f"{settings.file}: no remote named {name!r} (remotes: {known})")
    return remote
