"""One scene to per-parcel index statistics: bands → indices → SCL mask → zonal statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pestcast.core.errors import DataError
from pestcast.features.scene_stats import parcel_index_stats

BANDS = ("blue", "green", "red", "rededge1", "nir", "nir08", "swir16", "swir22")


def scene(shape: tuple[int, int] = (2, 3)) -> dict[str, np.ndarray]:
    values = {
        "blue": 0.04,
        "green": 0.08,
        "red": 0.05,
        "rededge1": 0.15,
        "nir": 0.45,
        "nir08": 0.40,
        "swir16": 0.20,
        "swir22": 0.10,
    }
    return {band: np.full(shape, values[band], dtype=np.float32) for band in BANDS}


def test_indices_are_averaged_over_clear_pixels_only() -> None:
    bands = scene()
    bands["red"][0, 0] = 0.45  # a cloud-bright pixel: NDVI 0 if it were counted
    labels = np.array([[1, 1, 1], [2, 2, 0]], dtype=np.int32)
    # Pixel (0, 0) is cloud (9); (0, 1) water (6) and (1, 0) dark area (2) must stay.
    scl = np.array([[9, 6, 4], [2, 4, 8]], dtype=np.uint8)
    stats = parcel_index_stats(bands, scl, labels, n_parcels=3)
    assert stats["n_px"].tolist() == [3, 2, 0]
    assert stats["n_valid_px"].tolist() == [2, 2, 0]
    np.testing.assert_allclose(stats["ndvi_mean"], [0.8, 0.8, np.nan], rtol=1e-6)
    np.testing.assert_allclose(stats["evi_mean"][:2], [1.0 / 1.45] * 2, rtol=1e-6)
    np.testing.assert_allclose(stats["ndre_mean"][:2], [0.5] * 2, rtol=1e-6)
    np.testing.assert_allclose(stats["lswi_mean"][:2], [1 / 3] * 2, rtol=1e-6)
    expected = ["n_px", "n_valid_px"] + [
        f"{index}_{stat}" for index in ("ndvi", "evi", "ndre", "lswi") for stat in ("mean", "std")
    ]
    assert list(stats.columns) == expected


def test_nodata_in_one_band_removes_the_pixel_for_every_index() -> None:
    bands = scene((1, 2))
    bands["swir16"][0, 1] = np.nan
    stats = parcel_index_stats(bands, np.full((1, 2), 4), np.ones((1, 2), np.int32), n_parcels=1)
    assert stats["n_valid_px"].tolist() == [1]


def test_missing_band_names_the_band_and_the_index() -> None:
    bands = scene()
    del bands["rededge1"]
    with pytest.raises(DataError, match=r"'rededge1'.*'ndre'"):
        parcel_index_stats(bands, np.full((2, 3), 4), np.ones((2, 3), np.int32), n_parcels=1)


def test_only_requested_indices_need_their_bands() -> None:
    bands = {"nir": scene()["nir"], "red": scene()["red"]}
    stats = parcel_index_stats(
        bands, np.full((2, 3), 4), np.ones((2, 3), np.int32), n_parcels=1, indices=("ndvi",)
    )
    assert list(stats.columns) == ["n_px", "n_valid_px", "ndvi_mean", "ndvi_std"]


def test_unknown_index_and_harmful_mask_are_refused() -> None:
    scl, labels = np.full((2, 3), 4), np.ones((2, 3), np.int32)
    with pytest.raises(DataError, match="unknown index 'gndvi'"):
        parcel_index_stats(scene(), scl, labels, n_parcels=1, indices=("gndvi",))
    with pytest.raises(DataError, match="flooded rice"):
        parcel_index_stats(scene(), scl, labels, n_parcels=1, mask_classes={6, 8})


def test_labels_on_another_grid_are_refused() -> None:
    with pytest.raises(DataError, match="label raster shape"):
        parcel_index_stats(scene(), np.full((2, 3), 4), np.ones((3, 3), np.int32), n_parcels=1)


def test_band_on_another_grid_is_refused() -> None:
    bands = scene()
    bands["nir08"] = np.zeros((4, 4), dtype=np.float32)
    with pytest.raises(DataError, match="'nir08' has shape"):
        parcel_index_stats(bands, np.full((2, 3), 4), np.ones((2, 3), np.int32), n_parcels=1)


def test_statistics_do_not_depend_on_pixels_outside_parcels() -> None:
    rng = np.random.default_rng(5)
    bands = {band: rng.uniform(0.01, 0.6, (20, 30)).astype(np.float32) for band in BANDS}
    labels = rng.integers(0, 6, (20, 30)).astype(np.int32)
    scl = rng.choice([2, 4, 6, 8, 9], size=(20, 30))
    stats = parcel_index_stats(bands, scl, labels, n_parcels=5)
    outside = labels == 0
    for band in bands.values():
        band[outside] = np.nan
    scl[outside] = 0
    pd.testing.assert_frame_equal(parcel_index_stats(bands, scl, labels, n_parcels=5), stats)
    clear = ~np.isin(scl, [8, 9]) & (labels == 1)
    expected = (bands["nir"] - bands["red"]) / (bands["nir"] + bands["red"])
    assert stats.loc[0, "ndvi_mean"] == pytest.approx(expected[clear].mean(), rel=1e-5)
