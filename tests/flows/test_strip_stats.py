"""A solar day reduced strip by strip gives the statistics of the whole-array path, reads only
strips with parcels, mosaics items per strip and hands every strip to a consumer. A failure
never closes a dataset that another thread is still reading."""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from pestcast.core.errors import DataError, SceneReadError, SourceError
from pestcast.features.indices import INDEX_NAMES
from pestcast.features.scene_stats import parcel_index_stats
from pestcast.features.zonal import zonal_statistics
from pestcast.flows import raster_read
from pestcast.flows.observations import required_bands
from pestcast.flows.raster_read import AnalysisGrid, SceneArrays, SolarDayStrips, read_solar_day
from pestcast.flows.stac_search import SceneRef
from pestcast.flows.strip_stats import (
    band_parcel_stats,
    grid_strips,
    parcel_strips,
    solar_day_parcel_stats,
)
from tests.flows.synthetic_scenes import CRS, NORTH, WEST, write_scene

BANDS = required_bands(INDEX_NAMES)
GRID = AnalysisGrid(CRS, Affine(10.0, 0, WEST - 30.0, 0, -10.0, NORTH + 50.0), (80, 100))
"""3 pixels west and 5 north of the scenes' origin: it runs over their edge (all nodata)."""


def parcel_labels(shape: tuple[int, int], seed: int, n_parcels: int = 40) -> npt.NDArray[np.int32]:
    """Rectangular parcels scattered over the grid (no two share a pixel)."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, dtype=np.int32)
    for label in range(1, n_parcels + 1):
        row, col = rng.integers(0, shape[0] - 4), rng.integers(0, shape[1] - 4)
        height, width = rng.integers(1, 12, size=2)
        labels[row : row + height, col : col + width] = label
    return labels


def whole_array_stats(
    scenes: list[SceneRef], labels: npt.NDArray[np.int32], n_parcels: int
) -> pd.DataFrame:
    """The path ``observe_solar_day`` took before strips: whole mosaic, then statistics."""
    arrays = read_solar_day(scenes, GRID, bands=BANDS)
    return parcel_index_stats(
        arrays.reflectance, arrays.scl, labels, n_parcels=n_parcels, indices=INDEX_NAMES
    )


@pytest.fixture(scope="module")
def two_items(tmp_path_factory: pytest.TempPathFactory) -> list[SceneRef]:
    """One solar day over a tile overlap: the first item lacks its west part (swath edge), the
    second lies 20 pixels further east and south, with the offset of baseline 04.00+."""
    folder = tmp_path_factory.mktemp("day")
    first = write_scene(folder, seed=11, no_data=(slice(None), slice(0, 30)))
    second = write_scene(
        folder, seed=12, origin=(WEST - 200.0, NORTH + 200.0), boa_offset_dn=-1000.0
    )
    return [first, second]


@pytest.mark.parametrize("strip_rows", [1, 7, 32, 1024])
def test_strip_statistics_match_the_whole_array_path(
    two_items: list[SceneRef], strip_rows: int
) -> None:
    labels = parcel_labels(GRID.shape, seed=1)
    expected = whole_array_stats(two_items, labels, n_parcels=40)
    got = solar_day_parcel_stats(
        two_items,
        GRID,
        labels,
        bands=BANDS,
        n_parcels=40,
        indices=INDEX_NAMES,
        strip_rows=strip_rows,
    )
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(got[["n_px", "n_valid_px"]], expected[["n_px", "n_valid_px"]])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert (got["n_valid_px"] > 0).sum() > 20  # the comparison is about real numbers, not NaN
    if strip_rows >= GRID.shape[0]:
        pd.testing.assert_frame_equal(got, expected)


def test_every_strip_reaches_the_consumer_as_the_whole_read_has_it(
    two_items: list[SceneRef],
) -> None:
    labels = parcel_labels(GRID.shape, seed=2)
    seen: list[tuple[Window, SceneArrays]] = []

    def keep(window: Window, arrays: SceneArrays) -> None:
        seen.append((window, copy.deepcopy(arrays)))
        arrays.reflectance["nir"][:] = 0.0  # the arrays are the consumer's: no effect on stats

    got = solar_day_parcel_stats(
        two_items,
        GRID,
        labels,
        bands=BANDS,
        n_parcels=40,
        indices=INDEX_NAMES,
        strip_rows=30,
        on_strip=keep,
    )
    assert [(w.row_off, w.height, w.col_off, w.width) for w, _ in seen] == [
        (0, 30, 0, 100),
        (30, 30, 0, 100),
        (60, 20, 0, 100),
    ]
    whole = read_solar_day(two_items, GRID, bands=BANDS)
    for window, arrays in seen:
        rows = slice(window.row_off, window.row_off + window.height)
        for band, values in whole.reflectance.items():
            np.testing.assert_array_equal(arrays.reflectance[band], values[rows], err_msg=band)
        np.testing.assert_array_equal(arrays.scl, whole.scl[rows])
    np.testing.assert_allclose(got, whole_array_stats(two_items, labels, 40), rtol=0, atol=1e-6)


def counting_signer(opened: list[str]) -> object:
    def sign(href: str) -> str:
        opened.append(Path(href).parent.name + "/" + Path(href).stem)
        return href

    return sign


def test_strips_without_parcels_are_not_read(two_items: list[SceneRef]) -> None:
    opened: list[str] = []
    labels = np.zeros(GRID.shape, dtype=np.int32)
    stats = solar_day_parcel_stats(
        two_items, GRID, labels, bands=BANDS, n_parcels=2, sign_href=counting_signer(opened)
    )
    assert opened == []
    assert stats["n_px"].tolist() == [0, 0]
    assert stats["ndvi_mean"].isna().all()


def test_the_second_item_is_read_only_where_the_first_lacks_parcel_pixels(
    tmp_path: Path,
) -> None:
    first = write_scene(tmp_path, seed=13, no_data=(slice(None), slice(0, 30)), holes=0.0)
    second = write_scene(tmp_path, seed=14, origin=(WEST - 200.0, NORTH + 200.0), holes=0.0)
    opened: list[str] = []
    labels = np.zeros(GRID.shape, dtype=np.int32)
    labels[20:30, 40:60] = 1  # inside the first item's data
    options = {"bands": BANDS, "sign_href": counting_signer(opened)}
    solar_day_parcel_stats([first, second], GRID, labels, n_parcels=1, **options)
    assert sorted(opened) == sorted(f"scene13/{band}" for band in BANDS)  # each opened once
    labels[20:30, 10:20] = 2  # west of the first item's swath edge: the second has it
    opened.clear()
    stats = solar_day_parcel_stats([first, second], GRID, labels, n_parcels=2, **options)
    assert sorted(opened) == sorted(f"scene{n}/{band}" for band in BANDS for n in (13, 14))
    assert stats["n_px"].tolist() == [200, 100]
    np.testing.assert_allclose(
        stats, whole_array_stats([first, second], labels, 2)[stats.columns], atol=1e-6
    )


def test_labels_on_another_grid_are_refused(two_items: list[SceneRef]) -> None:
    with pytest.raises(DataError, match=r"label raster shape \(80, 99\)"):
        solar_day_parcel_stats(
            two_items, GRID, np.zeros((80, 99), np.int32), bands=BANDS, n_parcels=1
        )


def test_a_missing_asset_names_item_band_and_href(two_items: list[SceneRef]) -> None:
    gone = dataclasses.replace(
        two_items[0], asset_hrefs={**two_items[0].asset_hrefs, "red": "/nowhere/red.tif"}
    )
    labels = parcel_labels(GRID.shape, seed=3)
    with pytest.raises(SceneReadError, match=r"asset 'red' of item scene11 from /nowhere/red.tif"):
        solar_day_parcel_stats([gone], GRID, labels, bands=BANDS, n_parcels=40)


@pytest.fixture
def reads_running(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The bands being read right now; every read but red's takes 0.2 s more."""
    running: list[str] = []
    read = raster_read._SceneStrips._read

    def slow_read(strips: Any, band: str, rows: range, pixels: Any) -> Any:
        running.append(band)
        try:
            if band != "red":
                time.sleep(0.2)
            return read(strips, band, rows, pixels)
        finally:
            running.remove(band)

    monkeypatch.setattr(raster_read._SceneStrips, "_read", slow_read)
    return running


