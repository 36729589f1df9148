"""The debugger: listen with debugpy on loopback (workbench), or connect out (Azure's way)."""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger("azmlinfsrv")


def listen(port: int, wait: bool, host: str = "127.0.0.1") -> None:
    """On the server's own interface: loopback, or a container's, published on the host's."""
    import debugpy

    debugpy.listen((host, port))
    logger.info(f"Debugger listening on {host}:{port}")
    if wait:
        logger.info("Waiting for a debugger to attach before init()")
        debugpy.wait_for_client()


def connect(port: int) -> None:
    """AZUREML_DEBUG_PORT: dial out to a listening debug adapter, then wait, as azmlinfsrv does."""
    print("!! Starting the inference server in DEBUGGING mode because AZUREML_DEBUG_PORT is set.")
    try:
        import debugpy
    except ImportError:
        print("** Cannot connect to a debugger because debugpy is not installed.")
        sys.exit(-1)
    debugpy.connect(port)
    debugpy.wait_for_client()


def client_connected() -> bool:
    debugpy = sys.modules.get("debugpy")
    return bool(debugpy is not None and debugpy.is_client_connected())
