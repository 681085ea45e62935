"""CIG (GCI), CIRE and McFeeters' NDWI against hand-computed values and against the formulas of
the awesome-spectral-indices catalogue; the index list a configuration may choose.

The reference formulas are copied from the catalogue (``output/spectral-indices-table.csv``,
Montero et al. 2023) with its band letters, and its Sentinel-2 bands (``output/bands.json``) are
mapped to our logical band names: an independent check of both the arithmetic and the choice of
bands (N is B08, not B8A; RE1 is B05).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import xarray as xr

from pestcast.core.errors import DataError
from pestcast.features import (
    DEFAULT_PARCEL_INDICES,
    INDEX_BANDS,
    INDEX_NAMES,
    cig,
    cire,
    index_from_bands,
    ndwi,
    parcel_index_stats,
    validate_parcel_indices,
)

# Catalogue band letter → (Sentinel-2 band, our logical band name as in config asset_keys).
CATALOGUE_BANDS = {"G": ("B03", "green"), "N": ("B08", "nir"), "RE1": ("B05", "rededge1")}
# Short name → (catalogue formula verbatim, its band letters, the same formula in Python).
CATALOGUE: dict[str, tuple[str, tuple[str, ...], Callable[..., np.ndarray]]] = {
    "cig": ("(N / G) - 1.0", ("N", "G"), lambda n, g: (n / g) - 1.0),
    "cire": ("(N / RE1) - 1", ("N", "RE1"), lambda n, re1: (n / re1) - 1),
    "ndwi": ("(G - N) / (G + N)", ("G", "N"), lambda g, n: (g - n) / (g + n)),
}

# One vegetated pixel: green 0.08, red edge (B05) 0.15, NIR (B08) 0.45.
G, RE, N = 0.08, 0.15, 0.45


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (cig(np.array([N]), np.array([G])), 4.625),  # 0.45 / 0.08 − 1
        (cire(np.array([N]), np.array([RE])), 2.0),  # 0.45 / 0.15 − 1
        (ndwi(np.array([G]), np.array([N])), -0.37 / 0.53),  # (0.08 − 0.45) / (0.08 + 0.45)
        (ndwi(np.array([0.06]), np.array([0.02])), 0.5),  # open water: green above NIR
    ],
)
def test_index_matches_hand_computed_value(value: np.ndarray, expected: float) -> None:
    np.testing.assert_allclose(value, [expected], rtol=1e-12)


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_index_matches_the_catalogue_formula_on_random_reflectance(name: str) -> None:
    _, letters, formula = CATALOGUE[name]
    assert set(INDEX_BANDS[name]) == {CATALOGUE_BANDS[letter][1] for letter in letters}
    rng = np.random.default_rng(8)
    reflectance = {
        logical: rng.uniform(-0.02, 0.9, 10_000) for _, logical in CATALOGUE_BANDS.values()
    }
    expected = formula(*(reflectance[CATALOGUE_BANDS[letter][1]] for letter in letters))
    np.testing.assert_allclose(index_from_bands(name, reflectance), expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("result", "why"),
    [
        (cig(np.array([0.3, 0.0]), np.zeros(2)), "green 0"),
        (cire(np.array([0.3, 0.0]), np.zeros(2)), "red edge 0"),
        (ndwi(np.array([0.0, 0.02]), np.array([0.0, -0.02])), "G + N = 0 after a BOA offset"),
        (cig(np.array([np.nan, 0.3]), np.array([0.1, np.nan])), "nodata in"),
        (cire(np.array([1.5], np.float32), np.array([1e-45], np.float32)), "overflow: subnormal"),
    ],
)
def test_zero_denominator_and_nodata_give_nan_not_inf(result: np.ndarray, why: str) -> None:
    assert np.isnan(result).all(), why


def test_no_floating_point_warning_on_zero_or_subnormal_denominator() -> None:
    zeros = np.zeros(3, dtype=np.float32)
    with np.errstate(all="raise"):
        for function in (cig, cire, ndwi):
            assert np.isnan(function(zeros, zeros)).all()
        assert np.isnan(cig(np.array([1.5], np.float32), np.array([1e-45], np.float32))).all()


def test_float32_in_float32_out_and_xarray_keeps_coords_and_attrs() -> None:
    nir = xr.DataArray(
        np.full((1, 2, 2), N, dtype=np.float32),
        dims=("time", "y", "x"),
        coords={"time": [np.datetime64("2024-01-05")], "y": [1.0, 2.0], "x": [3.0, 4.0]},
        attrs={"crs": "EPSG:32648"},
    )
    green = xr.full_like(nir, G)
    for result in (cig(nir, green), cire(nir, xr.full_like(nir, RE)), ndwi(green, nir)):
        assert isinstance(result, xr.DataArray)
        assert result.dtype == np.float32
        assert result.attrs.get("crs") == "EPSG:32648"
        xr.testing.assert_equal(result.coords.to_dataset(), nir.coords.to_dataset())


def test_extra_indices_give_mean_and_std_columns_per_parcel() -> None:
    rng = np.random.default_rng(3)
    bands = {
        band: rng.uniform(0.02, 0.5, (4, 4)).astype(np.float32)
        for band in ("blue", "green", "red", "rededge1", "nir", "nir08", "swir16")
    }
    labels = np.repeat([[1, 1, 2, 2]], 4, axis=0)
    indices = validate_parcel_indices([*DEFAULT_PARCEL_INDICES, "ndwi", "cig", "cire"])
    stats = parcel_index_stats(bands, np.full((4, 4), 4), labels, n_parcels=2, indices=indices)
    for name in ("cig", "cire", "ndwi"):
        first = index_from_bands(name, bands)[labels == 1]
        np.testing.assert_allclose(stats[f"{name}_mean"][0], first.mean(), rtol=1e-5)
        np.testing.assert_allclose(stats[f"{name}_std"][0], first.std(), rtol=1e-4)


def test_default_list_is_unchanged_and_order_does_not_matter() -> None:
    assert validate_parcel_indices(DEFAULT_PARCEL_INDICES) == DEFAULT_PARCEL_INDICES
    shuffled = ["ndwi", "lswi", "cig", "ndre", "evi", "ndvi"]
    assert validate_parcel_indices(shuffled) == ("ndvi", "evi", "ndre", "lswi", "cig", "ndwi")
    assert set(CATALOGUE) <= set(INDEX_NAMES)


@pytest.mark.parametrize(
    ("indices", "says"),
    [
        ([*DEFAULT_PARCEL_INDICES, "gci"], r"unknown index name\(s\) 'gci'; known: ndvi, evi, "),
        ([*DEFAULT_PARCEL_INDICES, "gci"], r"'gci' is 'cig' here"),
        ([*DEFAULT_PARCEL_INDICES, "NDWI"], r"known: .*cig, cire, ndwi"),
        (["ndvi", "evi", "ndre", "cig"], r"lswi are missing: the feature table is built from"),
        ([*DEFAULT_PARCEL_INDICES, "ndvi"], r"ndvi listed more than once"),
    ],
)
def test_bad_index_lists_are_refused_saying_why(indices: list[str], says: str) -> None:
    with pytest.raises(DataError, match=says):
        validate_parcel_indices(indices)
