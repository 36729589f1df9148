"""Model-preserving reload: a reload that changed neither init() nor the model keeps what the
old init() built (a model that takes a long time to load is not loaded again); any change the
rule counts runs init() again. The rule itself is in workbench/server/initstate.py."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.server.harness import running
from workbench.server.initstate import fingerprint

TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
SLOW_INIT_S = 5


def slow_model_script(run_version: int, init_version: int = 1) -> str:
    return (
        "import os\nimport time\n\n\n"
        "def init():\n"
        "    global model\n"
        f"    time.sleep({SLOW_INIT_S})  # a model that takes long to load\n"
        f"    model = {{'loaded_at': time.time(), 'init_version': {init_version}}}\n\n\n"
        "def run(data):\n"
        f"    return {{**model, 'run_version': {run_version}}}\n"
    )


def reload(url: str) -> dict[str, object]:
    response = httpx.post(url + "/-/reload", headers=ADMIN, timeout=60)
    assert response.status_code == 200, response.text
    outcome: dict[str, object] = response.json()
    return outcome


def score(url: str) -> dict[str, object]:
    answer: dict[str, object] = httpx.post(url + "/score", content=b"{}", timeout=10).json()
    return answer


def test_a_run_edit_keeps_the_model_and_an_init_edit_loads_it_again(tmp_path: Path) -> None:
    code = tmp_path / "code"
    (code / "model").mkdir(parents=True)
    (code / "model" / "weights.bin").write_bytes(b"\0" * 1000)
    entry = code / "score.py"
    entry.write_text(slow_model_script(run_version=1))
    env = {"WORKBENCH_ADMIN_TOKEN": TOKEN, "AZUREML_MODEL_DIR": str(code / "model")}
    with running("workbench", entry, env=env, log_dir=tmp_path, ready_timeout=60) as server:
        first = score(server.url)

        entry.write_text(slow_model_script(run_version=2))  # run() changed, init() did not
        outcome = reload(server.url)
        assert outcome["init"] == "kept"
        assert outcome["kept_globals"] == ["model"]
        second = score(server.url)
        assert second == {**first, "run_version": 2}  # the same model object, the new run()

        entry.write_text(slow_model_script(run_version=2, init_version=2))  # init() changed
        started = time.perf_counter()
        outcome = reload(server.url)
        assert outcome["init"] == "ran"
        assert time.perf_counter() - started >= SLOW_INIT_S
        third = score(server.url)
        assert third["init_version"] == 2
        assert third["loaded_at"] != first["loaded_at"]

        (code / "model" / "weights.bin").write_bytes(b"\1" * 1001)  # the model changed
        assert reload(server.url)["init"] == "ran"
    assert "kept what init() built (model)" in server.output()


def test_reuse_can_be_turned_off(tmp_path: Path) -> None:
    entry = tmp_path / "score.py"
    entry.write_text(slow_model_script(run_version=1).replace(f"time.sleep({SLOW_INIT_S})", "time.sleep(0)"))
    env = {"WORKBENCH_ADMIN_TOKEN": TOKEN, "WORKBENCH_REUSE_INIT": "0"}
    with running("workbench", entry, env=env, log_dir=tmp_path) as server:
        entry.write_text(entry.read_text().replace("'run_version': 1", "'run_version': 2"))
        assert reload(server.url)["init"] == "ran"
        assert score(server.url)["run_version"] == 2


BASE = (
    "import helper\nimport os\n\nLIMIT = 3\n\n\n"
    "def load():\n    global model\n    model = [LIMIT]\n\n\n"
    "def init():\n    # load the model\n    load()\n\n\n"
    "def run(data):\n    return model\n"
)


@pytest.mark.parametrize(
    ("change", "kept"),
    [
        (lambda s: s.replace("return model", "return model * 2"), True),  # run() only
        (lambda s: s.replace("# load the model", "# load it, with a comment"), True),  # a comment
        (lambda s: s + "\n\nclass Extra:\n    pass\n", True),  # a new class
        (lambda s: s.replace("LIMIT = 3", "LIMIT = 4"), False),  # a top-level constant
        (lambda s: s.replace("model = [LIMIT]", "model = [LIMIT, 1]"), False),  # a function init() calls
        (lambda s: s.replace("import os", "import os\nimport json"), False),  # an import
    ],
    ids=["run", "comment", "class", "constant", "called-function", "import"],
)
def test_the_rule(tmp_path: Path, change: object, kept: bool) -> None:
    path = tmp_path / "score.py"
    path.write_text(BASE)
    before = fingerprint(path, "")
    assert before is not None
    assert before.names == ("model",)
    path.write_text(change(BASE))  # type: ignore[operator]
    assert before.allows_reuse_by(fingerprint(path, "")) is kept


def test_state_kept_in_an_imported_module_is_never_reused(tmp_path: Path) -> None:
    path = tmp_path / "score.py"
    path.write_text(
        "import helper\n\n\ndef init():\n    helper.model = 1\n\n\ndef run(data):\n    return 1\n"
    )
    assert fingerprint(path, "") is None
