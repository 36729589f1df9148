"""The promote agent: what `workbench promote` runs on the remote host, over SSH.

It is sent as its own source (`python3 -c <this file> COMMAND FOLDER ...`), so it needs nothing on
the host but Python 3.8 or later, and it imports nothing of the workbench. Every command answers
one JSON object on stdout. The remote folder:

    FOLDER/                      mode 0700: the remote user's alone
    FOLDER/project/              the project, as the engine serves it (its .workbench/ inside:
                                 the engine's state, keys and logs, and secrets.json: the values
                                 of workbench.yaml's {env: NAME} secrets, sent over SSH)
    FOLDER/.promote/blobs/       every file sent, by content (sha256), read-only
    FOLDER/.promote/releases/    one manifest per release (ID.json), the last few kept
    FOLDER/.promote/current      the release the project holds now
    FOLDER/.promote/history.json each release's record: who, when, commit, and its outcome (live,
                                 failed with the reason, rolled back, superseded)
    FOLDER/.promote/lock         who promotes now (holder, command, since): one at a time
    FOLDER/.promote/venv/        the workbench, installed from the wheel the laptop sent
    FOLDER/.promote/*.log        what installs and engine starts said

A release is applied by linking its files into `project/` one by one (each an atomic rename), so
the engine, which watches the project, sees only whole files; files of the old release that the
new one lacks are removed after. Nothing in `project/` changes before every file of the new
release is on the host.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from typing import Any

BLOBS = os.path.join(".promote", "blobs")
RELEASES = os.path.join(".promote", "releases")
WORKBENCH_FOLDER = ".workbench"
"""workbench/layout.py's FOLDER (tests/promote/test_agent.py holds them together): this file
imports nothing of the workbench, as it runs alone on the remote host."""


PROTOCOL = 2
"""The answers' shape (workbench/promote/answers.py reads them): every answer says it."""


def answer(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps({**payload, "protocol": PROTOCOL}))
    sys.stdout.flush()


def blob_path(folder: str, digest: str, executable: bool) -> str:
    name = digest + ("x" if executable else "")
    return os.path.join(folder, BLOBS, digest[:2], name)


def preflight(folder: str, needed_bytes: int, runtime: str, gpus: bool) -> None:
    """What the host has for the project, each lack with its fix."""
    problems = []
    if sys.version_info < (3, 10):  # noqa: UP036 (the host's Python, not the workbench's)
        problems.append(
            "Python {}.{} is too old for the workbench (3.10 or later needed): install python3.11".format(
                *sys.version_info[:2]
            )
        )
    try:  # what `python3 -m venv` needs (Debian ships it apart, as python3-venv)
        import ensurepip  # noqa: F401, PLC0415
        import venv  # noqa: F401, PLC0415
    except ImportError:
        problems.append("python3 cannot make virtual environments: install python3-venv")
    if runtime == "docker":
        docker = shutil.which("docker")
        if docker is None:
            problems.append("the Docker engine's client is not installed: install docker.io (or Docker CE)")
        else:
            info = subprocess.run(
                [docker, "info", "--format", "{{json .Runtimes}}"],
                capture_output=True,
                text=True,
                check=False,
            )
            if info.returncode != 0:
                said = (info.stderr.strip().splitlines() or ["no answer"])[-1]
                problems.append(
                    f"the Docker engine does not answer this user ({said}): start dockerd, and add the user "
                    "to the docker group (sudo usermod -aG docker $USER, then log in again)"
                )
            elif gpus and "nvidia" not in info.stdout:
                problems.append(
                    "a deployment needs GPUs and the Docker engine has no nvidia runtime: install the "
                    "NVIDIA Container Toolkit (nvidia-ctk runtime configure --runtime=docker)"
                )
    if gpus:
        smi = shutil.which("nvidia-smi")
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, check=False) if smi else None
        if listed is None or listed.returncode != 0 or "GPU" not in listed.stdout:
            seen = "missing" if smi is None else "lists no GPU"
            problems.append(
                f"a deployment needs GPUs and this host shows none (nvidia-smi {seen}): use a GPU host, "
                "or an instance type without GPUs"
            )
    free = 0
    made = []
    try:  # the folder must be this user's to make: made now, and unmade if it was not there
        missing_part = folder
        while not os.path.exists(missing_part):
            made.append(missing_part)
            missing_part = os.path.dirname(missing_part)
        os.makedirs(folder, exist_ok=True)
        free = shutil.disk_usage(folder).free
        for path in made:
            os.rmdir(path)
    except OSError as exc:
        problems.append(f"this user cannot make {folder} ({exc.strerror}): give the remote a path it owns")
    else:
        if free < needed_bytes:
            problems.append(
                f"{folder} has {free / 1e6:.1f} MB free and the project needs "
                f"{needed_bytes / 1e6:.1f} MB (its files, then the environments and staged copies): "
                "free some space, or give the remote another path"
            )
    answer(
        {
            "python": ".".join(str(n) for n in sys.version_info[:3]),
            "folder": os.path.abspath(folder),
            "free_bytes": free,
            "problems": problems,
        }
    )


