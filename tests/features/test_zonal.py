"""Parcel label rasters (inward buffer, small-parcel fallback) and bincount zonal statistics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from affine import Affine
from shapely.geometry import MultiPolygon, box

from pestcast.core.errors import DataError
from pestcast.features.zonal import parcel_pixel_labels, zonal_statistics

# 10 × 10 grid of 10 m pixels over x 0–100, y 0–100; pixel centres at 5, 15, … 95.
GRID: dict[str, Any] = {"transform": Affine(10.0, 0.0, 0.0, 0.0, -10.0, 100.0), "shape": (10, 10)}
FIELD = box(1, 1, 51, 51)  # 5 × 5 pixel centres; shrunk by 5 m: 4 × 4
SMALL = box(61, 61, 79, 79)  # 2 × 2 centres; shrunk by 5 m: none
TINY = box(81, 1, 84, 4)  # no pixel centre at all


def counts(labels: np.ndarray, n: int) -> list[int]:
    return [int(count) for count in np.bincount(labels.ravel(), minlength=n + 1)[1:]]


def test_inward_buffer_and_fallback_for_small_parcels() -> None:
    labels = parcel_pixel_labels([FIELD, SMALL, TINY], **GRID, inward_buffer_m=5.0)
    assert labels.dtype == np.int32
    assert counts(labels, 3) == [16, 4, 0]
    # The shrunk field covers rows 6–9 (y 5–45 → centres 15–45) and columns 1–4.
    np.testing.assert_array_equal(np.argwhere(labels == 1).min(axis=0), [5, 1])
    np.testing.assert_array_equal(np.argwhere(labels == 1).max(axis=0), [8, 4])


def test_without_buffer_every_centre_inside_counts() -> None:
    labels = parcel_pixel_labels([FIELD, SMALL], **GRID, inward_buffer_m=0.0)
    assert counts(labels, 2) == [25, 4]


def test_minimum_pixels_triggers_fallback_to_the_outline() -> None:
    labels = parcel_pixel_labels([FIELD], **GRID, inward_buffer_m=5.0, min_pixels_after_buffer=17)
    assert counts(labels, 1) == [25]


def test_multipolygon_is_one_parcel_and_later_parcel_wins_overlaps() -> None:
    two_parts = MultiPolygon([box(1, 1, 19, 19), box(81, 81, 99, 99)])
    labels = parcel_pixel_labels([two_parts, box(1, 1, 19, 19)], **GRID, inward_buffer_m=0.0)
    assert counts(labels, 2) == [4, 4]
    assert set(labels[:2, 8:].ravel()) == {1}


def test_fallback_outline_never_takes_pixels_of_a_shrunk_parcel() -> None:
    inner = box(21, 21, 29, 29)  # holds one pixel centre, which the shrunk field also holds
    labels = parcel_pixel_labels([FIELD, inner], **GRID, inward_buffer_m=5.0)
    assert counts(labels, 2) == [16, 0]


def test_empty_geometry_and_parcels_outside_get_zero_pixels() -> None:
    labels = parcel_pixel_labels([box(500, 500, 600, 600), FIELD.buffer(-100)], **GRID)
    assert counts(labels, 2) == [0, 0]


@pytest.mark.parametrize(
    "options", [{"inward_buffer_m": -1.0}, {"min_pixels_after_buffer": -1}, {"shape": (0, 10)}]
)
def test_bad_arguments_are_data_errors(options: dict[str, Any]) -> None:
    arguments = {**GRID, **options}
    with pytest.raises(DataError):
        parcel_pixel_labels([FIELD], **arguments)


def test_zonal_statistics_by_hand() -> None:
    labels = np.array([[1, 1, 2], [1, 0, 2], [3, 3, 2]])
    ndvi = np.array([[0.2, 0.4, 0.5], [np.nan, 9.0, 0.7], [0.1, 0.3, 0.6]], dtype=np.float32)
    lswi = np.array([[0.0, 0.1, 0.2], [0.3, 9.0, np.nan], [0.4, 0.5, 0.6]], dtype=np.float32)
    valid = np.array([[True, True, True], [True, True, True], [False, True, True]])
    stats = zonal_statistics({"ndvi": ndvi, "lswi": lswi}, labels, valid, n_parcels=4)
    assert list(stats.columns) == [
        "n_px",
        "n_valid_px",
        "ndvi_mean",
        "ndvi_std",
        "lswi_mean",
        "lswi_std",
    ]
    assert stats["n_px"].tolist() == [3, 3, 2, 0]
    # Parcel 2 loses the NaN-LSWI pixel for both indices; parcel 3 loses the invalid pixel.
    assert stats["n_valid_px"].tolist() == [2, 2, 1, 0]
    np.testing.assert_allclose(stats["ndvi_mean"], [0.3, 0.55, 0.3, np.nan], rtol=1e-6)
    np.testing.assert_allclose(stats["ndvi_std"], [0.1, 0.05, 0.0, np.nan], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(stats["lswi_mean"], [0.05, 0.4, 0.5, np.nan], rtol=1e-6)
    assert stats["ndvi_mean"].dtype == np.float32


def test_zonal_statistics_match_an_independent_groupby() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 40, size=(60, 70))
    values = rng.normal(1000.0, 0.5, size=labels.shape)  # large mean: a one-pass std would drift
    values[rng.random(labels.shape) < 0.1] = np.nan
    valid = rng.random(labels.shape) < 0.8
    stats = zonal_statistics({"v": values}, labels, valid, n_parcels=45)
    frame = pd.DataFrame({"label": labels.ravel(), "v": values.ravel(), "ok": valid.ravel()})
    used = frame[(frame["label"] > 0) & frame["ok"] & frame["v"].notna()]
    grouped = used.groupby("label")["v"]
    expected = pd.DataFrame(
        {"mean": grouped.mean(), "std": grouped.std(ddof=0), "size": grouped.size()}
    )
    expected = expected.reindex(range(1, 46))
    np.testing.assert_allclose(stats["v_mean"], expected["mean"], rtol=1e-6)
    np.testing.assert_allclose(stats["v_std"], expected["std"], rtol=1e-4)
    np.testing.assert_array_equal(stats["n_valid_px"], expected["size"].fillna(0))
    assert stats.loc[40:, "n_px"].eq(0).all()


def test_labels_beyond_the_parcel_count_are_refused() -> None:
    with pytest.raises(DataError, match="n_parcels is 2"):
        zonal_statistics({}, np.array([[0, 3]]), np.ones((1, 2), dtype=bool), n_parcels=2)


def test_arrays_on_another_grid_are_refused() -> None:
    with pytest.raises(DataError, match="'ndvi'"):
        zonal_statistics(
            {"ndvi": np.zeros((3, 3))}, np.zeros((2, 2), dtype=int), np.ones((2, 2), bool), 1
        )
