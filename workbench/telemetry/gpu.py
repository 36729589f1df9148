"""GPU use and memory through NVML (nvidia-ml-py, the `gpu` extra). No driver, no GPU or no
nvidia-ml-py gives an empty list."""

from __future__ import annotations

import importlib
from types import ModuleType

from workbench.contract import GpuFigures


def _nvml() -> ModuleType | None:
    try:
        return importlib.import_module("pynvml")
    except ImportError:  # the `gpu` extra is not installed: no figures, as with no driver
        return None


pynvml = _nvml()


def gpus() -> list[GpuFigures]:
    nvml = pynvml
    if nvml is None:
        return []
    try:
        nvml.nvmlInit()
    except nvml.NVMLError:
        return []  # no NVIDIA driver: a normal answer on most laptops
    try:
        return [_figures(nvml, index) for index in range(nvml.nvmlDeviceGetCount())]
    except nvml.NVMLError:
        return []
    finally:
        nvml.nvmlShutdown()


def _figures(nvml: ModuleType, index: int) -> GpuFigures:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    name = nvml.nvmlDeviceGetName(handle)
    utilization = nvml.nvmlDeviceGetUtilizationRates(handle)
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    return GpuFigures(
        index=index,
        name=name.decode() if isinstance(name, bytes) else str(name),
        utilization_percent=int(utilization.gpu),
        memory_used_bytes=int(memory.used),
        memory_total_bytes=int(memory.total),
    )


def missing_gpu() -> str | None:
    """What keeps this machine from giving a container a GPU, as far as NVML tells, with the
    fix; None when NVML sees at least one GPU."""
    nvml = pynvml
    if nvml is None:
        return "nvidia-ml-py is not installed: pip install 'endpoint-workbench[gpu]'"
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        return (
            f"no NVIDIA driver on this machine (NVML: {exc}): install the NVIDIA driver, "
            "or choose an instance type without a GPU"
        )
    try:
        count = nvml.nvmlDeviceGetCount()
    except nvml.NVMLError as exc:
        return f"NVML cannot count the GPUs ({exc}): check `nvidia-smi`"
    finally:
        nvml.nvmlShutdown()
    if count == 0:
        return "the NVIDIA driver is loaded but NVML sees no GPU: check `nvidia-smi`"
    return None
