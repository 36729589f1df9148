"""The workbench that runs here, as a wheel for the remote host: exactly the distribution
installed here, so the remote runs what was tested here.

- Installed from a wheel (pip, pipx, uv tool): the files its installer recorded (RECORD), packed
  again as a wheel, byte for byte as installed; the installer's own files (INSTALLER, REQUESTED,
  direct_url.json, compiled files, console scripts) are left out, as a wheel has them not.
- An editable checkout: a wheel built from it by its own build backend (`pip wheel`), as
  `python -m build` would, kept in the user's cache by the digest of the sources it was built from.

The same files give the same bytes, so the remote installs a version once.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from workbench.errors import PromoteError

DISTRIBUTION = "endpoint-workbench"
INSTALLER_FILES = ("INSTALLER", "REQUESTED", "RECORD", "direct_url.json")
"""What an installer adds to a dist-info folder that the wheel did not have."""
SOURCE_FILES = ("pyproject.toml", "README.md", "workbench")
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "endpoint-workbench" / "wheels"


def build_wheel(folder: Path) -> Path:
    """Writes the wheel into `folder` and returns its path."""
    distribution = importlib.metadata.distribution(DISTRIBUTION)
    source = editable_source(distribution)
    folder.mkdir(parents=True, exist_ok=True)
    if source is None:
        return _repack(distribution, folder)
    built = _built_from(source)
    return Path(shutil.copy2(built, folder / built.name))


def editable_source(distribution: importlib.metadata.Distribution) -> Path | None:
    """The checkout an editable install points to, or None for an installed wheel."""
    text = distribution.read_text("direct_url.json")
    if not text:
        return None
    direct = json.loads(text)
    if not direct.get("dir_info", {}).get("editable"):
        return None
    return Path(urllib.request.url2pathname(urllib.parse.urlparse(direct["url"]).path))


def _repack(distribution: importlib.metadata.Distribution, folder: Path) -> Path:
    meta = distribution.metadata
    version = meta["Version"]
    info = f"endpoint_workbench-{version}.dist-info"
    entries: list[tuple[str, bytes]] = []
    for file in sorted(distribution.files or [], key=str):
        name = file.as_posix()
        if name.startswith("..") or "__pycache__" in file.parts or file.suffix in (".pyc", ".pyo"):
            continue  # console scripts (the installer writes them), compiled files
        if file.parent.name == info and file.name in INSTALLER_FILES:
            continue
        entries.append((name, Path(str(file.locate())).read_bytes()))
    if not any(name == f"{info}/WHEEL" for name, _ in entries):
        raise PromoteError(f"the installed {DISTRIBUTION} {version} has no record of its wheel to send")
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in entries]
    record.append(f"{info}/RECORD,,")
    entries.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
    target = folder / f"endpoint_workbench-{version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry_path, data in entries:
            item = zipfile.ZipInfo(entry_path, date_time=(2020, 1, 1, 0, 0, 0))
            item.compress_type = zipfile.ZIP_DEFLATED
            item.external_attr = 0o644 << 16
            archive.writestr(item, data)
    return target


def _built_from(source: Path) -> Path:
    """The checkout's wheel, built by its backend the first time these sources are seen."""
    cached = CACHE / _source_digest(source)
    found = sorted(cached.glob("*.whl"))
    if found:
        return found[0]
    with tempfile.TemporaryDirectory(prefix="workbench-wheel-") as scratch:
        pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", scratch, str(source)]
        # the backend installed here first (no download); else pip's own isolated build
        done = subprocess.run([*pip, "--no-build-isolation"], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            done = subprocess.run(pip, capture_output=True, text=True, check=False)
        wheels = sorted(Path(scratch).glob("endpoint_workbench-*.whl"))
        if done.returncode != 0 or not wheels:
            raise PromoteError(f"building the workbench's wheel from {source} failed:\n{done.stderr[-2000:]}")
        cached.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(wheels[0], cached / wheels[0].name))


def _source_digest(source: Path) -> str:
    digest = hashlib.sha256()
    for name in SOURCE_FILES:
        top = source / name
        paths = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for path in paths:
            if "__pycache__" in path.parts:
                continue
            digest.update(path.relative_to(source).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:24]


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
