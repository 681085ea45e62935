"""Sentinel-2 L2A digital numbers, encoded as the product specification defines them.

Written from the specification, not from the pipeline's decoder (``pestcast.features.reflectance``):
the simulator encodes, the pipeline decodes, and a test reads the simulator's files through the
pipeline, so an offset bug on either side shows up instead of cancelling out.

Source: ESA, Sentinel-2 Level-2A product metadata (``MTD_MSIL2A.xml``) and the processing baseline
04.00 notice (operational 25 January 2022): ``BOA_QUANTIFICATION_VALUE`` = 10000 and, from baseline
04.00 on, ``BOA_ADD_OFFSET`` = −1000 for every band, so that
``reflectance = (DN + BOA_ADD_OFFSET) / BOA_QUANTIFICATION_VALUE``. DN 0 is "no data".
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["BOA_ADD_OFFSET_BY_BASELINE", "BOA_QUANTIFICATION_VALUE", "boa_add_offset", "encode_dn"]

BOA_QUANTIFICATION_VALUE = 10_000
"""DN per unit of reflectance."""

BOA_ADD_OFFSET_BY_BASELINE = {"03.01": 0, "04.00": -1000, "05.09": -1000}
"""``BOA_ADD_OFFSET`` (DN) of each processing baseline the simulator writes."""

_NODATA_DN = 0
_MAX_DN = np.iinfo(np.uint16).max


def boa_add_offset(processing_baseline: str) -> int:
    """The ``BOA_ADD_OFFSET`` of a baseline the simulator writes (KeyError for any other)."""
    return BOA_ADD_OFFSET_BY_BASELINE[processing_baseline]


def encode_dn(
    reflectance: npt.NDArray[np.floating],
    processing_baseline: str,
    nodata: npt.NDArray[np.bool_],
) -> npt.NDArray[np.uint16]:
    """uint16 DN of ``reflectance`` (0–1) under ``processing_baseline``; 0 where ``nodata``.

    Valid pixels are kept at DN ≥ 1 so that no measurement is mistaken for "no data".
    """
    dn = np.rint(reflectance * BOA_QUANTIFICATION_VALUE - boa_add_offset(processing_baseline))
    encoded: npt.NDArray[np.uint16] = np.clip(dn, _NODATA_DN + 1, _MAX_DN).astype(np.uint16)
    encoded[nodata] = _NODATA_DN
    return encoded
