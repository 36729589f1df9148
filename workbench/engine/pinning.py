"""Old pins kept coherent, as conda's solver keeps them.

A conda file that pins `scikit-learn=1.2.2` and leaves numpy open gets, from conda, a numpy of
scikit-learn 1.2.2's world; pip and uv give the newest numpy (2.x), and scikit-learn 1.2.2 then
fails at import ("numpy.dtype size changed"). So when an environment pins some packages exactly
and leaves others open, the open ones are resolved as of the newest pinned release's date: the
index's upload times (PEP 691 JSON, PEP 700 `upload-time`) give that date, and `uv pip compile
--exclude-newer` turns it into constraints for the install. The build log says so; where the
index does not answer, or the resolution fails, the install goes on as before.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
DEFAULT_INDEX = "https://pypi.org/simple"
TIMEOUT_S = 20.0
_EXACT = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*==\s*([0-9][0-9A-Za-z.+!-]*?)(\.\*)?$")
_NAME = re.compile(r"^([A-Za-z0-9_.\-]+)")


@dataclass(frozen=True)
class Era:
    """The date an environment's open packages are resolved as of, and why."""

    date: datetime
    package: str
    version: str

    def cutoff(self) -> str:
        """uv's --exclude-newer: the day after the release, in UTC."""
        return (self.date + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z")

    def describe(self) -> str:
        return (
            f"resolving the unpinned packages as of {self.date:%Y-%m-%d}, when {self.package} "
            f"{self.version} (the newest exact pin) was released, as conda keeps an old pin's world together"
        )


def exact_pins(packages: Iterable[str]) -> dict[str, str]:
    """name -> version of the packages pinned to one version (`==1.2.2`, or conda's `==1.2.2.*`)."""
    pins: dict[str, str] = {}
    for package in packages:
        match = _EXACT.match(package.strip())
        if match:
            pins[_normal(match.group(1))] = match.group(2)
    return pins


def has_open(packages: Iterable[str]) -> bool:
    """Whether some package may take any of several versions."""
    return any(not _EXACT.match(p.strip()) for p in packages if _NAME.match(p.strip()))


def era(packages: Iterable[str], index: str | None = None) -> Era | None:
    """When the newest of the exact pins was released, if there are pins and open packages."""
    packages = list(packages)
    pins = exact_pins(packages)
    if not pins or not has_open(packages):
        return None
    newest: Era | None = None
    for name, version in pins.items():
        released = release_date(name, version, index or _index())
        if released is not None and (newest is None or released > newest.date):
            newest = Era(released, name, version)
    return newest


def release_date(name: str, version: str, index: str) -> datetime | None:
    """The earliest upload time of `name` `version`'s files on the index; None if unknown."""
    request = urllib.request.Request(f"{index.rstrip('/')}/{name}/", headers={"Accept": SIMPLE_JSON})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            files = json.load(response).get("files", [])
    except (urllib.error.URLError, OSError, ValueError):
        return None
    spelled = re.escape(name).replace("\\-", "[-_.]")
    prefix = re.compile(rf"^{spelled}-{re.escape(version)}(?:-|\.tar|\.zip)", re.IGNORECASE)
    times = [
        datetime.fromisoformat(f["upload-time"].replace("Z", "+00:00"))
        for f in files
        if isinstance(f, dict) and f.get("upload-time") and prefix.match(str(f.get("filename", "")))
    ]
    return min(times) if times else None


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _index() -> str:
    return os.environ.get("UV_DEFAULT_INDEX") or os.environ.get("UV_INDEX_URL") or DEFAULT_INDEX
