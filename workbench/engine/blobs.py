"""A content-addressed store of read-only copies of model files, in the project's `.workbench/`.

Staging hard-links a model file's blob into the staged folder instead of linking the user's own
file: a `run()` that writes to its model cannot reach the project's files, and a blob is made
read-only (0444), so the write fails as on Azure, where the model is mounted read-only (for a
process running as root the process runtime adds a read-only mount). Each distinct content is
copied once; a file that has not changed since (same size, time and inode) is not even read
again, so a large model is staged in milliseconds the second time. A blob that was changed
behind the store's back (root can write to a 0444 file) is noticed by its time and replaced.

The store is on the same file system as the staged folders, so linking never falls back to a
copy. Blobs that no staged folder links to any more are pruned.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

HASH_CHUNK = 1024 * 1024
_stores: dict[Path, BlobStore] = {}
_stores_lock = threading.Lock()


@dataclass(frozen=True)
class Stored:
    blob: Path
    size: int
    copied: bool
    """False when the file's content was in the store already."""


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._index_path = root / "index.json"
        self._lock = threading.Lock()
        self._dirty = False
        self._sources: dict[str, list[int | str]] = {}
        """real path -> [size, mtime_ns, inode, digest]"""
        self._blobs: dict[str, list[int]] = {}
        """digest -> [size, mtime_ns] of the blob as written"""
        with contextlib.suppress(OSError, ValueError):
            index = json.loads(self._index_path.read_text())
            self._sources, self._blobs = dict(index["sources"]), dict(index["blobs"])

    @classmethod
    def at(cls, root: Path) -> BlobStore:
        """The one store of a folder in this process (staging runs in threads)."""
        with _stores_lock:
            store = _stores.get(root)
            if store is None:
                store = _stores[root] = cls(root)
            return store

    def put(self, source: Path) -> Stored:
        """The read-only blob with `source`'s content, copied into the store if needed."""
        real = source.resolve()
        state = real.stat()
        with self._lock:
            known = self._sources.get(str(real))
            if known is not None and known[:3] == [state.st_size, state.st_mtime_ns, state.st_ino]:
                digest = str(known[3])
                if self._intact(digest):
                    return Stored(self._path(digest), state.st_size, copied=False)
        digest, temporary = self._copy(real)
        blob = self._path(digest)
        with self._lock:
            if self._intact(digest):
                temporary.unlink()
                copied = False
            else:
                os.replace(temporary, blob)
                written = blob.stat()
                self._blobs[digest] = [written.st_size, written.st_mtime_ns]
                copied = True
            self._sources[str(real)] = [state.st_size, state.st_mtime_ns, state.st_ino, digest]
            self._dirty = True
        return Stored(blob, state.st_size, copied)

    def link(self, source: Path, destination: Path) -> Stored:
        """`destination` becomes a hard link to `source`'s blob (replacing what was there)."""
        stored = self.put(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        fresh = destination.with_name(f".{destination.name}.link")
        fresh.unlink(missing_ok=True)
        os.link(stored.blob, fresh)
        os.replace(fresh, destination)
        return stored

    def holds(self, source: Path, staged: Path) -> bool:
        """Whether `staged` is already the blob of `source`'s current content (nothing read
        when `source` is as it was)."""
        try:
            return os.path.samefile(self.put(source).blob, staged)
        except OSError:
            return False

    def prune(self) -> int:
        """Remove the blobs that nothing links to any more; how many."""
        removed = 0
        with self._lock:
            for digest in list(self._blobs):
                blob = self._path(digest)
                try:
                    if blob.stat().st_nlink > 1:
                        continue
                    blob.unlink()
                except FileNotFoundError:
                    pass
                del self._blobs[digest]
                removed += 1
            self._sources = {k: v for k, v in self._sources.items() if str(v[3]) in self._blobs}
            self._save()
        return removed

    def _path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def _intact(self, digest: str) -> bool:
        written = self._blobs.get(digest)
        try:
            state = self._path(digest).stat()
        except FileNotFoundError:
            return False
        return written == [state.st_size, state.st_mtime_ns]

    def _copy(self, real: Path) -> tuple[str, Path]:
        """Copy `real` into a temporary file of the store (in the kernel, sendfile) while another
        thread hashes it; (digest, file)."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.root / f".incoming-{os.getpid()}-{threading.get_ident()}"
        with concurrent.futures.ThreadPoolExecutor(1) as hasher:
            digest = hasher.submit(_sha256, real)
            shutil.copyfile(real, temporary)
            name = digest.result()
        os.chmod(temporary, 0o444)
        self._path(name).parent.mkdir(exist_ok=True)
        return name, temporary

    def save(self) -> None:
        """Write the index if anything was put since: once per staging, not once per file."""
        with self._lock:
            if self._dirty:
                self._save()

    def _save(self) -> None:
        self._dirty = False
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        fresh = self._index_path.with_name(f".index.{os.getpid()}.json")
        fresh.write_text(json.dumps({"sources": self._sources, "blobs": self._blobs}))
        os.replace(fresh, self._index_path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(HASH_CHUNK)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as file:
        while size := file.readinto(buffer):
            digest.update(view[:size])  # hashlib lets other threads run while it hashes
    return digest.hexdigest()
