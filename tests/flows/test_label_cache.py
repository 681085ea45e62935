"""The parcel label raster is rasterized once per grid and parcel set, kept as a GeoTIFF in the
work dir and read back on later runs; any change to the parcels or the settings rebuilds it."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from distributed.protocol import deserialize, serialize
from shapely.geometry import box

from pestcast.core.errors import DataError
from pestcast.features.zonal import parcel_pixel_labels
from pestcast.flows.config import DEFAULT_CONFIG, PestcastConfig, load_config
from pestcast.flows.label_cache import (
    KEEP_LABEL_RASTERS,
    LABEL_CACHE_DIR,
    cached_parcel_labels,
)
from pestcast.flows.raster_read import AnalysisGrid
from pestcast.flows.tasks import parcel_labels

GRID = AnalysisGrid("EPSG:32648", Affine(10.0, 0, 580_000.0, 0, -10.0, 1_150_300.0), (30, 40))
IDS = ["P1", "P2", "P3"]
GEOMETRIES = [
    box(580_020, 1_150_120, 580_150, 1_150_280),
    box(580_200, 1_150_020, 580_390, 1_150_110),
    box(580_300, 1_150_200, 580_318, 1_150_216),  # small: falls back to its outline
]
SETTINGS = {"inward_buffer_m": 5.0, "min_pixels_after_buffer": 3}


def test_the_raster_is_built_once_then_read_back(tmp_path: Path) -> None:
    first = cached_parcel_labels(IDS, GEOMETRIES, GRID, **SETTINGS, cache_dir=tmp_path)
    second = cached_parcel_labels(IDS, GEOMETRIES, GRID, **SETTINGS, cache_dir=tmp_path)
    assert (first.built, second.built) == (True, False)
    assert first.path == second.path
    assert first.path.parent == tmp_path
    np.testing.assert_array_equal(second.labels, first.labels)
    assert second.labels.dtype == np.int32
    expected = parcel_pixel_labels(
        GEOMETRIES, transform=GRID.transform, shape=GRID.shape, **SETTINGS
    )
    np.testing.assert_array_equal(first.labels, expected)
    assert second.fingerprint == first.fingerprint
    # The observation caches' key part is what parcel_labels computed before the cache existed.
    old = hashlib.sha256(expected.tobytes()).hexdigest()[:16]
    assert first.fingerprint == old + hashlib.sha256("\n".join(IDS).encode()).hexdigest()[:8]
    with rasterio.open(first.path) as dataset:  # a plain GeoTIFF on the grid, for QGIS too
        assert dataset.crs == rasterio.crs.CRS.from_epsg(32648)
        assert dataset.transform == GRID.transform
        assert dataset.compression is not None


@pytest.mark.parametrize(
    "change",
    ["moved parcel", "renamed parcel", "reordered parcels", "buffer", "min px", "grid"],
)
def test_a_change_to_parcels_or_settings_rebuilds_it(tmp_path: Path, change: str) -> None:
    before = cached_parcel_labels(IDS, GEOMETRIES, GRID, **SETTINGS, cache_dir=tmp_path)
    ids, geometries, settings, grid = list(IDS), list(GEOMETRIES), dict(SETTINGS), GRID
    if change == "moved parcel":
        geometries[0] = box(580_030, 1_150_120, 580_150, 1_150_280)
    elif change == "renamed parcel":
        ids[1] = "P2b"
    elif change == "reordered parcels":
        ids, geometries = ids[::-1], geometries[::-1]
    elif change == "buffer":
        settings["inward_buffer_m"] = 0.0
    elif change == "min px":
        settings["min_pixels_after_buffer"] = 1
    else:
        grid = AnalysisGrid(GRID.crs, GRID.transform, (31, 40))
    after = cached_parcel_labels(ids, geometries, grid, **settings, cache_dir=tmp_path)
    assert after.built
    assert after.path != before.path
    assert after.fingerprint != before.fingerprint or change == "min px"
    expected = parcel_pixel_labels(
        geometries, transform=grid.transform, shape=grid.shape, **settings
    )
    np.testing.assert_array_equal(after.labels, expected)


def test_a_damaged_file_is_reported_and_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    built = cached_parcel_labels(IDS, GEOMETRIES, GRID, **SETTINGS, cache_dir=tmp_path)
    built.path.write_bytes(built.path.read_bytes()[:300])  # truncated
    with caplog.at_level(logging.WARNING):
        again = cached_parcel_labels(IDS, GEOMETRIES, GRID, **SETTINGS, cache_dir=tmp_path)
    assert again.built
    assert str(built.path) in caplog.text
    np.testing.assert_array_equal(again.labels, built.labels)
    assert not cached_parcel_labels(IDS, GEOMETRIES, GRID, **SETTINGS, cache_dir=tmp_path).built


def test_only_the_newest_rasters_are_kept(tmp_path: Path) -> None:
    paths = []
    for step in range(KEEP_LABEL_RASTERS + 2):
        moved = [box(580_020 + 10 * step, 1_150_120, 580_150, 1_150_280), *GEOMETRIES[1:]]
        paths.append(cached_parcel_labels(IDS, moved, GRID, **SETTINGS, cache_dir=tmp_path).path)
        os.utime(paths[-1], ns=(step * 10**9, step * 10**9))
    assert sorted(tmp_path.glob("*.tif")) == sorted(paths[-KEEP_LABEL_RASTERS:])


def config_in(work_dir: Path) -> PestcastConfig:
    config = load_config(DEFAULT_CONFIG, check_paths=False)
    paths = config.paths.model_copy(update={"work_dir": work_dir})
    return config.model_copy(update={"paths": paths})


def test_the_task_keeps_the_raster_in_the_work_dir_across_runs(tmp_path: Path) -> None:
    parcels = gpd.GeoDataFrame({"parcel_id": IDS}, geometry=GEOMETRIES, crs="EPSG:32648")
    config = config_in(tmp_path)
    first = parcel_labels.fn(parcels, config)
    (path,) = (tmp_path / LABEL_CACHE_DIR).glob("*.tif")
    stamp = path.stat().st_mtime_ns
    second = parcel_labels.fn(parcels, config)
    assert path.stat().st_mtime_ns == stamp  # read, not written again
    np.testing.assert_array_equal(second.labels, first.labels)
    assert second.fingerprint == first.fingerprint
    assert np.bincount(first.labels.ravel()).tolist()[1:] != [0, 0, 0]
    moved = parcels.copy()
    moved.geometry = [box(580_020, 1_150_120, 580_100, 1_150_280), *GEOMETRIES[1:]]
    third = parcel_labels.fn(moved, config)
    assert len(list((tmp_path / LABEL_CACHE_DIR).glob("*.tif"))) == 2
    assert third.fingerprint != first.fingerprint


def shipped_to_a_worker(value: Any) -> tuple[Any, int]:
    """``value`` as a Dask worker receives it (serialized by distributed, as a task argument
    is) and the bytes sent. Nothing is stored this way: the label raster is cached as a GeoTIFF."""
    header, frames = serialize(value)
    return deserialize(header, frames), sum(len(frame) for frame in frames)


def test_a_copy_for_another_process_carries_the_file_not_the_array(tmp_path: Path) -> None:
    parcels = gpd.GeoDataFrame({"parcel_id": IDS}, geometry=GEOMETRIES, crs="EPSG:32648")
    raster = parcel_labels.fn(parcels, config_in(tmp_path))
    copy, sent = shipped_to_a_worker(raster)
    assert sent < 2048 < raster.labels.nbytes
    np.testing.assert_array_equal(copy.labels, raster.labels)
    assert (copy.fingerprint, copy.labels_file) == (raster.fingerprint, raster.labels_file)


def test_a_copy_refuses_a_label_file_another_run_replaced(tmp_path: Path) -> None:
    parcels = gpd.GeoDataFrame({"parcel_id": IDS}, geometry=GEOMETRIES, crs="EPSG:32648")
    raster = parcel_labels.fn(parcels, config_in(tmp_path))
    stranger = replace(raster, fingerprint="0" * 24)
    with pytest.raises(DataError, match="not the one this run made"):
        shipped_to_a_worker(stranger)