def missing(folder: str, wanted: list[list[Any]]) -> None:
    """Which of the blobs (digest, executable) the host lacks."""
    answer({"missing": [w for w in wanted if not os.path.isfile(blob_path(folder, w[0], w[1]))]})


def receive(folder: str) -> None:
    """Blobs from a tar stream on stdin: each checked against its name before it is kept."""
    count = size = 0
    with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as stream:
        for member in stream:
            source = stream.extractfile(member) if member.isfile() else None
            if source is None:
                continue
            name = os.path.basename(member.name)
            digest, executable = name.rstrip("x"), name.endswith("x")
            target = blob_path(folder, digest, executable)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            hasher = hashlib.sha256()
            partial = target + ".part"
            with open(partial, "wb") as out:
                while True:
                    piece = source.read(1 << 20)
                    if not piece:
                        break
                    hasher.update(piece)
                    out.write(piece)
            if hasher.hexdigest() != digest:
                os.unlink(partial)
                raise SystemExit(f"blob {digest} arrived damaged")
            os.chmod(partial, 0o555 if executable else 0o444)
            os.replace(partial, target)
            count += 1
            size += member.size
    answer({"received": count, "bytes": size})


def current(folder: str) -> str | None:
    try:
        with open(os.path.join(folder, ".promote", "current")) as f:
            return f.read().strip() or None
    except OSError:
        return None


def manifest_of(folder: str, release: str) -> dict[str, Any]:
    with open(os.path.join(folder, RELEASES, release + ".json")) as f:
        manifest: dict[str, Any] = json.load(f)
    return manifest


def inside_project(relative: str) -> bool:
    """Whether a manifest's path stays in the project and out of the engine's own files: never
    absolute, never `..`, never `.workbench/` (its keys and state are the host's)."""
    parts = relative.replace("\\", "/").split("/")
    return (
        bool(relative) and not relative.startswith("/") and ".." not in parts and parts[0] != WORKBENCH_FOLDER
    )


def record(folder: str, manifest: dict[str, Any]) -> None:
    """Keeps a release's manifest; its blobs must all be there, its paths inside the project."""
    outside = [p for p in manifest["files"] if not inside_project(p)]
    if outside:
        raise SystemExit(f"release {manifest['id']} names {outside[0]}, outside the project: refused")
    lacking = [p for p, e in manifest["files"].items() if not os.path.isfile(blob_path(folder, e[0], e[2]))]
    if lacking:
        raise SystemExit(f"release {manifest['id']} lacks {len(lacking)} file(s), {lacking[0]} first")
    os.makedirs(os.path.join(folder, RELEASES), exist_ok=True)
    path = os.path.join(folder, RELEASES, manifest["id"] + ".json")
    with open(path + ".part", "w") as f:
        json.dump(manifest, f)
    os.replace(path + ".part", path)
    answer({"recorded": manifest["id"]})


GOOD = ("live", "superseded")
"""Outcomes of releases that served: the ones a rollback may go back to, and pruning keeps."""


def lock(folder: str, holder: dict[str, Any]) -> None:
    """Take the host's promote lock for `holder` (who, where, which command), or say who has it."""
    path = os.path.join(folder, ".promote", "lock")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        answer({"locked": False, "held": held_lock(folder)})
        return
    with os.fdopen(fd, "w") as f:
        json.dump({**holder, "since": time.time()}, f)
    answer({"locked": True})


def held_lock(folder: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(folder, ".promote", "lock")) as f:
            held: dict[str, Any] = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"holder": "unknown (an unreadable lock file)", "since": 0}
    return held


def unlock(folder: str, token: str | None) -> None:
    """Give the lock back: the holder's own (its token), or any (`--lock release`, a stale one)."""
    held = held_lock(folder)
    if held is not None and (token is None or held.get("token") == token):
        os.unlink(os.path.join(folder, ".promote", "lock"))
        answer({"released": True, "held": held})
        return
    answer({"released": False, "held": held})


