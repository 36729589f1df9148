"""Files written whole or not at all: a temporary file in the same folder, fsynced, then renamed
over the old one, so a crash or a full disk leaves the old file or the new one, never half of
one. Stdlib only: the engine, the workspaces and the CLI use it alike."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_whole(path: Path, text: str, mode: int = 0o600) -> None:
    """`text` in `path` with `mode` (0600 unless told: these files hold keys and settings)."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
