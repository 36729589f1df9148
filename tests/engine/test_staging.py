"""Staging that protects the user's files: read-only models, what Azure would upload (ignore files,
links followed, never `.workbench/`), a store that copies a model once."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from tests.conftest import SpecFolder, project_files
from tests.engine.harness import ECHO, deployment_yaml, engine, folder_with
from workbench.client import EngineClient
from workbench.engine.blobs import BlobStore
from workbench.engine.storage import refresh, stage
from workbench.spec import load_project
from workbench.spec.upload import select
from workbench.state import ProvisioningState

WRITES_ITS_MODEL = """import os


def init():
    pass


def run(data):
    path = os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.pkl")
    try:
        with open(path, "a") as model:
            model.write("changed by run()")
    except OSError as exc:
        return {"error": type(exc).__name__, "errno": exc.errno}
    return {"error": None}
"""


def staged_files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def test_a_run_that_writes_to_its_model_fails_and_the_users_file_is_unchanged(
    spec_folder: SpecFolder, tmp_path: Path
) -> None:
    folder = spec_folder(project_files())
    (folder / "src" / "score.py").write_text(WRITES_ITS_MODEL)
    (folder / "endpoint.yml").write_text((folder / "endpoint.yml").read_text() + "traffic:\n  blue: 100\n")
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(120)
        assert endpoint.deployments[0].provisioning_state is ProvisioningState.SUCCEEDED
        with EngineClient.for_folder(folder) as client:
            key = client.credentials("my-endpoint").secret
        answer = httpx.post(endpoint.scoring_uri or "", json={}, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    # EROFS (30) under the read-only mount root gets; EACCES (13) from the file's mode otherwise
    assert answer.json()["error"] in ("OSError", "PermissionError")
    assert answer.json()["errno"] in (13, 30)
    assert (folder / "model.pkl").read_text() == "x"


def test_links_are_followed_as_an_upload_follows_them(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("content from outside")
    (outside / "shared").mkdir()
    (outside / "shared" / "vocab.txt").write_text("words")
    model = tmp_path / "project" / "model"
    model.mkdir(parents=True)
    (model / "weights.bin").write_text("w")
    (model / "linked.txt").symlink_to(outside / "secret.txt")
    (model / "shared").symlink_to(outside / "shared")
    (model / "loop").symlink_to(model)
    (model / "dangling").symlink_to(tmp_path / "nowhere")

    selection = select(model, tmp_path / "project")

    assert [str(name) for name, _ in selection.files] == ["linked.txt", "shared/vocab.txt", "weights.bin"]
    notes = "\n".join(selection.notes)
    assert "followed linked.txt: a link to" in notes
    assert "outside the project" in notes
    assert "left out loop: a link back into a folder it is in (a loop)" in notes
    assert "left out dangling: a link to" in notes


def test_staged_files_are_never_links_and_have_their_targets_content(
    spec_folder: SpecFolder, tmp_path: Path
) -> None:
    folder = spec_folder(project_files())
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_text("target content")
    (folder / "model").mkdir()
    (folder / "model" / "data.txt").symlink_to(outside)
    (folder / "blue.yml").write_text(
        (folder / "blue.yml").read_text().replace("path: model.pkl", "path: model")
    )
    deployment = load_project(folder).raise_for_errors().endpoints[0].deployments[0]

    staged = stage(
        deployment, tmp_path / "staged", tmp_path / "si.log", BlobStore(tmp_path / "blobs"), folder
    )

    assert staged.model_dir is not None
    copy = staged.model_dir / "model" / "data.txt"
    assert not copy.is_symlink()
    assert copy.read_text() == "target content"
    assert "outside the project" in (tmp_path / "si.log").read_text()


def test_model_path_dot_stages_the_folder_without_the_workbench_s_own(
    spec_folder: SpecFolder, tmp_path: Path
) -> None:
    folder = spec_folder(project_files())
    (folder / "blue.yml").write_text((folder / "blue.yml").read_text().replace("path: model.pkl", "path: ."))
    (folder / ".workbench" / "logs").mkdir(parents=True)
    (folder / ".workbench" / "logs" / "big.log").write_text("log")
    (folder / ".amlignore").write_text("*.log\nscratch/\n")
    (folder / "notes.log").write_text("ignored")
    (folder / "scratch").mkdir()
    (folder / "scratch" / "tmp.bin").write_text("ignored")
    deployment = load_project(folder).raise_for_errors().endpoints[0].deployments[0]
    target = folder / ".workbench" / "staged" / "g1"

    log = folder / ".workbench" / "si.log"
    staged = stage(deployment, target, log, BlobStore(folder / ".workbench" / "blobs"), folder)

    assert staged.model_dir is not None
    names = set(staged_files(staged.model_dir))
    assert f"{folder.name}/model.pkl" in names
    assert f"{folder.name}/src/score.py" in names
    assert not any(".workbench" in n or n.endswith(".log") or "scratch" in n for n in names), names
    said = log.read_text()
    assert ".amlignore honoured" in said
    assert "Left out by the ignore file: 2 path(s): notes.log, scratch/" in said


def test_an_unchanged_model_is_not_copied_again_and_a_changed_one_is(
    spec_folder: SpecFolder, tmp_path: Path
) -> None:
    folder = spec_folder(project_files())
    deployment = load_project(folder).raise_for_errors().endpoints[0].deployments[0]
    blobs = BlobStore(tmp_path / "blobs")
    log = tmp_path / "si.log"

    stage(deployment, tmp_path / "g1", log, blobs)
    stage(deployment, tmp_path / "g2", log, blobs)
    lines = [line for line in log.read_text().splitlines() if "Model staged" in line]
    assert "(1 copied into the store" in lines[0]
    assert "(0 copied into the store" in lines[1]
    first = tmp_path / "g1" / "azureml-models"
    second = tmp_path / "g2" / "azureml-models"
    (one,) = first.rglob("model.pkl")
    (two,) = second.rglob("model.pkl")
    assert os.path.samefile(one, two)

    (folder / "model.pkl").write_text("y")
    assert refresh(deployment, tmp_path / "g2", log, blobs) == 1
    assert two.read_text() == "y"
    assert one.read_text() == "x", "an older generation keeps what it was given"


def test_the_engines_files_are_the_users_alone(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"score.py": ECHO}, {"blue": deployment_yaml("blue", "score.py")})
    with engine(folder, tmp_path) as running:
        running.wait_settled(120)
        root = folder / ".workbench"
        assert root.stat().st_mode & 0o777 == 0o700, "nobody else reaches the logs, keys or staged files"
        for path in (root / "connection.json", root / "state.json"):  # the token, the keys
            assert path.stat().st_mode & 0o777 == 0o600, f"{path} is readable by others"


def test_a_deployment_whose_model_is_the_project_folder_serves(
    spec_folder: SpecFolder, tmp_path: Path
) -> None:
    folder = spec_folder(project_files())
    (folder / "blue.yml").write_text((folder / "blue.yml").read_text().replace("path: model.pkl", "path: ."))
    (folder / "endpoint.yml").write_text((folder / "endpoint.yml").read_text() + "traffic:\n  blue: 100\n")
    with engine(folder, tmp_path) as running:
        (endpoint,) = running.wait_settled(120)
        assert endpoint.deployments[0].provisioning_state is ProvisioningState.SUCCEEDED
        staged = list((folder / ".workbench" / "staged").rglob("azureml-models"))
        assert staged
        assert not any(".workbench" in p.relative_to(s).parts for s in staged for p in s.rglob("*"))
