"""The workbench that runs here, as a wheel for the remote host: the same version, built from the
installed package itself (an editable checkout or an installed wheel alike), so the remote needs
no copy of the source and no build tools, only PyPI for the dependencies, as its environments do.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import zipfile
from pathlib import Path

import workbench

DISTRIBUTION = "endpoint-workbench"
ENTRY_POINTS = "[console_scripts]\nworkbench = workbench.cli:run\n"


def build_wheel(folder: Path) -> Path:
    """Writes the wheel into `folder` and returns its path; the same files give the same bytes."""
    meta = importlib.metadata.metadata(DISTRIBUTION)
    version = meta["Version"]
    name = f"endpoint_workbench-{version}-py3-none-any.whl"
    info = f"endpoint_workbench-{version}.dist-info"
    package = Path(workbench.__file__).parent
    entries: list[tuple[str, bytes]] = []
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
            entries.append((f"workbench/{path.relative_to(package).as_posix()}", path.read_bytes()))
    metadata_text = "".join(f"{key}: {value}\n" for key, value in meta.items())  # type: ignore[attr-defined]
    entries += [
        (f"{info}/METADATA", metadata_text.encode()),
        (
            f"{info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: workbench promote\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
        (f"{info}/entry_points.txt", ENTRY_POINTS.encode()),
    ]
    record = [f"{entry_path},sha256={_digest(data)},{len(data)}" for entry_path, data in entries]
    record.append(f"{info}/RECORD,,")
    entries.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry_path, data in entries:
            item = zipfile.ZipInfo(entry_path, date_time=(2020, 1, 1, 0, 0, 0))
            item.compress_type = zipfile.ZIP_DEFLATED
            item.external_attr = 0o644 << 16
            archive.writestr(item, data)
    return target


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
