"""`workbench up` with the dashboard: the engine runs in its own process and the Textual app
attaches to it. Quitting stops an engine this command started; detaching (D) leaves it running,
and so does a crash of the dashboard, which never takes endpoints down."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.cli.background import (
    EngineArguments,
    engine_log,
    running_engine,
    spawn_engine,
    wait_for_control_api,
)

if TYPE_CHECKING:
    from workbench.client import EngineClient
    from workbench.spec.local import RemoteHost

STOP_TIMEOUT_S = 60.0
HANGUP_GRACE_S = 10.0
"""After a hang-up (and the engine's stop), how long the dashboard may take to wind down before
it is ended: Textual's shutdown can hang on a terminal that is gone (seen in CI: its writer
thread's queue, never drained), and nobody is left to see it."""
LOG_LINES = 5000


def run_dashboard(root: Path, arguments: EngineArguments) -> int:
    """Start the engine, and while it boots import the dashboard (the slowest part of start-up),
    saying what happens until the first frame replaces it."""
    process = spawn_engine(root, arguments)
    started = process is not None
    print(
        f"workbench: {'starting the engine' if started else 'attaching to the engine'} for {root} "
        f"(its log: {engine_log(root)})",
        file=sys.stderr,
        flush=True,
    )
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.source import LiveSource

    if process is not None:
        wait_for_control_api(root, process)
    client = running_engine(root)
    if client is None:
        print(f"workbench: the engine went away at start-up; see {engine_log(root)}", file=sys.stderr)
        return 1
    source = LiveSource(client, LOG_LINES)
    app = WorkbenchApp(source, quit_stops_engine=started)
    hangup = threading.Event()
    ended = threading.Event()
    stopping = threading.Thread(target=_stop_quietly, args=(client, root), daemon=True)

    def hung_up(*_: object) -> None:
        """The terminal closed: an engine started for it stops at once (not after the app has
        wound down, which may wait on a request in flight), and the app quits as with q."""
        if hangup.is_set():
            return
        hangup.set()
        if started:
            stopping.start()
        threading.Thread(
            target=_end_if_stuck, args=(ended, stopping if started else None), daemon=True
        ).start()
        with contextlib.suppress(RuntimeError):  # the app's loop may be over already
            asyncio.get_running_loop().call_soon_threadsafe(app.exit, "quit")

    previous = signal.signal(signal.SIGHUP, hung_up)
    outcome = None
    try:
        outcome = app.run()  # closes the source as it ends
    finally:
        ended.set()
        if hangup.is_set():  # no terminal to talk to any more: stop quietly, whatever happened
            if started:
                stopping.join(STOP_TIMEOUT_S)
            client.close()
    if hangup.is_set():
        return 129
    signal.signal(signal.SIGHUP, previous)
    try:
        if app.return_code:
            print(
                f"workbench: the dashboard crashed; the engine keeps running: `workbench up {root}` "
                f"attaches again, `workbench down --project {root}` stops it",
                file=sys.stderr,
            )
            return app.return_code
        if outcome != "detach" and started:
            return _stop(client, root)
        print(
            f"the engine keeps running: `workbench up {root}` attaches again, "
            f"`workbench down --project {root}` stops it",
            file=sys.stderr,
        )
        return 0
    finally:
        client.close()


def run_remote_dashboard(remote: RemoteHost, project: Path) -> int:
    """The dashboard on a remote engine, through SSH; quitting or detaching leaves it running.
    Its Invoke tab offers the request files of `project`, the folder here."""
    from workbench.promote.remote import remote_client
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.source import LiveSource

    with remote_client(remote) as client:
        source = LiveSource(client, LOG_LINES, files=project, remote=remote.name)
        app = WorkbenchApp(source, quit_stops_engine=False)
        app.run()  # closes the source as it ends
    print(
        f"the engine on {remote.name} keeps running: `workbench down --remote {remote.name}` stops it",
        file=sys.stderr,
    )
    return app.return_code or 0


def _stop_quietly(client: EngineClient, root: Path) -> None:
    with contextlib.suppress(Exception):
        _stop(client, root, quiet=True)


def _stop(client: EngineClient, root: Path, *, quiet: bool = False) -> int:
    stopped = client.shutdown(STOP_TIMEOUT_S)
    if not quiet:
        print("engine stopped" if stopped else "workbench: the engine is still stopping", file=sys.stderr)
    return 0 if stopped else 1


def _end_if_stuck(ended: threading.Event, stopping: threading.Thread | None) -> None:
    """The terminal closed: once the engine this dashboard started has stopped, the dashboard has
    HANGUP_GRACE_S to end by itself; else the process ends here, as a closed terminal's would."""
    if stopping is not None:
        stopping.join(STOP_TIMEOUT_S)
    if not ended.wait(HANGUP_GRACE_S):
        os._exit(129)
