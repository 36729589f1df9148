"""Instances as Docker containers: the deployment's own image, its files where Azure puts them,
the limits of its instance type, no privileges, ports published on 127.0.0.1 only.

Every docker SDK call of the workbench lives here, and runs in a thread so the engine's loop
never waits on the daemon. Containers carry labels (project, endpoint, deployment, instance),
so an engine that was killed leaves nothing the next one cannot find and remove.

Inside a container:
    /var/azureml-app/<code folder>/...                    the code (AML_APP_ROOT below it)
    /var/azureml-app/azureml-models/<name>/<version>/...  the model (AZUREML_MODEL_DIR)
    /opt/workbench                                        the inference server's code
    /opt/venv                                             the environment, built into the image

Without outside network (`egress_public_network_access: disabled`) an instance joins an
internal network of the project's, which has no route out, and a small door container on the
default network, with the published port, relays the server's port to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import tarfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types
from docker.models.containers import Container
from docker.models.networks import Network

from workbench.contract import Shell
from workbench.errors import EngineError, StartupError
from workbench.logfile import BoundedLog
from workbench.runtimes.base import GpuAssignment, InstanceSpec, Placement, RunningInstance
from workbench.spec.deployment import AZURE_APP_ROOT

APP = AZURE_APP_ROOT
SERVER_CODE = "/opt/workbench"
PYTHON = "/opt/venv/bin/python"
AZMLINFSRV = "/opt/venv/bin/azmlinfsrv"
SERVER_PORT = 5001
PROJECT_LABEL = "workbench.project"
INSTANCE_LABEL = "workbench.instance"
HOST_VARIABLES = ("PATH", "HOME", "LANG", "PYTHONPATH")
DOOR_SUFFIX = ".door"
DOOR = """
import asyncio, sys
target = (sys.argv[1], int(sys.argv[2]))
async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()
async def relay(reader, writer):
    try:
        inner_reader, inner_writer = await asyncio.open_connection(*target)
    except OSError:
        writer.close()
        return
    await asyncio.gather(pipe(reader, inner_writer), pipe(inner_reader, writer), return_exceptions=True)
async def main():
    server = await asyncio.start_server(relay, "0.0.0.0", target[1])
    await server.serve_forever()
