"""DN → reflectance: the offset follows the processing baseline, never the date."""

from __future__ import annotations

import numpy as np
import pytest

from pestcast.core.errors import DataError
from pestcast.features.reflectance import boa_offset_dn, dn_to_reflectance


@pytest.mark.parametrize(
    ("baseline", "offset"),
    [
        ("03.01", 0.0),
        ("02.14", 0.0),
        ("04.00", -1000.0),
        ("05.09", -1000.0),
        ("4.0", -1000.0),
        (" 05.10 ", -1000.0),
        ("3.99", 0.0),
    ],
)
def test_offset_is_decided_by_the_processing_baseline(baseline: str, offset: float) -> None:
    assert boa_offset_dn(baseline) == offset


@pytest.mark.parametrize("baseline", ["", "N0400", "04", "4.0.1", "latest", "04.00a"])
def test_unparseable_baseline_is_a_data_error_naming_it(baseline: str) -> None:
    with pytest.raises(DataError, match="processing_baseline"):
        boa_offset_dn(baseline)


def test_reflectance_applies_offset_once_and_masks_nodata() -> None:
    dn = np.array([[0, 1000, 1500], [11000, 900, 10000]], dtype=np.uint16)
    reflectance = dn_to_reflectance(dn, offset_dn=-1000.0)
    expected = np.array([[np.nan, 0.0, 0.05], [1.0, -0.01, 0.9]], dtype=np.float32)
    assert reflectance.dtype == np.float32
    np.testing.assert_allclose(reflectance, expected, atol=1e-7)


def test_old_baseline_without_offset_is_dn_over_10000() -> None:
    reflectance = dn_to_reflectance(np.array([0, 2500], dtype=np.uint16), offset_dn=0.0)
    np.testing.assert_allclose(reflectance, [np.nan, 0.25])


def test_nodata_none_keeps_zero_dn() -> None:
    reflectance = dn_to_reflectance(np.array([0, 1000]), offset_dn=0.0, nodata=None)
    np.testing.assert_allclose(reflectance, [0.0, 0.1])
