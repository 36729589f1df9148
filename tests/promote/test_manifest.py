"""What a promote sends and what it changes, on real folders: the files as Azure would upload
them, digests read again only for files that changed, and the plan against a remote's release."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_workbench
from tests.engine.harness import ECHO, deployment_yaml, folder_with
from workbench.errors import PromoteError
from workbench.layout import mark_as_output
from workbench.promote import manifest as manifests
from workbench.promote.manifest import build_manifest, plan
from workbench.spec import load_project


def project_with_two_deployments(tmp_path: Path) -> Path:
    folder = folder_with(
        tmp_path,
        {"echo.py": ECHO},
        {"blue": deployment_yaml("blue", "echo.py"), "green": deployment_yaml("green", "echo.py")},
    )
    (folder / ".amlignore").write_text("notes/\n")
    (folder / "notes").mkdir()
    (folder / "notes" / "private.txt").write_text("not for the host")
    (folder / ".workbench").mkdir(exist_ok=True)
    (folder / ".workbench" / "state.json").write_text("{}")
    return folder


def test_the_files_are_what_azure_would_upload_and_unchanged_ones_are_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = project_with_two_deployments(tmp_path)
    project = load_project(folder).raise_for_errors()
    first = build_manifest(project, wheel="w")
    assert "code/echo.py" in first.files
    assert not any(p.startswith(("notes/", ".workbench/")) for p in first.files)

    read: list[Path] = []
    real = manifests._sha256

    def counted(path: Path) -> str:
        read.append(path)
        return real(path)

    monkeypatch.setattr(manifests, "_sha256", counted)
    (folder / "code" / "echo.py").write_text(ECHO + "\n# edited\n")
    second = build_manifest(load_project(folder).raise_for_errors(), wheel="w")
    assert [p.name for p in read] == ["echo.py"]
    assert second.files["code/echo.py"].digest != first.files["code/echo.py"].digest

    steps = plan(second, first.to_json())
    assert steps.send == ["code/echo.py"]
    assert steps.update == ["tests/blue", "tests/green"]  # both run that code
    assert (steps.create, steps.delete, steps.unchanged) == ([], [], [])


def test_the_plan_creates_removes_and_keeps_deployments(tmp_path: Path) -> None:
    folder = project_with_two_deployments(tmp_path)
    before = build_manifest(load_project(folder).raise_for_errors(), wheel="w")
    (folder / "green.yml").unlink()
    (folder / "red.yml").write_text(deployment_yaml("red", "echo.py"))
    after = build_manifest(load_project(folder).raise_for_errors(), wheel="w")
    steps = plan(after, before.to_json())
    assert (steps.create, steps.delete, steps.unchanged, steps.update) == (
        ["tests/red"],
        ["tests/green"],
        ["tests/blue"],
        [],
    )
    assert steps.remove == ["green.yml"]
    assert plan(after, None).create == ["tests/blue", "tests/red"]  # a first promote


def test_a_model_outside_the_project_cannot_be_promoted(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "model.pkl").write_bytes(b"weights")
    text = deployment_yaml("blue", "echo.py", extra=f"model:\n  path: {outside}\n")
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": text})
    project = load_project(folder).raise_for_errors()  # a warning locally
    with pytest.raises(PromoteError, match="outside the project folder"):
        build_manifest(project, wheel="w")


def test_what_the_workbench_exported_into_the_project_is_never_shipped(tmp_path: Path) -> None:
    """`workbench export azureml` and `export kubernetes` run in the project folder, as the README
    shows them: their folders (the router's keys, copies of models) stay here."""
    folder = project_with_two_deployments(tmp_path)
    exported = run_workbench("export", "azureml", cwd=folder)
    assert exported.returncode == 0, exported.stderr
    assert (folder / "azureml-export" / "deploy.sh").is_file()
    kubernetes = folder / "kubernetes-export"
    kubernetes.mkdir()
    mark_as_output(kubernetes)  # as export_kubernetes marks its folder
    (kubernetes / "router.secrets.env").write_text("PRIMARY_KEY=secret\n")

    manifest = build_manifest(load_project(folder).raise_for_errors(), wheel="w")

    assert "code/echo.py" in manifest.files
    shipped = [p for p in manifest.files if p.startswith(("azureml-export/", "kubernetes-export/"))]
    assert shipped == []


def test_the_projects_editor_folder_is_not_sent_unless_a_deployment_reads_it(tmp_path: Path) -> None:
    folder = project_with_two_deployments(tmp_path)
    (folder / ".vscode").mkdir()
    (folder / ".vscode" / "launch.json").write_text('{"configurations": []}')  # as `workbench debug` writes
    (folder / "code" / ".vscode").mkdir()
    (folder / "code" / ".vscode" / "settings.json").write_text("{}")  # in a code folder: Azure uploads it
    files = build_manifest(load_project(folder).raise_for_errors(), wheel="w").files
    assert ".vscode/launch.json" not in files
    assert "code/.vscode/settings.json" in files
