"""The parcel label raster, built once per analysis grid and parcel set and kept on disk.

Rasterizing a tile's parcels costs seconds to minutes and gives the same raster every run and
every date until the parcels, the grid or the pixel rule change. The raster is kept as a
compressed, tiled GeoTIFF (int32, readable in QGIS) named by a key over everything it depends
on: parcel ids and geometries (WKB), grid CRS, transform and shape, inward buffer, minimum
pixels and :data:`LABEL_CACHE_FORMAT`. A changed parcel file gives a new key, so a new raster;
a file that cannot be read or does not match its key is logged as a warning and rebuilt. Only
the newest :data:`KEEP_LABEL_RASTERS` rasters of a folder are kept.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio
import shapely
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader
from shapely.geometry.base import BaseGeometry

from pestcast.core.atomic import atomic_path
from pestcast.core.errors import DataError
from pestcast.features.zonal import parcel_pixel_labels
from pestcast.flows.raster_read import AnalysisGrid

__all__ = [
    "KEEP_LABEL_RASTERS",
    "LABEL_CACHE_DIR",
    "LABEL_CACHE_FORMAT",
    "CachedLabels",
    "cached_parcel_labels",
    "label_raster_key",
    "labels_fingerprint",
    "read_labels",
]

LABEL_CACHE_DIR = "parcel_labels"
"""Folder under ``paths.work_dir`` holding the label rasters."""
LABEL_CACHE_FORMAT = 1
"""Part of every key: raise it when the rasterization rule changes, so old rasters go unused."""
KEEP_LABEL_RASTERS = 4
"""Label rasters kept per folder (newest first); older ones are deleted after a new one is
written. Each is one grid and parcel-set version."""
_KEY_TAG = "PESTCAST_LABEL_KEY"
_FINGERPRINT_TAG = "PESTCAST_LABEL_FINGERPRINT"
_PREFIX = "parcel_labels_"
LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedLabels:
    """A parcel label raster and where it is kept."""

    labels: npt.NDArray[np.int32]
    """0 outside parcels, i + 1 inside (inward-buffered) parcel i; shape of the grid."""
    fingerprint: str
    """:func:`labels_fingerprint` of the labels and parcel ids."""
    path: Path
    """The GeoTIFF holding them."""
    built: bool
    """True if rasterized in this call, False if read from ``path``."""


def cached_parcel_labels(
    parcel_ids: Sequence[str],
    geometries: Sequence[BaseGeometry] | npt.NDArray[np.object_],
    grid: AnalysisGrid,
    *,
    inward_buffer_m: float,
    min_pixels_after_buffer: int,
    cache_dir: Path,
) -> CachedLabels:
    """The label raster of ``geometries`` (in the grid's CRS) on ``grid``: read from
    ``cache_dir`` if it was built before for the same inputs, else built and written there
    atomically (see :func:`features.zonal.parcel_pixel_labels` for the rule)."""
    ids = [str(pid) for pid in parcel_ids]
    key = label_raster_key(
        ids,
        geometries,
        grid,
        inward_buffer_m=inward_buffer_m,
        min_pixels_after_buffer=min_pixels_after_buffer,
    )
    path = Path(cache_dir) / f"{_PREFIX}{key}.tif"
    cached = _read_cached(path, key, grid)
    if cached is not None:
        labels, fingerprint = cached
        return CachedLabels(labels=labels, fingerprint=fingerprint, path=path, built=False)
    labels = parcel_pixel_labels(
        list(geometries),
        transform=grid.transform,
        shape=grid.shape,
        inward_buffer_m=inward_buffer_m,
        min_pixels_after_buffer=min_pixels_after_buffer,
    )
    fingerprint = labels_fingerprint(labels, ids)
    _write(path, labels, grid, key=key, fingerprint=fingerprint)
    _remove_old(path)
    return CachedLabels(labels=labels, fingerprint=fingerprint, path=path, built=True)


def label_raster_key(
    parcel_ids: Sequence[str],
    geometries: Sequence[BaseGeometry] | npt.NDArray[np.object_],
    grid: AnalysisGrid,
    *,
    inward_buffer_m: float,
    min_pixels_after_buffer: int,
) -> str:
    """Hash of everything a label raster depends on (24 hex digits)."""
    digest = hashlib.sha256()
    settings = (LABEL_CACHE_FORMAT, grid.crs, tuple(grid.transform)[:6], grid.shape)
    digest.update(repr((*settings, float(inward_buffer_m), int(min_pixels_after_buffer))).encode())
    digest.update("\n".join(map(str, parcel_ids)).encode())
    wkb = shapely.to_wkb(np.asarray(geometries, dtype=object), output_dimension=2)
    for blob in wkb:
        digest.update(len(blob).to_bytes(8, "little"))
        digest.update(blob)
    return digest.hexdigest()[:24]


def labels_fingerprint(labels: npt.NDArray[np.int32], parcel_ids: Sequence[str]) -> str:
    """Hash of the label raster and parcel ids: part of the observation cache key."""
    fingerprint = hashlib.sha256(np.ascontiguousarray(labels).tobytes()).hexdigest()[:16]
    return fingerprint + hashlib.sha256("\n".join(parcel_ids).encode()).hexdigest()[:8]


def _read_cached(
    path: Path, key: str, grid: AnalysisGrid
) -> tuple[npt.NDArray[np.int32], str] | None:
    if not path.exists():
        return None
    try:
        with rasterio.open(path) as dataset:
            tags = dataset.tags()
            problem = _mismatch(dataset, tags, key, grid)
            if problem is None:
                return np.asarray(dataset.read(1), dtype=np.int32), tags[_FINGERPRINT_TAG]
    except (RasterioError, OSError) as error:
        problem = f"cannot be read ({error})"
    LOGGER.warning("parcel label raster %s %s; rasterizing the parcels again", path, problem)
    return None


def _mismatch(
    dataset: DatasetReader, tags: dict[str, str], key: str, grid: AnalysisGrid
) -> str | None:
    if tags.get(_KEY_TAG) != key or _FINGERPRINT_TAG not in tags:
        return "was written for other parcels or settings"
    if dataset.shape != grid.shape or dataset.transform != grid.transform:
        return f"is {dataset.shape} at {tuple(dataset.transform)[:6]}, not the analysis grid"
    if dataset.dtypes[0] != "int32" or dataset.crs != CRS.from_user_input(grid.crs):
        return f"holds {dataset.dtypes[0]} in {dataset.crs}, not int32 in {grid.crs}"
    return None


def _write(
    path: Path, labels: npt.NDArray[np.int32], grid: AnalysisGrid, *, key: str, fingerprint: str
) -> None:
    rows, cols = grid.shape
    profile = {
        "driver": "GTiff",
        "dtype": "int32",
        "count": 1,
        "width": cols,
        "height": rows,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": None,
        "compress": "deflate",
        "predictor": 2,  # runs of one label difference to zeros
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "BIGTIFF": "IF_SAFER",
    }
    with atomic_path(path) as temporary, rasterio.open(temporary, "w", **profile) as dataset:
        dataset.write(labels, 1)
        dataset.update_tags(**{_KEY_TAG: key, _FINGERPRINT_TAG: fingerprint})


def _remove_old(newest: Path) -> None:
    """Delete all but the newest :data:`KEEP_LABEL_RASTERS` label rasters beside ``newest``."""
    rasters = sorted(
        newest.parent.glob(f"{_PREFIX}*.tif"), key=lambda p: p.stat().st_mtime_ns, reverse=True
    )
    for old in rasters[KEEP_LABEL_RASTERS:]:
        if old != newest:
            old.unlink(missing_ok=True)


@functools.lru_cache(maxsize=2)
def read_labels(path: Path, fingerprint: str) -> npt.NDArray[np.int32]:
    """The label raster kept at ``path``, checked to be the one of ``fingerprint`` (read once
    per process: a Dask worker's tasks share it)."""
    try:
        with rasterio.open(path) as dataset:
            if dataset.tags().get(_FINGERPRINT_TAG) != fingerprint:
                raise DataError(
                    f"parcel label raster {path} is not the one this run made (fingerprint "
                    f"{fingerprint}): another run replaced it; run the fetch again"
                )
            labels = np.asarray(dataset.read(1), dtype=np.int32)
    except (RasterioError, OSError) as error:
        raise DataError(
            f"cannot read the parcel label raster {path} ({error}); every Dask worker must "
            "see paths.work_dir at the same path"
        ) from error
    labels.setflags(write=False)  # shared by the tasks of a worker
    return labels
