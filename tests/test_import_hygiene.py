"""The spec layer and `workbench validate` load nothing heavy: checked in fresh interpreters."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

HEAVY = ("textual", "docker", "aiohttp", "httpx", "watchdog", "debugpy")


def loaded_modules(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        "import workbench",
        "import workbench.spec",
        "from workbench.cli import main; main(['validate', 'examples/quickstart'])",
    ],
    ids=["package", "spec", "validate-command"],
)
def test_nothing_heavy_is_imported(code: str) -> None:
    modules = loaded_modules(code)

    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == []
    assert "workbench" in modules


def test_inference_server_loads_only_the_standard_library_and_aiohttp() -> None:
    modules = loaded_modules("import workbench.server.main")

    ours = sorted(m for m in modules if m.startswith("workbench") and not m.startswith("workbench.server"))
    assert ours == ["workbench"]
    forbidden = ("textual", "docker", "httpx", "watchdog", "yaml", "debugpy", "flask", "werkzeug")
    assert sorted(m for m in modules if m.split(".")[0] in forbidden) == []
    assert "aiohttp" in modules


def test_probe_would_notice_a_heavy_import() -> None:
    assert "httpx" in loaded_modules("import httpx")