def test_a_failed_band_is_raised_after_the_other_reads_of_the_strip_end(
    two_items: list[SceneRef], reads_running: list[str]
) -> None:
    """Raised at once, the failure closed the day's datasets under reads still running in the
    pool: a segfault in libtiff (CI, stop 13)."""
    gone = dataclasses.replace(
        two_items[0], asset_hrefs={**two_items[0].asset_hrefs, "red": "/nowhere/red.tif"}
    )
    with (
        pytest.raises(SceneReadError, match="asset 'red'"),
        SolarDayStrips([gone], GRID, bands=BANDS, max_concurrent_reads=4) as day,
    ):
        day.read(range(16))
    assert reads_running == []


def test_a_failing_consumer_returns_after_the_strip_read_ahead_ends(
    two_items: list[SceneRef], reads_running: list[str]
) -> None:
    def fail(window: Window, arrays: SceneArrays) -> None:
        raise RuntimeError("the consumer fails on the first strip")

    labels = parcel_labels(GRID.shape, seed=3)
    with pytest.raises(RuntimeError, match="first strip"):
        solar_day_parcel_stats(
            two_items[:1], GRID, labels, bands=BANDS, n_parcels=40, on_strip=fail, strip_rows=16
        )
    assert reads_running == []


def test_grid_strips_cover_the_rows_once() -> None:
    assert list(grid_strips(10, 4)) == [range(0, 4), range(4, 8), range(8, 10)]
    assert list(grid_strips(3, 1024)) == [range(0, 3)]


