"""Start-up: settings, banner, the listening socket, and one or more worker processes.

The parent binds the socket before any user code runs, so the port is held from the first
moment; each worker loads the script, runs init() and only then accepts connections, so a probe
sees the truth. With WORKER_COUNT=N, N forked workers share the socket, each with its own init(),
as gunicorn's sync workers do. A worker whose script cannot load exits with code 3, and so does
the server, as azmlinfsrv does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable

from aiohttp import web

from workbench.server import debug, logs, loops, rawhttp
from workbench.server.app import ScoringApp
from workbench.server.reload import poll_for_changes
from workbench.server.scoring import InitFailed, ScriptError, UserCodeFailed, load_scoring
from workbench.server.settings import SERVER_VERSION, Settings, parse_args, resolve

logger = logging.getLogger("azmlinfsrv")
BOOT_FAILURE = 3
REPLACE_AFTER_S = 0.2
"""Time for a stuck request's 500 to be written before its worker is replaced."""
LISTEN_FD = "WORKBENCH_LISTEN_FD"
WORKER_INDEX = "WORKBENCH_WORKER_INDEX"
ACCEPT_SETTLE_S = 0.1


def main(argv: list[str] | None = None) -> None:
    # No bytecode caches for the user's code: a .pyc is trusted when the source's size and mtime
    # (in whole seconds) match, so two same-size edits within a second would reload stale code.
    sys.dont_write_bytecode = True
    arguments = list(argv) if argv is not None else sys.argv[1:]
    args = parse_args(arguments)
    settings = resolve(args, dict(os.environ))
    os.environ.pop("WORKBENCH_ADMIN_TOKEN", None)  # the user's code has no business with it
    _export(settings)
    logging_file = logs.configure(settings.app_root, settings.entry_script)
    _banner(settings, logging_file)
    for flag in ("appinsights_instrumentation_key", "config_file", "health_port"):
        if getattr(args, flag) is not None:
            logger.warning(f"--{flag} is accepted for azmlinfsrv compatibility but not implemented; ignored")
    replaced = os.environ.pop(LISTEN_FD, None)
    if replaced is not None:  # a worker replaced after a WORKER TIMEOUT: same socket, init() again
        index = int(os.environ.pop(WORKER_INDEX, "0"))
        sys.exit(_worker(settings, socket.socket(fileno=int(replaced)), index, logging_file, arguments))
    sock = _bind(settings.host, settings.port)
    if settings.worker_count == 1:
        sys.exit(_worker(settings, sock, 0, logging_file, arguments))
    sys.exit(_supervise(settings, sock, logging_file, arguments))


def _export(settings: Settings) -> None:
    """The variables azmlinfsrv's launcher sets, which scoring scripts read (AZUREML_MODEL_DIR)."""
    os.environ.update(
        AZUREML_MODEL_DIR=settings.model_dir,
        AZUREML_ENTRY_SCRIPT=str(settings.entry_script),
        AML_APP_ROOT=str(settings.app_root),
        SERVER_PORT=str(settings.port),
        WORKER_COUNT=str(settings.worker_count),
    )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        logger.error(f"Cannot listen on {host}:{port}: {exc.strerror}")
        sys.exit(BOOT_FAILURE)
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _worker(
    settings: Settings, sock: socket.socket, index: int, logging_file: str | None, arguments: list[str]
) -> int:
    """Load the script, run init(), serve until stopped; returns the exit code."""
    print("Initializing logger")
    logs.redirect_print()
    for path in (settings.app_root, settings.entry_script.parent):
        if str(path) not in sys.path:
            sys.path.append(str(path))
    rawhttp.install_aliases()
    if settings.azureml_debug_port is not None:
        debug.connect(settings.azureml_debug_port)
    elif settings.debug_port is not None and index == 0:
        debug.listen(settings.debug_port, settings.debug_wait, settings.host)
    try:
        scoring = load_scoring(settings).scoring
    except InitFailed as exc:
        logger.error("User's init function failed")
        logger.error("Encountered Exception " + "".join(traceback.format_exception(exc.__cause__ or exc)))
        if settings.model_dir and os.path.exists(settings.model_dir):
            logger.info("Model Directory Contents:")
            for line in logs.model_dir_tree(settings.model_dir):
                logger.info(line)
        return BOOT_FAILURE
    except (ScriptError, UserCodeFailed) as exc:
        cause = exc.__cause__
        logger.error("".join(traceback.format_exception(cause)) if cause else str(exc))
        return BOOT_FAILURE
    logger.info(f"Scoring timeout is set to {settings.scoring_timeout_ms}")
    logger.info(f"Worker with pid {os.getpid()} ready for serving traffic")
    scoring_app = ScoringApp(
        settings,
        scoring,
        worker_count=settings.worker_count,
        custom_logging=logging_file is not None,
    )
    loops.run(_serve(scoring_app, sock, index, arguments))
    return 0


