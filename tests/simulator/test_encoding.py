"""The simulator's Sentinel-2 DN encoding, checked against the product specification's numbers."""

from __future__ import annotations

import numpy as np
import pytest

from pestcast.simulator.encoding import encode_dn


@pytest.mark.parametrize(
    ("baseline", "expected"),
    [("03.01", [1, 1, 1000, 2500, 10000]), ("04.00", [1, 1000, 2000, 3500, 11000])],
)
def test_reflectance_is_encoded_with_the_baselines_offset(
    baseline: str, expected: list[int]
) -> None:
    """DN = reflectance × 10000 − BOA_ADD_OFFSET, with BOA_ADD_OFFSET = −1000 from 04.00 on."""
    reflectance = np.array([-0.2, 0.0, 0.1, 0.25, 1.0], dtype=np.float32)
    nodata = np.zeros(reflectance.shape, dtype=bool)
    assert encode_dn(reflectance, baseline, nodata).tolist() == expected


def test_nodata_is_zero_and_valid_pixels_never_are() -> None:
    reflectance = np.array([0.0, -0.5, 7.0], dtype=np.float32)
    encoded = encode_dn(reflectance, "03.01", np.array([True, False, False]))
    assert encoded.dtype == np.uint16
    assert encoded.tolist() == [0, 1, 65535]


def test_an_unknown_baseline_is_refused() -> None:
    with pytest.raises(KeyError):
        encode_dn(np.zeros(1, dtype=np.float32), "06.00", np.zeros(1, dtype=bool))
