"""Indices against values worked out by hand; 0/0 is NaN; xarray in, xarray out."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from pestcast.features.indices import (
    INDEX_BANDS,
    INDEX_FUNCTIONS,
    evi,
    lswi,
    msavi,
    ndre,
    ndvi,
    savi,
)

# One vegetated pixel: blue 0.04, green 0.08, red 0.05, red edge 0.15, NIR 0.45, B8A 0.40, B11 0.20.
B, R, RE, N, N8A, S1 = 0.04, 0.05, 0.15, 0.45, 0.40, 0.20


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (ndvi(np.array([N]), np.array([R])), 0.40 / 0.50),
        # 2.5 × 0.40 / (0.45 + 0.30 − 0.30 + 1) = 1.0 / 1.45
        (evi(np.array([N]), np.array([R]), np.array([B])), 1.0 / 1.45),
        (ndre(np.array([N]), np.array([RE])), 0.30 / 0.60),
        (lswi(np.array([N8A]), np.array([S1])), 0.20 / 0.60),
        # 1.5 × 0.40 / (0.50 + 0.5)
        (savi(np.array([N]), np.array([R])), 0.60),
        # 0.5 × (1.9 − √(3.61 − 3.2)) = 0.5 × (1.9 − √0.41)
        (msavi(np.array([N]), np.array([R])), 0.5 * (1.9 - 0.41**0.5)),
    ],
)
def test_index_matches_hand_computed_value(value: np.ndarray, expected: float) -> None:
    np.testing.assert_allclose(value, [expected], rtol=1e-12)


def test_zero_over_zero_is_nan_not_inf() -> None:
    zeros = np.zeros(3, dtype=np.float32)
    with np.errstate(all="raise"):
        for result in (ndvi(zeros, zeros), ndre(zeros, zeros), lswi(zeros, zeros)):
            assert np.isnan(result).all()


def test_opposite_reflectances_give_nan_not_inf() -> None:
    # Negative reflectance after the BOA offset can cancel the denominator exactly.
    assert np.isnan(ndvi(np.array([0.02]), np.array([-0.02])))[0]


def test_float32_in_float32_out() -> None:
    nir = np.full((2, 2), N, dtype=np.float32)
    red = np.full((2, 2), R, dtype=np.float32)
    assert ndvi(nir, red).dtype == np.float32
    assert evi(nir, red, np.full((2, 2), B, dtype=np.float32)).dtype == np.float32


def test_xarray_in_xarray_out_keeps_coords_and_attrs() -> None:
    coords = {"time": [np.datetime64("2024-01-05")], "y": [1.0, 2.0], "x": [3.0, 4.0]}
    nir = xr.DataArray(
        np.array([[[N, 0.0], [N, N]]]),
        dims=("time", "y", "x"),
        coords=coords,
        attrs={"crs": "EPSG:32648"},
    )
    red = xr.full_like(nir, R).where(nir != 0, 0.0)
    result = ndvi(nir, red)
    assert isinstance(result, xr.DataArray)
    assert result.dims == ("time", "y", "x")
    xr.testing.assert_equal(result.coords.to_dataset(), nir.coords.to_dataset())
    assert result.attrs.get("crs") == "EPSG:32648"
    assert np.isnan(result.sel(y=1.0, x=4.0)).all()
    np.testing.assert_allclose(result.sel(y=2.0, x=3.0), [0.8])


def test_every_index_has_a_function_and_bands() -> None:
    assert set(INDEX_FUNCTIONS) == set(INDEX_BANDS)
    bands = {
        "blue": B,
        "green": 0.08,
        "red": R,
        "rededge1": RE,
        "nir": N,
        "nir08": N8A,
        "swir16": S1,
    }
    for name, function in INDEX_FUNCTIONS.items():
        arguments = [np.array([bands[band]]) for band in INDEX_BANDS[name]]
        assert np.isfinite(function(*arguments)).all()
