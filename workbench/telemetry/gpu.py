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