def history(folder: str) -> dict[str, dict[str, Any]]:
    try:
        with open(os.path.join(folder, ".promote", "history.json")) as f:
            found: dict[str, dict[str, Any]] = json.load(f)
    except (OSError, ValueError):
        return {}
    return found


def write_history(folder: str, records: dict[str, dict[str, Any]]) -> None:
    path = os.path.join(folder, ".promote", "history.json")
    with open(path + ".part", "w") as f:
        json.dump(records, f, indent=1)
    os.replace(path + ".part", path)


def outcome(folder: str, release: str, result: str, details: dict[str, Any]) -> None:
    """Record how `release` went; a release that goes live makes the one live before superseded."""
    records = history(folder)
    if result == "live":
        for other, record in records.items():
            if other != release and record.get("outcome") == "live":
                record["outcome"] = "superseded"
    record = records.setdefault(release, {})
    record.update(details)
    record["outcome"] = result
    record["outcome_at"] = time.time()
    write_history(folder, records)
    answer({"release": release, "outcome": result})


def secrets(folder: str, values: dict[str, str]) -> None:
    """The values of the project's `{env: NAME}` secrets, where the engine reads them
    (project/.workbench/secrets.json, mode 0600): outside every release, never said back."""
    state = os.path.join(folder, "project", WORKBENCH_FOLDER)
    os.makedirs(state, mode=0o700, exist_ok=True)
    path = os.path.join(state, "secrets.json")
    try:
        with open(path) as f:
            changed = json.load(f) != values
    except (OSError, ValueError):
        changed = True
    if changed:
        fd = os.open(path + ".part", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(values, f)
        os.replace(path + ".part", path)
    answer({"changed": changed, "count": len(values)})


def activate(folder: str, release: str) -> None:
    """The project becomes `release`: whole files linked into place, then the old ones removed.
    Nothing is pruned here: the release it replaces is what a failed rollout goes back to."""
    manifest = manifest_of(folder, release)
    outside = [p for p in manifest["files"] if not inside_project(p)]
    if outside:  # a manifest written by hand, or by something else than promote
        raise SystemExit(f"release {release} names {outside[0]}, outside the project: refused")
    project = os.path.join(folder, "project")
    os.makedirs(project, exist_ok=True)
    changed = removed = 0
    for relative, (digest, _, executable) in sorted(manifest["files"].items()):
        source = blob_path(folder, digest, executable)
        target = os.path.join(project, relative)
        try:
            if os.path.samefile(source, target):
                continue
        except OSError:
            pass
        os.makedirs(os.path.dirname(target), exist_ok=True)
        temporary = os.path.join(os.path.dirname(target), ".promote-" + os.path.basename(target))
        if os.path.lexists(temporary):
            os.unlink(temporary)
        os.link(source, temporary)
        os.replace(temporary, target)
        changed += 1
    wanted = set(manifest["files"])
    for root, folders, files in os.walk(project, topdown=True):
        folders[:] = [d for d in folders if not (root == project and d == WORKBENCH_FOLDER)]
        for name in files:
            relative = os.path.relpath(os.path.join(root, name), project).replace(os.sep, "/")
            if relative not in wanted:
                os.unlink(os.path.join(root, name))
                removed += 1
    for root, _, _ in os.walk(project, topdown=False):
        if (
            root != project
            and not os.listdir(root)
            and not root.startswith(os.path.join(project, WORKBENCH_FOLDER))
        ):
            os.rmdir(root)
    before = current(folder)
    with open(os.path.join(folder, ".promote", "current.part"), "w") as f:
        f.write(release)
    os.replace(os.path.join(folder, ".promote", "current.part"), os.path.join(folder, ".promote", "current"))
    answer({"release": release, "previous": before, "changed": changed, "removed": removed})


def releases(folder: str) -> list[str]:
    try:
        names = [n[:-5] for n in os.listdir(os.path.join(folder, RELEASES)) if n.endswith(".json")]
    except OSError:
        return []
    return sorted(names)


def prune(folder: str, keep: int, active: str) -> list[str]:
    """The last `keep` releases that served are kept, the active one always, and the blobs they
    use; releases that never served (failed, rolled back) go. Their records stay in the history."""
    names = releases(folder)
    records = history(folder)
    good = [n for n in names if records.get(n, {}).get("outcome") in GOOD]
    kept = set(good[-max(1, keep) :]) | {active}
    dropped = [n for n in names if n not in kept]
    for name in dropped:
        os.unlink(os.path.join(folder, RELEASES, name + ".json"))
        if name in records:
            records[name]["pruned"] = True
    write_history(folder, records)
    used = set()
    for name in releases(folder):
        for digest, _, executable in manifest_of(folder, name)["files"].values():
            used.add(blob_path(folder, digest, executable))
        wheel = manifest_of(folder, name).get("wheel")
        if wheel:
            used.add(blob_path(folder, wheel, False))
    root = os.path.join(folder, BLOBS)
    for parent, _, files in os.walk(root):
        for name in files:
            path = os.path.join(parent, name)
            if path not in used and not name.endswith(".part"):
                os.unlink(path)
    return dropped


def install(folder: str, wheel_digest: str, wheel_name: str) -> None:
    """The workbench from the wheel the laptop sent, in a venv of its own; nothing if it is there."""
    venv = os.path.join(folder, ".promote", "venv")
    marker = os.path.join(venv, "installed-wheel")
    try:
        with open(marker) as f:
            if f.read().strip() == wheel_digest:
                answer({"installed": False})
                return
    except OSError:
        pass
    log = open(os.path.join(folder, ".promote", "install.log"), "a")  # noqa: SIM115 (closed below)
    if not os.path.isfile(os.path.join(venv, "bin", "python")):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True, stdout=log, stderr=log)
    wheel = os.path.join(folder, ".promote", wheel_name)
    shutil.copyfile(blob_path(folder, wheel_digest, False), wheel)
    pip = [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    done = subprocess.run(
        [*pip, "--force-reinstall", "--no-deps", wheel], stdout=log, stderr=log, check=False
    )
    if done.returncode == 0:
        done = subprocess.run([*pip, wheel + "[all]"], stdout=log, stderr=log, check=False)
    os.unlink(wheel)
    if done.returncode != 0:
        log.close()
        with open(os.path.join(folder, ".promote", "install.log")) as f:
            tail = f.read().splitlines()[-15:]
        raise SystemExit("installing the workbench failed:\n" + "\n".join(tail))
    log.close()
    with open(marker, "w") as f:
        f.write(wheel_digest)
    answer({"installed": True})


def engine(folder: str) -> None:
    """The engine serving the project, if one runs: its connection file (URL, token, pid)."""
    project = os.path.join(folder, "project")
    path = os.path.join(project, WORKBENCH_FOLDER, "connection.json")
    try:
        with open(path) as f:
            info = json.load(f)
        os.kill(int(info["pid"]), 0)
        found: dict[str, Any] | None = info
    except (OSError, ValueError, KeyError):
        found = None
    kept = False
    if found is not None:  # under a keeper (engine/keeper.py), which holds its ports across restarts
        try:
            with open(f"/proc/{int(found['pid'])}/environ", "rb") as f:
                kept = any(item.startswith(b"WORKBENCH_KEEPER=") for item in f.read().split(b"\0"))
        except OSError:
            kept = False
    try:
        with open(os.path.join(folder, ".promote", "venv", "installed-wheel")) as f:
            wheel = f.read().strip()
    except OSError:
        wheel = None
    answer(
        {
            "engine": found,
            "current": current(folder),
            "releases": releases(folder),
            "project": project,
            "installed_wheel": wheel,
            "kept": kept,
        }
    )


def start(folder: str, runtime: str, listen: list[str]) -> None:
    """The engine, detached from this SSH session, and a way for it to come back with the host."""
    project = os.path.join(folder, "project")
    workbench = os.path.join(folder, ".promote", "venv", "bin", "workbench")
    command = [workbench, "up", "--detach", "--runtime", runtime, *listen, project]
    path = os.path.join(folder, ".promote", "engine-start.log")
    with open(path, "a") as log:
        said_before = log.tell()  # what earlier starts said stays in the file, not in this answer
        done = subprocess.run(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            check=False,
        )
    with open(path) as f:
        f.seek(said_before)
        tail = f.read().splitlines()[-20:]
    answer({"exit_code": done.returncode, "said": tail, "boot": at_boot(command)})


def at_boot(command: list[str]) -> str:
    """Comes back with the host: a systemd user service where there is one, else cron's @reboot."""
    line = " ".join(f"'{c}'" for c in command)
    if shutil.which("systemctl") and subprocess.run(
        ["systemctl", "--user", "is-system-running"], capture_output=True, check=False
    ).returncode in (0, 1):
        unit_dir = os.path.expanduser("~/.config/systemd/user")
        os.makedirs(unit_dir, exist_ok=True)
        name = "workbench-" + hashlib.sha256(command[-1].encode()).hexdigest()[:12] + ".service"
        with open(os.path.join(unit_dir, name), "w") as f:
            f.write(
                f"[Unit]\nDescription=endpoint workbench engine for {command[-1]}\nAfter=docker.service\n\n"
                f"[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart={line}\n\n[Install]\nWantedBy=default.target\n"
            )
        enabled = subprocess.run(["systemctl", "--user", "enable", name], capture_output=True, check=False)
        if enabled.returncode == 0:
            return f"systemd user service {name} (needs `loginctl enable-linger` to start before login)"
        os.unlink(os.path.join(unit_dir, name))  # no user manager answers: nothing would start it
    if shutil.which("crontab"):
        listed = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=False)
        lines = listed.stdout.splitlines() if listed.returncode == 0 else []
        entry = "@reboot " + line
        if entry not in lines:
            added = subprocess.run(
                ["crontab", "-"],
                input="\n".join([*lines, entry]) + "\n",
                text=True,
                capture_output=True,
                check=False,
            )
            if added.returncode != 0:
                return f"not restarted with the host: crontab refused the entry ({added.stderr.strip()})"
        return "cron @reboot entry"
    return "not restarted with the host: neither a systemd user manager nor cron is available"