def on_grid_by_hand(path: str, factor: int) -> npt.NDArray[np.uint16]:
    """The band on GRID by index arithmetic: grid pixel (r, c) lies on 10 m pixel (r − 5, c − 3)
    of the scene, so on pixel ((r − 5) // f, (c − 3) // f) of a band of f × 10 m; 0 off it."""
    with rasterio.open(path) as dataset:
        native = dataset.read(1)
    rows, cols = np.indices(GRID.shape)
    source_rows, source_cols = (rows - 5) // factor, (cols - 3) // factor
    inside = (source_rows >= 0) & (source_rows < native.shape[0])
    inside &= (source_cols >= 0) & (source_cols < native.shape[1])
    values = native[
        source_rows.clip(0, native.shape[0] - 1), source_cols.clip(0, native.shape[1] - 1)
    ]
    return np.where(inside, values, 0).astype(np.uint16)


@pytest.mark.parametrize(("band", "factor"), [("red", 1), ("swir16", 2)])
def test_band_statistics_match_zonal_statistics_of_the_band_on_the_grid(
    two_items: list[SceneRef], band: str, factor: int
) -> None:
    labels = parcel_labels(GRID.shape, seed=4)
    href = two_items[0].asset_hrefs[band]
    strips = parcel_strips(labels, GRID, n_parcels=40, strip_rows=9)
    got = band_parcel_stats(href, strips, name=band)
    values = on_grid_by_hand(href, factor)
    expected = zonal_statistics({band: values}, labels, values != 0, n_parcels=40)
    assert list(got.columns) == ["n_px", "n_valid_px", f"{band}_mean"]
    pd.testing.assert_frame_equal(got[["n_px", "n_valid_px"]], expected[["n_px", "n_valid_px"]])
    np.testing.assert_allclose(got[f"{band}_mean"], expected[f"{band}_mean"], rtol=1e-6)
    assert (got["n_valid_px"] < got["n_px"]).sum() > 0  # nodata (off the scene, holes) left out


def test_a_band_that_cannot_be_read_names_its_file(tmp_path: Path) -> None:
    strips = parcel_strips(parcel_labels(GRID.shape, seed=5), GRID, n_parcels=40)
    with pytest.raises(SourceError, match=r"missing\.tif"):
        band_parcel_stats(str(tmp_path / "missing.tif"), strips)
