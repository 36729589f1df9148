"""Which GPUs each instance of a deployment gets (Docker runtime).

A deployment wants GPUs when its instance type has them (one set of the SKU's count per
instance) or when workbench.yaml gives it `gpus:` (all, a count, or device ids). Where the
machine has enough, each instance gets its own set, in order; where it has fewer, every instance
shares what there is, as a laptop with one GPU must.
"""

from __future__ import annotations

from workbench.runtimes.base import GpuAssignment
from workbench.spec.local import GpuRequest
from workbench.spec.skus import Sku


def wanted_gpus(sku: Sku | None, setting: GpuRequest | None) -> GpuRequest | None:
    """workbench.yaml's `gpus:` wins; else the instance type's GPUs; None for none."""
    if setting is not None:
        return setting
    if sku is not None and sku.gpus:
        return GpuRequest(count=sku.gpus)
    return None


def assign(wanted: GpuRequest, instance: int, available: int) -> GpuAssignment:
    """The GPUs of instance number `instance` on a machine with `available` GPUs."""
    if wanted.device_ids:
        return GpuAssignment(None, wanted.device_ids)
    if wanted.count is None:
        return GpuAssignment(None)
    first = instance * wanted.count
    if first + wanted.count <= available:
        return GpuAssignment(None, tuple(str(i) for i in range(first, first + wanted.count)))
    return GpuAssignment(min(wanted.count, available) or None)
