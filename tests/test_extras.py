"""Optional extras: a feature whose package is not installed says which extra to install, and
what does not need it keeps working. Run in a fresh interpreter where the package cannot be
imported (as on a machine without it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import QUICKSTART, REPO


def without(package: str, code: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter where importing `package` fails."""
    prelude = f"import sys\nsys.modules[{package!r}] = None\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_docker_runtime_without_docker_names_the_extra() -> None:
    cli = "from workbench.cli import main\nsys.exit(main(['devcontainer', 'quickstart', 'blue']))"
    result = without("docker", cli, cwd=QUICKSTART)
    assert result.returncode == 3, result.stderr
    assert "the Docker runtime needs the workbench's `docker` extra" in result.stderr
    assert "pip install 'endpoint-workbench[docker]'" in result.stderr


def test_validate_and_the_process_runtime_need_no_extra() -> None:
    cli = "from workbench.cli import main\nsys.exit(main(['validate', '.']))"
    assert without("docker", cli, cwd=QUICKSTART).returncode == 0
    runtime = (
        "from pathlib import Path\nfrom workbench.runtimes import get_runtime\n"
        "print(get_runtime('process', Path('.')).kind)"
    )
    assert without("docker", runtime).stdout.strip() == "process"


def test_no_nvidia_ml_py_means_no_gpu_figures_and_says_why() -> None:
    code = "from workbench.telemetry.gpu import gpus, missing_gpu\nprint(gpus())\nprint(missing_gpu())"
    result = without("pynvml", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "[]",
        "nvidia-ml-py is not installed: pip install 'endpoint-workbench[gpu]'",
    ]


def test_the_debugger_without_debugpy_names_the_extra(tmp_path: Path) -> None:
    code = (
        "from pathlib import Path\nfrom workbench.dev.debugger import provide_debugpy\n"
        f"try:\n    provide_debugpy(Path({str(tmp_path)!r}))\nexcept Exception as exc:\n    print(exc)\n"
    )
    result = without("debugpy", code)
    assert "the debugger needs the workbench's `debug` extra" in result.stdout, result.stderr
