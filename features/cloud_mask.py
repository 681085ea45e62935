"""Cloud and nodata masks from the Sentinel-2 scene classification layer (SCL)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from pestcast.core.errors import DataError

__all__ = [
    "DEFAULT_SCL_MASK_CLASSES",
    "NEVER_MASK_FOR_RICE",
    "SCL_CLASS_NAMES",
    "clear_sky_mask",
    "validate_scl_mask_classes",
]

SCL_CLASS_NAMES = {
    0: "no data",
    1: "saturated or defective",
    2: "dark area pixels",
    3: "cloud shadows",
    4: "vegetation",
    5: "not vegetated",
    6: "water",
    7: "unclassified",
    8: "cloud medium probability",
    9: "cloud high probability",
    10: "thin cirrus",
    11: "snow or ice",
}

DEFAULT_SCL_MASK_CLASSES: frozenset[int] = frozenset({0, 1, 3, 8, 9, 10})
"""SCL classes masked by default: nodata, saturated, cloud shadow, clouds, cirrus."""

NEVER_MASK_FOR_RICE: frozenset[int] = frozenset({2, 6})
"""Dark area and water: flooded paddies at transplanting look like this and must stay."""


def validate_scl_mask_classes(classes: Iterable[int]) -> frozenset[int]:
    """Check SCL classes to mask; refuse the ones that would erase flooded paddies."""
    chosen = frozenset(int(c) for c in classes)
    unknown = sorted(chosen - SCL_CLASS_NAMES.keys())
    if unknown:
        raise DataError(f"SCL classes {unknown} do not exist; valid classes are 0–11")
    harmful = sorted(chosen & NEVER_MASK_FOR_RICE)
    if harmful:
        raise DataError(
            f"masking SCL classes {harmful} ({', '.join(SCL_CLASS_NAMES[c] for c in harmful)}) "
            "removes flooded rice paddies at transplanting; remove them from the mask"
        )
    return chosen


def clear_sky_mask(
    scl: npt.NDArray[np.integer],
    mask_classes: Iterable[int] = DEFAULT_SCL_MASK_CLASSES,
) -> npt.NDArray[np.bool_]:
    """True where a pixel is usable: its SCL class is not in ``mask_classes``."""
    classes = np.fromiter(validate_scl_mask_classes(mask_classes), dtype=np.int64)
    return ~np.isin(np.asarray(scl), classes)