asyncio.run(main())
"""
"""The door's program: relays TCP from its published port to the isolated instance's."""
UNPRIVILEGED_USER = "65534:65534"
"""nobody: the container reads its files, and writes nothing but its own temporary ones."""


class DockerUnavailable(StartupError):
    pass


class DockerRuntime:
    kind = "docker"

    def __init__(self, project: Path) -> None:
        self.project = project.resolve()
        self._project_id = hashlib.sha256(str(self.project).encode()).hexdigest()[:8]
        self._client: docker.DockerClient | None = None
        self._containers: dict[str, Container] = {}

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                client = docker.from_env()
                client.ping()
            except docker.errors.DockerException as exc:
                raise DockerUnavailable(
                    f"the Docker engine does not answer ({exc}); start it (`sudo dockerd`, or Docker "
                    "Desktop), or run with the process runtime (`runtime: process` in workbench.yaml)"
                ) from exc
            self._client = client
        return self._client

    def engine_version(self) -> str:
        """The Docker engine's version; DockerUnavailable, saying why, when it does not answer."""
        return str(self.client.version().get("Version", "?"))

    # -- files -----------------------------------------------------------------------------------

    def place(
        self,
        staged: Path,
        app_root: Path,
        model_dir: Path | None,
        server_code: Path,
        python: Path,
        *,
        model_mount: str | None = None,
    ) -> Placement:
        """The staged code under /var/azureml-app, the models under its azureml-models, as Azure
        lays them out; the server's code at /opt/workbench. With a model_mount_path, the models
        (azureml-models/<name>/<version>) are mounted there instead: <mount>/<name>/<version>."""
        inside_app = f"{APP}/{app_root.relative_to(staged).as_posix()}"
        inside_model = f"{APP}/{model_dir.relative_to(staged).as_posix()}" if model_dir else ""
        mounts = {str(staged): APP, str(server_code): SERVER_CODE}
        if model_mount and model_dir is not None:
            models = model_dir.parent.parent  # azureml-models/, above <name>/<version>
            mounts[str(models)] = model_mount.rstrip("/")
            inside_model = f"{model_mount.rstrip('/')}/{model_dir.relative_to(models).as_posix()}"
        return Placement(inside_app, inside_model, SERVER_CODE, PYTHON, mounts)

    # -- images ----------------------------------------------------------------------------------

    async def image_exists(self, tag: str) -> bool:
        def look() -> bool:
            try:
                self.client.images.get(tag)
            except docker.errors.ImageNotFound:
                return False
            return True

        return await asyncio.to_thread(look)

    async def pull(self, image: str, say: Callable[[str], object]) -> None:
        """Pull `image` from its registry, a line of progress per layer step; StartupError with
        the registry's answer when it cannot be had."""

        def pull() -> None:
            tagged = ":" in image.rsplit("/", 1)[-1]
            repository, tag = image.rsplit(":", 1) if tagged else (image, "latest")
            steps = ("Pulling", "Download complete", "Pull complete", "Digest", "Status")
            try:
                for chunk in self.client.api.pull(repository, tag=tag, stream=True, decode=True):
                    if "error" in chunk:
                        raise StartupError(str(chunk["error"]).strip())
                    status = str(chunk.get("status") or "")
                    if status.startswith(steps):
                        say(f"{chunk.get('id', image)}: {status}")
            except docker.errors.APIError as exc:
                raise StartupError(str(exc.explanation or exc)) from exc

        await asyncio.to_thread(pull)

    async def tag(self, image: str, tag: str) -> None:
        """Give `image` the name `tag` as well (repository:tag)."""
        repository, name = tag.rsplit(":", 1)
        await asyncio.to_thread(self.client.api.tag, image, repository, name)

    async def import_rootfs(self, folder: Path, tag: str, changes: list[str]) -> None:
        """A root file system folder as an image (`docker import`), streamed as a tar without a
        copy on disk; `changes` are Dockerfile instructions (ENV, CMD)."""

        def run() -> None:
            reader_fd, writer_fd = os.pipe()

            def write_tar() -> None:
                with os.fdopen(writer_fd, "wb") as out, tarfile.open(fileobj=out, mode="w|") as archive:
                    archive.add(str(folder), arcname=".")

            writer = threading.Thread(target=write_tar, daemon=True)
            writer.start()
            repository, name = tag.rsplit(":", 1)
            try:
                with os.fdopen(reader_fd, "rb") as stream:
                    answer = self.client.api.import_image_from_stream(
                        stream, repository=repository, tag=name, changes=changes
                    )
            except docker.errors.APIError as exc:
                raise StartupError(f"importing {tag} failed: {exc.explanation or exc}") from exc
            finally:
                writer.join()
            if not self.client.images.list(name=tag):
                raise StartupError(f"importing {tag} failed: {answer}")

        await asyncio.to_thread(run)

    async def build_image(
        self,
        tag: str,
        dockerfile: str,
        files: Mapping[str, bytes],
        say: Callable[[str], None],
        build_args: Mapping[str, str] | None = None,
    ) -> None:
        """Build `dockerfile` with `files` as its context; every line of output to `say`."""
        context = _tar({"Dockerfile": dockerfile.encode(), **files})
        options = {"fileobj": context, "custom_context": True, "buildargs": dict(build_args or {})}
        await asyncio.to_thread(self._build, tag, options, say)

    async def build_folder(self, tag: str, folder: Path, say: Callable[[str], None]) -> None:
        """Build the Dockerfile in `folder`, the folder its context (read from disk as it is
        sent: a big model is never held in memory)."""
        await asyncio.to_thread(self._build, tag, {"path": str(folder)}, say)

    def _build(self, tag: str, options: dict[str, Any], say: Callable[[str], None]) -> None:
        try:
            for chunk in self.client.api.build(
                tag=tag, rm=True, forcerm=True, decode=True, labels={PROJECT_LABEL: "shared"}, **options
            ):
                if "stream" in chunk:
                    for line in str(chunk["stream"]).splitlines():
                        if line.strip():
                            say(line)
                if "error" in chunk:
                    raise StartupError(f"image build failed: {chunk['error'].strip()}")
        except docker.errors.APIError as exc:
            raise StartupError(f"image build failed: {exc.explanation or exc}") from exc

    async def push(self, tag: str, say: Callable[[str], None]) -> None:
        """Push `tag` to the registry its name starts with; each layer's status to `say`."""

        def push() -> None:
            try:
                for chunk in self.client.api.push(tag, stream=True, decode=True):
                    if "error" in chunk:
                        raise StartupError(f"push of {tag} failed: {chunk['error'].strip()}")
                    if chunk.get("status") in ("Pushed", "Layer already exists"):
                        say(f"{tag}: {chunk.get('id', '')} {chunk['status'].lower()}")
            except docker.errors.APIError as exc:
                raise StartupError(f"push of {tag} failed: {exc.explanation or exc}") from exc

        await asyncio.to_thread(push)

    # -- one-off containers ----------------------------------------------------------------------

    async def run_to_completion(
        self,
        name: str,
        image: str,
        command: list[str],
        *,
        read_only: Mapping[str, str],
        writable: Mapping[str, str],
        say: Callable[[str], None],
    ) -> int:
        """A container that does one job (the storage initializer): no network, no privileges, as
        this machine's user (what it writes stays the user's), its output line by line to `say`;
        its exit code. It is removed when done."""

        def run() -> int:
            self._remove(name)
            volumes = {host: {"bind": inside, "mode": "ro"} for host, inside in read_only.items()}
            volumes.update({host: {"bind": inside, "mode": "rw"} for host, inside in writable.items()})
            try:
                container = self.client.containers.run(
                    image,
                    command,
                    name=self._container_name(name),
                    detach=True,
                    volumes=volumes,
                    user=f"{os.getuid()}:{os.getgid()}",
                    cap_drop=["ALL"],
                    security_opt=["no-new-privileges"],
                    network_disabled=True,
                    labels={PROJECT_LABEL: str(self.project), INSTANCE_LABEL: name},
                )
            except docker.errors.DockerException as exc:
                raise StartupError(f"cannot start {name}: {exc}") from exc
            try:
                pending = b""
                for chunk in container.logs(stream=True, follow=True):
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        say(line.decode(errors="replace"))
                if pending:
                    say(pending.decode(errors="replace"))
                return int(container.wait()["StatusCode"])
            finally:
                with contextlib.suppress(docker.errors.DockerException):
                    container.remove(force=True)

        return await asyncio.to_thread(run)

    # -- instances -------------------------------------------------------------------------------

    async def start(self, spec: InstanceSpec) -> RunningInstance:
        if spec.image is None:
            raise StartupError(f"{spec.name}: no image to run")
        container = await asyncio.to_thread(self._run, spec)
        self._containers[spec.name] = container
        threading.Thread(target=_copy_logs, args=(container, spec.log_file), daemon=True).start()
        host_pid = await asyncio.to_thread(self._host_pid, container)
        return RunningInstance(spec, None, f"http://127.0.0.1:{spec.port}", host_pid=host_pid)

    def _host_pid(self, container: Container) -> int | None:
        """The container's first process as this machine numbers it, when the Docker engine runs
        here (its socket is local); None for a remote engine, whose numbers mean nothing here."""
        if str(self.client.api.base_url) != "http+docker://localhost":  # a unix socket: this machine
            return None
        with contextlib.suppress(docker.errors.DockerException):
            container.reload()
            pid = int(container.attrs.get("State", {}).get("Pid") or 0)
            return pid or None
        return None

    def _run(self, spec: InstanceSpec) -> Container:
        self._remove(spec.name)  # a container of the same instance left from an earlier start
        self._remove(spec.name + DOOR_SUFFIX)
        isolated = None if spec.outside_network else self._internal_network()
        inner_port = spec.custom_port or SERVER_PORT
        environment = _environment(spec)
        command = [PYTHON, "-m", "workbench.server", "--port", str(SERVER_PORT), *spec.server_arguments]
        if spec.server == "azmlinfsrv":
            entry = f"{environment.get('AML_APP_ROOT', APP)}/{environment.get('AZUREML_ENTRY_SCRIPT', '')}"
            command = [AZMLINFSRV, "--entry_script", entry, "--port", str(SERVER_PORT)]
        try:
            container = self.client.containers.run(
                spec.image,
                None if spec.custom_port else command,  # a custom image runs its own command
                name=self._container_name(spec.name),
                detach=True,
                environment=environment,
                ports={}
                if isolated
                else {f"{inner_port}/tcp": ("127.0.0.1", spec.port), **_debug_port(spec)},
                network=isolated.name if isolated else None,
                volumes={host: {"bind": inside, "mode": "ro"} for host, inside in spec.mounts.items()},
                working_dir=None if spec.custom_port else environment.get("AML_APP_ROOT", APP),
                labels={PROJECT_LABEL: str(self.project), INSTANCE_LABEL: spec.name, **_labels(spec.labels)},
                user=None if spec.custom_port else UNPRIVILEGED_USER,  # a custom image keeps its own user
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                init=True,
                mem_limit=spec.memory_bytes,
                memswap_limit=spec.memory_bytes,
                nano_cpus=int(spec.cpus * 1e9) if spec.cpus else None,
                device_requests=_device_requests(spec.gpus),
            )
            if isolated is not None:
                self._open_door(spec, isolated, inner_port)
            return container
        except docker.errors.DockerException as exc:
            self._remove(spec.name)  # created but not started: nothing may be left behind
            self._remove(spec.name + DOOR_SUFFIX)
            raise StartupError(f"cannot start a container for {spec.name}: {exc}") from exc

    def _internal_network(self) -> Network:
        """The project's network without a route out; created once, removed with the project."""
        name = f"workbench-isolated-{self._project_id}"
        try:
            return self.client.networks.get(name)
        except docker.errors.NotFound:
            return self.client.networks.create(name, internal=True, labels={PROJECT_LABEL: str(self.project)})

    def _open_door(self, spec: InstanceSpec, isolated: Network, port: int) -> None:
        """The published port of an isolated instance: a relay on the default network that
        also joins the instance's internal one."""
        door = self.client.containers.create(
            spec.image,
            ["python3", "-c", DOOR, self._container_name(spec.name), str(port)],
            name=self._container_name(spec.name + DOOR_SUFFIX),
            ports={f"{port}/tcp": ("127.0.0.1", spec.port)},
            labels={PROJECT_LABEL: str(self.project), INSTANCE_LABEL: spec.name + DOOR_SUFFIX},
            user=UNPRIVILEGED_USER,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            init=True,
        )
        isolated.connect(door)
        door.start()

    async def stop(self, instance: RunningInstance, grace_s: float = 5.0) -> None:
        container = self._containers.pop(instance.spec.name, None)
        if container is None:
            return

        def stop() -> None:
            with contextlib.suppress(docker.errors.DockerException):
                container.stop(timeout=max(1, int(grace_s)))
            with contextlib.suppress(docker.errors.DockerException):
                container.remove(force=True)
            self._remove(instance.spec.name + DOOR_SUFFIX)

        await asyncio.to_thread(stop)

    async def kill(self, instance: RunningInstance) -> None:
        container = self._containers.get(instance.spec.name)
        if container is None:
            return

        def kill() -> None:
            with contextlib.suppress(docker.errors.DockerException):
                container.kill()

        await asyncio.to_thread(kill)

    def shell(self, instance: RunningInstance) -> Shell:
        """`docker exec` into its container, as its user, in its app folder: bash where the image
        has it, else sh."""
        container = self._containers.get(instance.spec.name)
        if container is None:
            raise EngineError(f"{instance.spec.name} has no container running")
        folder = instance.spec.environment.get("AML_APP_ROOT", APP)
        login = "command -v bash >/dev/null && exec bash || exec sh"
        return Shell(("docker", "exec", "-it", "-w", folder, container.name, "sh", "-c", login))

    async def wait(self, instance: RunningInstance) -> int:
        container = self._containers[instance.spec.name]

        def wait() -> int:
            try:
                status = int(container.wait()["StatusCode"])
                container.reload()
            except docker.errors.DockerException:
                return -1
            if container.attrs.get("State", {}).get("OOMKilled"):
                instance.oom_killed = True
                limit = (instance.spec.memory_bytes or 0) / 2**30
                said = f"OOMKilled: the container went over its memory limit ({limit:.1f} GiB)\n"
                log = BoundedLog(instance.spec.log_file)
                log.write(said.encode())
                log.close()
            return status

        return await asyncio.to_thread(wait)

    async def gpu_problem(self) -> str | None:
        def check() -> str | None:
            runtimes = self.client.info().get("Runtimes") or {}
            if "nvidia" in runtimes:
                return None
            return (
                "the Docker engine has no NVIDIA runtime, so a GPU request fails with 'could not "
                'select device driver "" with capabilities: [[gpu]]\': install the NVIDIA Container '
                "Toolkit, run `sudo nvidia-ctk runtime configure --runtime=docker` and restart dockerd"
            )

        return await asyncio.to_thread(check)

    async def remove_orphans(self, project: Path) -> list[str]:
        def remove() -> list[str]:
            label = f"{PROJECT_LABEL}={project.resolve()}"
            found = self.client.containers.list(all=True, filters={"label": label})
            for container in found:
                with contextlib.suppress(docker.errors.DockerException):
                    container.remove(force=True)
            for network in self.client.networks.list(filters={"label": label}):
                with contextlib.suppress(docker.errors.DockerException):
                    network.remove()
            return [c.name for c in found]

        return await asyncio.to_thread(remove)

    def _container_name(self, instance: str) -> str:
        """Unique on this Docker engine: the project's hash, then the instance's name."""
        safe = "".join(c if c.isalnum() or c in "_.-" else "-" for c in instance)
        return f"workbench-{self._project_id}-{safe}"

    def _remove(self, name: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.client.containers.get(self._container_name(name)).remove(force=True)


def _environment(spec: InstanceSpec) -> dict[str, str]:
    """Azure's variables and the deployment's; the host's own (PATH, HOME, ...) stay outside.
    For the workbench's images, their interpreter and the server's code come first."""
    own = {k: v for k, v in spec.environment.items() if k not in HOST_VARIABLES}
    if spec.custom_port:
        return own
    extra = [p for p in spec.environment.get("PYTHONPATH", "").split(os.pathsep) if p.startswith("/opt/")]
    return {
        **own,
        "PATH": "/opt/venv/bin:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONPATH": ":".join([SERVER_CODE, *extra]),
        "WORKBENCH_SERVER_HOST": "0.0.0.0",  # inside the container; published on 127.0.0.1 only
    }


def _labels(labels: Mapping[str, str]) -> dict[str, str]:
    return {f"workbench.{key}": value for key, value in labels.items()}


def _debug_port(spec: InstanceSpec) -> dict[str, Any]:
    """The debugger's port, published on the same number on 127.0.0.1."""
    arguments = list(spec.server_arguments)
    if "--debug-port" not in arguments:
        return {}
    port = arguments[arguments.index("--debug-port") + 1]
    return {f"{port}/tcp": ("127.0.0.1", int(port))}


def _device_requests(gpus: GpuAssignment | None) -> list[docker.types.DeviceRequest]:
    if gpus is None:
        return []
    if gpus.device_ids:
        return [docker.types.DeviceRequest(device_ids=list(gpus.device_ids), capabilities=[["gpu"]])]
    return [docker.types.DeviceRequest(count=gpus.count or -1, capabilities=[["gpu"]])]


def _copy_logs(container: Container, log_file: Path) -> None:
    """The container's output, as it comes, into the instance's inference-server log, bounded as
    it is written (workbench/logfile.py)."""
    log = BoundedLog(log_file)
    try:
        with contextlib.suppress(docker.errors.DockerException):
            for chunk in container.logs(stream=True, follow=True):
                log.write(chunk)
    finally:
        log.close()


def _tar(files: Mapping[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer
