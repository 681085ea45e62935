"""SCL masks: clouds, shadows and nodata go; dark areas and water (flooded paddies) stay."""

from __future__ import annotations

import numpy as np
import pytest

from pestcast.core.errors import DataError
from pestcast.features.cloud_mask import (
    DEFAULT_SCL_MASK_CLASSES,
    clear_sky_mask,
    validate_scl_mask_classes,
)


def test_default_mask_keeps_dark_area_and_water_and_drops_clouds() -> None:
    scl = np.arange(12, dtype=np.uint8).reshape(3, 4)
    clear = clear_sky_mask(scl)
    kept = set(scl[clear].tolist())
    assert kept == {2, 4, 5, 6, 7, 11}
    assert not kept & DEFAULT_SCL_MASK_CLASSES
    assert clear.shape == scl.shape


@pytest.mark.parametrize("classes", [{2}, {6}, {3, 6}, [0, 1, 2]])
def test_masking_dark_area_or_water_is_refused(classes: set[int]) -> None:
    with pytest.raises(DataError, match="flooded rice"):
        validate_scl_mask_classes(classes)


def test_unknown_class_is_refused() -> None:
    with pytest.raises(DataError, match=r"\[12\]"):
        clear_sky_mask(np.zeros((2, 2), dtype=np.uint8), mask_classes={8, 12})


def test_custom_mask_classes() -> None:
    scl = np.array([[7, 8], [9, 4]], dtype=np.uint8)
    np.testing.assert_array_equal(clear_sky_mask(scl, {7}), [[False, True], [True, True]])
