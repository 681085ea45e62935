"""Sentinel-2 L2A digital numbers to surface reflectance: the one place this conversion happens."""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt

from pestcast.core.errors import DataError

__all__ = [
    "BOA_ADD_OFFSET_DN",
    "OFFSET_FROM_BASELINE",
    "QUANTIFICATION_VALUE",
    "boa_offset_dn",
    "dn_to_reflectance",
]

QUANTIFICATION_VALUE = 10_000.0
"""L2A quantification value: reflectance = (DN + offset) / 10000."""

BOA_ADD_OFFSET_DN = -1000.0
"""BOA_ADD_OFFSET in DN for processing baseline 04.00 and later."""

OFFSET_FROM_BASELINE = (4, 0)
"""First processing baseline (major, minor) that carries the offset (introduced 2022-01-25)."""

_BASELINE = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\s*$")


def boa_offset_dn(processing_baseline: str) -> float:
    """BOA offset in DN for a Sentinel-2 processing baseline such as ``"04.00"`` or ``"05.09"``.

    Decided by the baseline, never the date: reprocessed collection-1 scenes before 2022 carry
    baseline 05.xx and the offset too.
    """
    match = _BASELINE.match(str(processing_baseline))
    if match is None:
        raise DataError(
            f"s2:processing_baseline {processing_baseline!r} is not of the form 'NN.NN'; "
            "fix the STAC item or set the offset for this source in the config"
        )
    version = (int(match.group(1)), int(match.group(2)))
    return BOA_ADD_OFFSET_DN if version >= OFFSET_FROM_BASELINE else 0.0


def dn_to_reflectance(
    dn: npt.NDArray[np.integer] | npt.NDArray[np.floating],
    *,
    offset_dn: float,
    nodata: float | None = 0,
) -> npt.NDArray[np.float32]:
    """Convert L2A digital numbers to float32 reflectance (0–1), NaN where DN is nodata.

    Reflectance below zero (possible after the offset on very dark water) is kept: it is a
    real measurement with noise, and clipping would bias water means.
    """
    values = np.asarray(dn)
    reflectance = (values.astype(np.float32) + np.float32(offset_dn)) / np.float32(
        QUANTIFICATION_VALUE
    )
    if nodata is not None:
        reflectance[values == nodata] = np.nan
    return reflectance
