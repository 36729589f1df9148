"""What the tests' deployment environments install from PyPI, built once into uv's cache before
the tests run (`.ci/run` calls `python -m tests.warm`), so that no test waits on a download: the
same builder and the same packages as the tests', in a scratch cache."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from tests.engine.test_collection import PACKAGES as COLLECTION
from tests.engine.test_engine import OTHER_PYTHON
from tests.engine.test_pinning import PACKAGES as OLD_PINS
from workbench.engine.environments import SERVER_NEEDS, EnvironmentBuilder, Requirements
from workbench.spec.interpreters import host_version

ENVIRONMENTS = [
    ("data collection", COLLECTION, host_version()),
    ("an old scikit-learn pin", OLD_PINS, host_version()),
    *([(f"Python {OTHER_PYTHON}", [], OTHER_PYTHON)] if OTHER_PYTHON else []),
]


async def warm() -> None:
    with tempfile.TemporaryDirectory() as folder:
        builder = EnvironmentBuilder(Path(folder) / "envs")
        for what, packages, python in ENVIRONMENTS:
            wanted = Requirements((*SERVER_NEEDS, *packages), python, ())
            await builder.ensure(wanted, Path(folder) / "build.log", lambda line: None)
            print(f"tests: the environment for {what} is in uv's cache", flush=True)


if __name__ == "__main__":
    asyncio.run(warm())