def purge(folder: str) -> None:
    """What promote put on the host for this folder: its boot entry and the folder itself
    (project, releases, blobs, venv, logs). The engine is stopped first (`workbench down --remote
    R --purge`). Images stay: they are shared by content with every other project on the host."""
    removed: list[str] = []
    project = os.path.join(folder, "project")
    unit = "workbench-" + hashlib.sha256(project.encode()).hexdigest()[:12] + ".service"
    unit_path = os.path.expanduser(os.path.join("~/.config/systemd/user", unit))
    if os.path.exists(unit_path):
        if shutil.which("systemctl"):
            subprocess.run(["systemctl", "--user", "disable", unit], capture_output=True, check=False)
        os.unlink(unit_path)
        removed.append(f"systemd user service {unit}")
    if shutil.which("crontab"):
        listed = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=False)
        lines = listed.stdout.splitlines() if listed.returncode == 0 else []
        kept = [line for line in lines if not (line.startswith("@reboot") and f"'{project}'" in line)]
        if kept != lines:
            table = "\n".join(kept) + "\n"
            subprocess.run(["crontab", "-"], input=table, text=True, capture_output=True, check=False)
            removed.append("cron @reboot entry")
    if os.path.isdir(folder):
        shutil.rmtree(folder)
        removed.append(folder)
    answer({"removed": removed})


