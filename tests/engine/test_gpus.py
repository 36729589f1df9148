"""Which GPUs each instance gets: its own set where the machine has enough, shared otherwise."""

from __future__ import annotations

from workbench.engine.gpus import assign, wanted_gpus
from workbench.runtimes.base import GpuAssignment
from workbench.spec.local import GpuRequest
from workbench.spec.skus import find_sku


def test_the_instance_type_asks_for_its_gpus_and_workbench_yaml_overrides() -> None:
    assert wanted_gpus(find_sku("Standard_DS3_v2"), None) is None
    assert wanted_gpus(find_sku("Standard_NC6s_v3"), None) == GpuRequest(count=1)
    assert wanted_gpus(find_sku("Standard_DS3_v2"), GpuRequest()) == GpuRequest()  # gpus: all


def test_each_instance_gets_its_own_set_where_there_are_enough() -> None:
    two = GpuRequest(count=2)
    assert assign(two, 0, available=4) == GpuAssignment(None, ("0", "1"))
    assert assign(two, 1, available=4) == GpuAssignment(None, ("2", "3"))
    assert assign(two, 2, available=4) == GpuAssignment(2)  # not enough left: share
    assert assign(GpuRequest(count=1), 0, available=1) == GpuAssignment(None, ("0",))
    assert assign(GpuRequest(count=1), 1, available=1) == GpuAssignment(1)


def test_all_and_explicit_ids_are_given_as_they_are() -> None:
    assert assign(GpuRequest(), 3, available=8) == GpuAssignment(None)
    assert assign(GpuRequest(device_ids=("1", "3")), 0, available=4) == GpuAssignment(None, ("1", "3"))
