"""GPU use and memory through NVML (nvidia-ml-py). No driver or no GPU gives an empty list."""

from __future__ import annotations

from dataclasses import dataclass

import pynvml


@dataclass(frozen=True)
class GpuFigures:
    index: int
    name: str
    utilization_percent: int
    memory_used_bytes: int
    memory_total_bytes: int


def gpus() -> list[GpuFigures]:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return []  # no NVIDIA driver: a normal answer on most laptops
    try:
        return [_figures(index) for index in range(pynvml.nvmlDeviceGetCount())]
    except pynvml.NVMLError:
        return []
    finally:
        pynvml.nvmlShutdown()


def _figures(index: int) -> GpuFigures:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    name = pynvml.nvmlDeviceGetName(handle)
    utilization = pynvml.nvmlDeviceGetUtilizationRates(handle)
    memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
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
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return (
            f"no NVIDIA driver on this machine (NVML: {exc}): install the NVIDIA driver, "
            "or choose an instance type without a GPU"
        )
    try:
        count = pynvml.nvmlDeviceGetCount()
    except pynvml.NVMLError as exc:
        return f"NVML cannot count the GPUs ({exc}): check `nvidia-smi`"
    finally:
        pynvml.nvmlShutdown()
    if count == 0:
        return "the NVIDIA driver is loaded but NVML sees no GPU: check `nvidia-smi`"
    return None