WRITERS = ("receive", "record", "activate", "install", "start", "lock", "outcome", "prune", "secrets")


def private(folder: str) -> None:
    """The remote folder is the remote user's alone (0700): the project may hold secrets (a
    workbench.yaml with literal values), and the blobs inside are readable files."""
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)


def main(argv: list[str]) -> None:
    command, folder = argv[0], os.path.abspath(os.path.expanduser(argv[1]))
    if command in WRITERS:
        private(folder)
    if command == "preflight":
        preflight(folder, int(argv[2]), argv[3], argv[4] == "1")
    elif command == "missing":
        missing(folder, json.load(sys.stdin))
    elif command == "receive":
        receive(folder)
    elif command == "record":
        record(folder, json.load(sys.stdin))
    elif command == "activate":
        activate(folder, argv[2])
    elif command == "purge":
        purge(folder)
    elif command == "secrets":
        secrets(folder, json.load(sys.stdin))
    elif command == "prune":
        answer({"pruned": prune(folder, int(argv[3]), argv[2])})
    elif command == "lock":
        lock(folder, json.load(sys.stdin))
    elif command == "unlock":
        unlock(folder, argv[2] if len(argv) > 2 else None)
    elif command == "lock-status":
        answer({"held": held_lock(folder)})
    elif command == "outcome":
        outcome(folder, argv[2], argv[3], json.load(sys.stdin))
    elif command == "history":
        answer({"history": history(folder), "releases": releases(folder), "current": current(folder)})
    elif command == "install":
        install(folder, argv[2], argv[3])
    elif command == "engine":
        engine(folder)
    elif command == "start":
        start(folder, argv[2], argv[3:])
    elif command == "wait-gone":
        deadline = time.monotonic() + float(argv[3])
        while time.monotonic() < deadline:
            try:
                os.kill(int(argv[2]), 0)
            except OSError:
                answer({"alive": False})
                return
            time.sleep(0.1)
        answer({"alive": True})
    else:
        raise SystemExit(f"unknown agent command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
