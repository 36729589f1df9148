"""The runtimes of one engine: each deployment runs on the one workbench.yaml chooses for it (its
own `runtime:`, else the folder's, else process), created when first needed, so a project that
uses no container never loads docker."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.runtimes import Runtime, get_runtime
from workbench.spec import Project
from workbench.spec.local import LocalSettings

if TYPE_CHECKING:
    from workbench.engine.images import DockerImages


class Runtimes:
    def __init__(
        self, root: Path, settings: LocalSettings, given: Mapping[str, Runtime] | None = None
    ) -> None:
        self.root = root
        self.settings = settings
        self._runtimes: dict[str, Runtime] = dict(given or {})
        self._images: dict[str, DockerImages] = {}

    def kind_for(self, endpoint: str, deployment: str) -> str:
        return self.settings.runtime_for(endpoint, deployment)

    def in_use(self, project: Project) -> set[str]:
        return {self.kind_for(e.name, d.name) for e in project.endpoints for d in e.deployments}

    def get(self, kind: str) -> Runtime:
        if kind not in self._runtimes:
            self._runtimes[kind] = get_runtime(kind, self.root)
        return self._runtimes[kind]

    def images(self, kind: str) -> DockerImages | None:
        """The image builder for containers; None for runtimes that use venvs."""
        runtime = self.get(kind)
        if runtime.kind != "docker":
            return None
        if kind not in self._images:
            from workbench.engine.images import DockerImages  # noqa: PLC0415  (docker is heavy)
            from workbench.runtimes.docker import DockerRuntime  # noqa: PLC0415

            assert isinstance(runtime, DockerRuntime)
            self._images[kind] = DockerImages(runtime, self.settings.base_image, self.settings.build)
        return self._images[kind]

    def created(self) -> list[Runtime]:
        return list(self._runtimes.values())
