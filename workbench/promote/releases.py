"""A remote's releases as a deploy tool keeps them (Kamal's lock and its release history):

- one promote or rollback at a time per remote folder: the host's lock names its holder (user,
  machine, command, since when); a second one is refused, saying who holds it, and a stale one
  (a promote killed outright) is released by hand (`workbench promote R --lock release`);
- each release's record: who sent it, when, from which git commit (and whether the tree was
  dirty), what it changed, and how it went: live, failed (with the reason), rolled back, or
  superseded by a later one. A rollback goes back only to releases that served; pruning keeps
  the live one and the last that served (agent.py).
"""

from __future__ import annotations

import contextlib
import getpass
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.errors import PromoteError
from workbench.promote.host_agent import RemoteHostAgent
from workbench.spec.local import RemoteHost

GOOD = ("live", "superseded")
"""Releases that served: what a rollback goes back to (agent.py's GOOD)."""


def who() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


@contextlib.contextmanager
def locked(agent: RemoteHostAgent, remote: RemoteHost, command: str) -> Iterator[None]:
    """The remote's promote lock while the block runs; refused, saying who has it, if taken."""
    token = uuid.uuid4().hex
    holder = {"holder": who(), "command": command, "token": token}
    taken = agent.lock(holder)
    if not taken.locked:
        raise PromoteError(held_by(remote, taken.held))
    try:
        yield
    finally:
        agent.unlock(token)


def held_by(remote: RemoteHost, held: dict[str, Any] | None) -> str:
    if held is None:
        return f"{remote.name} is not locked"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(held.get("since", 0))))
    return (
        f"{remote.name} is locked by {held.get('holder', '?')} ({held.get('command', '?')}) since {since}: "
        f"wait for it to finish, or `workbench promote {remote.name} --lock release` if it is stale"
    )


def provenance(root: Path) -> dict[str, Any]:
    """Who sends the release and from which commit of the project (None outside git)."""
    commit = _git(root, "rev-parse", "HEAD")
    dirty = bool(_git(root, "status", "--porcelain")) if commit else None
    return {"by": who(), "at": time.time(), "commit": commit, "dirty": dirty}


def record(agent: RemoteHostAgent, release: str, result: str, **details: Any) -> None:
    agent.outcome(release, result, details)


def rollback_target(agent: RemoteHostAgent, remote: RemoteHost, release: str | None) -> str:
    """`release`, if it served; else the last release before the current one that served."""
    known = agent.history()
    records, kept, current = known.records, known.kept, known.current
    if release is not None:
        if release not in kept:
            raise PromoteError(
                f"{remote.name} keeps no release {release} (kept: {', '.join(kept) or 'none'})"
            )
        outcome = records.get(release, {}).get("outcome")
        if outcome is not None and outcome not in GOOD:
            why = records[release].get("reason") or outcome
            raise PromoteError(
                f"release {release} never served ({why}): a rollback goes to a release that did"
            )
        return release
    served = [r for r in kept if r != current and (current is None or r < current) and _served(records, r)]
    if not served:
        raise PromoteError(
            f"{remote.name} keeps no release before {current} that served (kept: {', '.join(kept)})"
        )
    return served[-1]


def listed(agent: RemoteHostAgent) -> list[str]:
    """`workbench releases R`: one line per release, newest first."""
    known = agent.history()
    records, kept, current = known.records, set(known.kept), known.current
    lines = []
    for release in sorted(set(records) | kept, reverse=True):
        record_ = records.get(release, {})
        at = record_.get("at")
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(at))) if at else "?"
        commit = (record_.get("commit") or "no git")[:12] + (" (dirty)" if record_.get("dirty") else "")
        outcome = record_.get("outcome", "?") + (" (current)" if release == current else "")
        state = "kept" if release in kept else "pruned"
        line = f"{release}  {outcome:20} {when}  {record_.get('by', '?')}  {commit}  {state}"
        reason = str(record_.get("reason") or "").splitlines()
        line += "".join(f"\n    {said}" for said in reason[:3])
        lines.append(line)
    return lines


def _served(records: dict[str, dict[str, Any]], release: str) -> bool:
    outcome = records.get(release, {}).get("outcome")
    return outcome is None or outcome in GOOD  # None: a release sent before outcomes were kept


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
