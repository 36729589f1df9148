"""Azure VM sizes that managed online deployments run on: vCPUs, memory and GPUs.

The Docker runtime turns these into CPU and memory limits, so a model that does not fit its SKU
fails locally as it would in the cloud. Figures are the published sizes of each VM series.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sku:
    name: str
    vcpus: int
    memory_gib: float
    gpus: int = 0
    gpu_model: str | None = None


def _series(*skus: Sku) -> dict[str, Sku]:
    return {sku.name.lower(): sku for sku in skus}


SKUS: dict[str, Sku] = _series(
    Sku("Standard_DS1_v2", 1, 3.5),
    Sku("Standard_DS2_v2", 2, 7),
    Sku("Standard_DS3_v2", 4, 14),
    Sku("Standard_DS4_v2", 8, 28),
    Sku("Standard_DS5_v2", 16, 56),
    Sku("Standard_F2s_v2", 2, 4),
    Sku("Standard_F4s_v2", 4, 8),
    Sku("Standard_F8s_v2", 8, 16),
    Sku("Standard_F16s_v2", 16, 32),
    Sku("Standard_F32s_v2", 32, 64),
    Sku("Standard_F48s_v2", 48, 96),
    Sku("Standard_F64s_v2", 64, 128),
    Sku("Standard_F72s_v2", 72, 144),
    Sku("Standard_E2s_v3", 2, 16),
    Sku("Standard_E4s_v3", 4, 32),
    Sku("Standard_E8s_v3", 8, 64),
    Sku("Standard_E16s_v3", 16, 128),
    Sku("Standard_E32s_v3", 32, 256),
    Sku("Standard_E48s_v3", 48, 384),
    Sku("Standard_E64s_v3", 64, 432),
    Sku("Standard_D2as_v4", 2, 8),
    Sku("Standard_D4as_v4", 4, 16),
    Sku("Standard_D8as_v4", 8, 32),
    Sku("Standard_D16as_v4", 16, 64),
    Sku("Standard_D32as_v4", 32, 128),
    Sku("Standard_D48as_v4", 48, 192),
    Sku("Standard_D64as_v4", 64, 256),
    Sku("Standard_D96as_v4", 96, 384),
    Sku("Standard_E2as_v4", 2, 16),
    Sku("Standard_E4as_v4", 4, 32),
    Sku("Standard_E8as_v4", 8, 64),
    Sku("Standard_E16as_v4", 16, 128),
    Sku("Standard_E32as_v4", 32, 256),
    Sku("Standard_E48as_v4", 48, 384),
    Sku("Standard_E64as_v4", 64, 512),
    Sku("Standard_E96as_v4", 96, 672),
    Sku("Standard_NC6s_v3", 6, 112, 1, "V100"),
    Sku("Standard_NC12s_v3", 12, 224, 2, "V100"),
    Sku("Standard_NC24s_v3", 24, 448, 4, "V100"),
    Sku("Standard_NC4as_T4_v3", 4, 28, 1, "T4"),
    Sku("Standard_NC8as_T4_v3", 8, 56, 1, "T4"),
    Sku("Standard_NC16as_T4_v3", 16, 110, 1, "T4"),
    Sku("Standard_NC64as_T4_v3", 64, 440, 4, "T4"),
    Sku("Standard_NC24ads_A100_v4", 24, 220, 1, "A100"),
    Sku("Standard_NC48ads_A100_v4", 48, 440, 2, "A100"),
    Sku("Standard_NC96ads_A100_v4", 96, 880, 4, "A100"),
    Sku("Standard_ND96asr_v4", 96, 900, 8, "A100"),
    Sku("Standard_ND96amsr_A100_v4", 96, 1900, 8, "A100"),
    Sku("Standard_NC40ads_H100_v5", 40, 320, 1, "H100"),
    Sku("Standard_NC80adis_H100_v5", 80, 640, 2, "H100"),
    Sku("Standard_ND96isr_H100_v5", 96, 1900, 8, "H100"),
)

TOO_SMALL = {"standard_ds1_v2", "standard_ds2_v2"}
"""Sizes the SDK warns about: 'Minimum recommended compute SKU is Standard_DS3_v2'."""


def find_sku(name: str) -> Sku | None:
    return SKUS.get(name.lower())
