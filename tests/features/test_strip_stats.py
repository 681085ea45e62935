"""Zonal and index statistics gathered piece by piece equal those of the whole array at once."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from pestcast.core.errors import DataError
from pestcast.features.scene_stats import ParcelIndexAccumulator, parcel_index_stats
from pestcast.features.zonal import ZonalAccumulator, zonal_statistics

BANDS = ("blue", "green", "red", "rededge1", "nir", "nir08", "swir16")
INDICES = ("ndvi", "evi", "ndre", "lswi", "cig")


def pieces(size: int, n_pieces: int, seed: int) -> list[npt.NDArray[np.intp]]:
    """Pixel positions cut at random places into ``n_pieces`` runs, in order (like strips)."""
    cuts = np.sort(np.random.default_rng(seed).choice(np.arange(1, size), n_pieces - 1, False))
    return np.split(np.arange(size), cuts)


def zonal_inputs(
    seed: int,
) -> tuple[dict[str, npt.NDArray[np.float64]], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 60, size=5_000)
    values = {
        "big": rng.normal(1000.0, 0.5, size=labels.size),  # a one-pass sum of squares drifts here
        "small": rng.normal(0.3, 0.1, size=labels.size),
    }
    values["small"][rng.random(labels.size) < 0.1] = np.nan
    return values, labels, rng.random(labels.size) < 0.8


@pytest.mark.parametrize("n_pieces", [2, 7, 40])
def test_zonal_statistics_over_pieces_match_the_whole(n_pieces: int) -> None:
    values, labels, valid = zonal_inputs(n_pieces)
    whole = zonal_statistics(values, labels, valid, n_parcels=64)
    accumulator = ZonalAccumulator(values, n_parcels=64)
    for part in pieces(labels.size, n_pieces, seed=n_pieces):
        accumulator.add({k: v[part] for k, v in values.items()}, labels[part], valid[part])
    pieced = accumulator.table()
    pd.testing.assert_frame_equal(pieced[["n_px", "n_valid_px"]], whole[["n_px", "n_valid_px"]])
    for column in ("big_mean", "big_std", "small_mean", "small_std"):
        np.testing.assert_allclose(pieced[column], whole[column], rtol=1e-6, err_msg=column)
    # Against an independent float64 reference too, not only against the one-piece path.
    used = (labels > 0) & valid & np.isfinite(values["small"])
    frame = pd.DataFrame({"label": labels[used], "big": values["big"][used]})
    std = frame.groupby("label")["big"].std(ddof=0).reindex(range(1, 65))
    np.testing.assert_allclose(pieced["big_std"], std, rtol=1e-5)


def test_one_piece_gives_exactly_the_whole_array_result() -> None:
    values, labels, valid = zonal_inputs(3)
    accumulator = ZonalAccumulator(values, n_parcels=64)
    accumulator.add(values, labels, valid)
    pd.testing.assert_frame_equal(
        accumulator.table(), zonal_statistics(values, labels, valid, n_parcels=64)
    )


def test_a_parcel_seen_in_one_piece_keeps_its_values_bit_for_bit() -> None:
    values, labels, valid = zonal_inputs(4)
    labels[:2_500] = np.where(labels[:2_500] > 0, 1 + labels[:2_500] % 30, 0)
    labels[2_500:] = np.where(labels[2_500:] > 0, 31 + labels[2_500:] % 30, 0)
    whole = zonal_statistics(values, labels, valid, n_parcels=64)
    accumulator = ZonalAccumulator(values, n_parcels=64)
    for part in (slice(0, 2_500), slice(2_500, None)):
        accumulator.add({k: v[part] for k, v in values.items()}, labels[part], valid[part])
    pd.testing.assert_frame_equal(accumulator.table(), whole)


def test_pieces_without_pixels_change_nothing() -> None:
    values, labels, valid = zonal_inputs(5)
    accumulator = ZonalAccumulator(values, n_parcels=64)
    empty = np.zeros(0, dtype=np.intp)
    accumulator.add({k: v[empty] for k, v in values.items()}, labels[empty], valid[empty])
    accumulator.add(values, labels, valid)
    accumulator.add({k: v[:0] for k, v in values.items()}, labels[:0], valid[:0])
    pd.testing.assert_frame_equal(
        accumulator.table(), zonal_statistics(values, labels, valid, n_parcels=64)
    )


def test_other_arrays_than_announced_are_refused() -> None:
    accumulator = ZonalAccumulator(["ndvi"], n_parcels=2)
    with pytest.raises(DataError, match="lswi"):
        accumulator.add({"lswi": np.zeros(3)}, np.zeros(3, dtype=int), np.ones(3, dtype=bool))


def scene(
    shape: tuple[int, int], seed: int
) -> tuple[dict[str, npt.NDArray[np.float32]], npt.NDArray[np.uint8], npt.NDArray[np.int32]]:
    rng = np.random.default_rng(seed)
    bands = {band: rng.uniform(0.0, 0.6, size=shape).astype(np.float32) for band in BANDS}
    bands["nir"][rng.random(shape) < 0.02] = np.nan  # nodata in one band
    scl = rng.choice(np.array([2, 3, 4, 5, 6, 8, 9], np.uint8), size=shape)
    labels = rng.integers(0, 30, size=shape).astype(np.int32)
    return bands, scl, labels


def test_index_statistics_over_strips_match_the_whole_scene() -> None:
    bands, scl, labels = scene((60, 50), seed=6)
    whole = parcel_index_stats(bands, scl, labels, n_parcels=29, indices=INDICES)
    accumulator = ParcelIndexAccumulator(29, indices=INDICES)
    for start in range(0, 60, 13):
        rows = slice(start, start + 13)
        inside = labels[rows].ravel() > 0  # parcel pixels only, as the strip reader gives them
        accumulator.add(
            {band: values[rows].ravel()[inside] for band, values in bands.items()},
            scl[rows].ravel()[inside],
            labels[rows].ravel()[inside],
        )
    pieced = accumulator.table()
    assert list(pieced.columns) == list(whole.columns)
    pd.testing.assert_frame_equal(pieced[["n_px", "n_valid_px"]], whole[["n_px", "n_valid_px"]])
    np.testing.assert_allclose(pieced, whole, rtol=0, atol=1e-6)


def test_index_accumulator_checks_its_settings_first() -> None:
    with pytest.raises(DataError, match="gndvi"):
        ParcelIndexAccumulator(3, indices=("ndvi", "gndvi"))
    with pytest.raises(DataError, match="flooded"):
        ParcelIndexAccumulator(3, mask_classes={6, 8})


def test_means_and_counts_only_over_pieces_match_the_whole() -> None:
    values, labels, valid = zonal_inputs(7)
    whole = zonal_statistics(values, labels, valid, n_parcels=64)
    accumulator = ZonalAccumulator(values, n_parcels=64, std=False)
    for part in pieces(labels.size, 9, seed=7):
        accumulator.add({k: v[part] for k, v in values.items()}, labels[part], valid[part])
    pieced = accumulator.table()
    assert list(pieced.columns) == ["n_px", "n_valid_px", "big_mean", "small_mean"]
    pd.testing.assert_frame_equal(pieced[["n_px", "n_valid_px"]], whole[["n_px", "n_valid_px"]])
    np.testing.assert_allclose(pieced["big_mean"], whole["big_mean"], rtol=1e-7)
    np.testing.assert_allclose(pieced["small_mean"], whole["small_mean"], rtol=1e-6)