def _replace_worker(
    settings: Settings,
    sock: socket.socket,
    index: int,
    arguments: list[str],
    stop_accepting: Callable[[], None],
) -> None:
    """This worker's run() is stuck and a thread cannot be killed: the process becomes a new
    worker (exec, same pid) that takes the same listening socket and runs init() again, as
    gunicorn's arbiter replaces a worker that timed out. It stops accepting at once; the
    connections that arrive meanwhile wait in the socket's backlog for the new worker."""
    kept = os.dup(sock.fileno())  # the listening socket outlives this worker's server
    os.set_inheritable(kept, True)
    stop_accepting()

    def replace() -> None:
        logger.info(f"Booting a new worker in place of pid {os.getpid()}")
        logging.shutdown()
        sys.stdout.flush()
        environment = {**os.environ, LISTEN_FD: str(kept), WORKER_INDEX: str(index)}
        if settings.admin_token:
            environment["WORKBENCH_ADMIN_TOKEN"] = settings.admin_token
        os.execve(sys.executable, [sys.executable, "-m", "workbench.server", *arguments], environment)

    asyncio.get_running_loop().call_later(REPLACE_AFTER_S, replace)


def _reload_all(scoring_app: ScoringApp) -> Callable[[str], None]:
    """A change seen by `--reload`: every worker reloads (the parent relays SIGHUP to them)."""

    def reload(cause: str) -> None:
        if scoring_app.worker_count > 1:
            os.kill(os.getppid(), signal.SIGHUP)
        else:
            asyncio.get_running_loop().create_task(scoring_app.reload(cause=cause))

    return reload


async def _serve(scoring_app: ScoringApp, sock: socket.socket, index: int, arguments: list[str]) -> None:
    runner = web.AppRunner(scoring_app.build(), access_log=None, handle_signals=False)
    await runner.setup()
    loop = asyncio.get_running_loop()
    accepting: asyncio.Task[None] | None = None
    listening: asyncio.AbstractServer | None = None
    if scoring_app.worker_count == 1:
        assert runner.server is not None
        listening = await loop.create_server(runner.server, sock=sock)
    else:
        accepting = loop.create_task(_accept_when_idle(scoring_app, runner, sock))

    def stop_accepting() -> None:
        """At once, before the answer that asks for it is written: a connection this worker
        accepted now would be lost with it (the kept socket's backlog holds them instead)."""
        if accepting is not None:
            accepting.cancel()
        if listening is not None:
            listening.close()

    scoring_app.on_worker_timeout = lambda: _replace_worker(
        scoring_app.settings, sock, index, arguments, stop_accepting
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(scoring_app.reload(cause="SIGHUP")))
    polling = None
    if scoring_app.settings.reload and index == 0:
        polling = loop.create_task(poll_for_changes(scoring_app.settings.app_root, _reload_all(scoring_app)))
    try:
        await stop.wait()
    finally:
        if polling is not None:
            polling.cancel()
        if accepting is not None:
            accepting.cancel()
        if listening is not None:
            listening.close()
        await runner.cleanup()


async def _accept_when_idle(scoring_app: ScoringApp, runner: web.AppRunner, sock: socket.socket) -> None:
    """With several workers on one socket, a worker takes a new connection only while its run()
    thread is free, so connections go to idle workers, as with gunicorn's sync workers."""
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    server = runner.server
    assert server is not None
    while True:
        await scoring_app.idle.wait()
        connection, _ = await loop.sock_accept(sock)
        scoring_app.request_seen.clear()
        await loop.connect_accepted_socket(server, connection)
        # Until the new connection's first request has started (or briefly, for a silent one),
        # this worker counts as busy: otherwise it would take every connection of a burst.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(scoring_app.request_seen.wait(), ACCEPT_SETTLE_S)


def _supervise(
    settings: Settings, sock: socket.socket, logging_file: str | None, arguments: list[str]
) -> int:
    """Fork the workers and keep them running; relay SIGHUP (reload) and SIGTERM (stop)."""
    children: dict[int, int] = {}
    stopping = False

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(signum, signal.SIG_DFL)
            os._exit(_worker(settings, sock, index, logging_file, arguments))
        children[pid] = index

    def relay(signum: int, _: object) -> None:
        nonlocal stopping
        stopping = stopping or signum != signal.SIGHUP
        for pid in list(children):
            _signal(pid, signal.SIGTERM if signum == signal.SIGINT else signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, relay)
    for index in range(settings.worker_count):
        spawn(index)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        index = children.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        if stopping:
            continue
        if code == BOOT_FAILURE:
            logger.error("Worker failed to boot; stopping the server")
            relay(signal.SIGTERM, None)
            for other in list(children):
                os.waitpid(other, 0)
            return BOOT_FAILURE
        logger.warning(f"Worker {index} (pid {pid}) exited with {code}; starting another")
        time.sleep(0.1)
        spawn(index)
    return 0


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _banner(settings: Settings, logging_file: str | None) -> None:
    if logging_file:
        logger.info(f"Loaded logging config from {logging_file}")
    address = f"{settings.host}:{settings.port}"
    lines = [
        "",
        f"Workbench inference server v{SERVER_VERSION} (azmlinfsrv-compatible)",
        "",
        "",
        "Server Settings",
        "---------------",
        f"Entry Script Name: {settings.entry_script}",
        f"Model Directory: {settings.model_dir}",
        f"Worker Count: {settings.worker_count}",
        f"Scoring Timeout (ms): {settings.scoring_timeout_ms}",
        f"Server Port: {settings.port}",
        f"Inferencing HTTP server version: {settings.server_version}",
        f"Debug Port: {settings.debug_port}",
        f"In-place reload: {'enabled' if settings.admin_token else 'SIGHUP only'}",
        "",
        "",
        "Server Routes",
        "---------------",
        f"Liveness Probe: GET   {address}/",
        f"Score:          POST  {address}/score",
        "",
    ]
    print("\n".join(lines), flush=True)
