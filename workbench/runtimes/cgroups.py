"""An instance type's memory and CPUs for a process instance, enforced by the kernel where the
engine can make control groups (as root, or in a delegated subtree), as Docker enforces them for a
container: past its memory the instance is killed while it allocates (never after it answered),
and the kill is known as an OOM kill.

- cgroup v2 (the unified hierarchy with the memory controller): `memory.max`, `memory.swap.max`,
  `cpu.max`; an OOM kill is counted in `memory.events`.
- cgroup v1 (the memory and cpu hierarchies): `memory.limit_in_bytes` (and the swap limit where
  the kernel has it), `cpu.cfs_quota_us`; an OOM kill is counted in `memory.oom_control`.
- Neither: `Cgroups.find()` is None, and the process runtime falls back to polling the group's
  resident memory (which kills after the fact, and cannot bound CPU).

The instance is put in its group before the server starts: a shell writes its own pid into the
group and then becomes the server (`exec`), so nothing the server allocates escapes the limit.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
GROUP = "workbench"
CPU_PERIOD_US = 100_000
JOIN = (
    'for group in "$@"; do [ "$group" = -- ] && break; echo $$ > "$group/cgroup.procs"; shift; done; '
    'shift; exec "$@"'
)
"""sh -c JOIN sh GROUP... -- COMMAND...: the shell joins each group, then becomes the command."""


@dataclass(frozen=True)
class InstanceGroup:
    """The control group(s) of one instance."""

    version: int
    folders: tuple[Path, ...]

    def command(self, command: list[str]) -> list[str]:
        return ["sh", "-c", JOIN, "sh", *map(str, self.folders), "--", *command]

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the group for going over its memory."""
        memory = self.folders[0]
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        with contextlib.suppress(OSError, ValueError):
            for line in (memory / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        return False

    def remove(self) -> None:
        """The group's folders, once its processes are gone (a folder with processes stays)."""
        for folder in self.folders:
            with contextlib.suppress(OSError):
                folder.rmdir()


@dataclass(frozen=True)
class Cgroups:
    """Where this engine makes its instances' groups, and which version it is."""

    version: int
    parents: tuple[Path, ...]
    """v2: the one parent; v1: the memory hierarchy's, then the cpu hierarchy's."""

    @property
    def describe(self) -> str:
        return f"cgroup v{self.version}"

    @classmethod
    def find(cls, root: Path = ROOT) -> Cgroups | None:
        """The control groups this process may make with memory and CPU limits; None if none."""
        for found in (cls._v2(root), cls._v1(root)):
            if found is not None:
                return found
        return None

    @classmethod
    def _v2(cls, root: Path) -> Cgroups | None:
        for base in (root, root / "unified"):
            controllers = base / "cgroup.controllers"
            with contextlib.suppress(OSError):
                if {"memory", "cpu"} <= set(controllers.read_text().split()):
                    # under the root (root's), else under this process's own group (a delegated one)
                    for parent in (base / GROUP, base / _own_v2_path(base) / GROUP):
                        if _usable(parent) and _controls(parent):
                            return cls(2, (parent,))
        return None

    @classmethod
    def _v1(cls, root: Path) -> Cgroups | None:
        parents = []
        for controller in ("memory", "cpu"):
            parent = root / controller / GROUP
            if not (root / controller / "cgroup.procs").is_file() or not _usable(parent):
                return None
            parents.append(parent)
        return cls(1, tuple(parents))

    def make(self, name: str, memory_bytes: int | None, cpus: float | None) -> InstanceGroup:
        """A group for one instance with its limits (OSError when the kernel refuses)."""
        folders = tuple(parent / name for parent in self.parents)
        for folder in folders:
            folder.mkdir(exist_ok=True)
        group = InstanceGroup(self.version, folders)
        try:
            if self.version == 2:
                (folders[0] / "memory.max").write_text(str(memory_bytes) if memory_bytes else "max")
                with contextlib.suppress(OSError):  # no swap accounting: the memory limit alone
                    (folders[0] / "memory.swap.max").write_text("0" if memory_bytes else "max")
                quota = str(int(cpus * CPU_PERIOD_US)) if cpus else "max"
                (folders[0] / "cpu.max").write_text(f"{quota} {CPU_PERIOD_US}")
            else:
                memory, cpu = folders
                if memory_bytes:
                    (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
                    with contextlib.suppress(OSError):
                        (memory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
                (cpu / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
                (cpu / "cpu.cfs_quota_us").write_text(str(int(cpus * CPU_PERIOD_US)) if cpus else "-1")
        except OSError:
            group.remove()
            raise
        return group


def _own_v2_path(base: Path) -> str:
    """This process's own group in the unified hierarchy (relative), from /proc/self/cgroup."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return line[3:].lstrip("/")
    return ""


def _controls(parent: Path) -> bool:
    """Whether groups made under `parent` get the memory and cpu controllers (v2)."""
    with contextlib.suppress(OSError):
        (parent / "cgroup.subtree_control").write_text("+memory +cpu")
    try:
        return {"memory", "cpu"} <= set((parent / "cgroup.subtree_control").read_text().split())
    except OSError:
        return False


def _usable(folder: Path) -> bool:
    """Whether this process can make groups there (it makes the folder, once)."""
    try:
        folder.mkdir(exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)
