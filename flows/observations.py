"""Per-parcel index statistics of one solar day of imagery, cached on disk by content.

A solar day may hold several STAC items (tile overlaps); ``read_solar_day`` mosaics them, the
first valid pixel winning. The cache key covers everything the statistics depend on
(item ids and hrefs, offsets, grid, parcel geometry, mask, buffer, indices), so a warm run reads
the Parquet file instead of the rasters, and any change recomputes. A cache file that cannot be
read or does not hold what this day's statistics hold (truncated, corrupt, other parcels) is
reported as a warning, renamed to ``*.corrupt`` beside it and rebuilt from the rasters.

With a pixel folder (``pestcast fetch --keep-pixels``) the day's mosaic is also kept as COGs
(``flows.pixel_cache``), written from the same strips the statistics are computed from; a day
counts as cached only when both its statistics and its pixels are there.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]

from pestcast.core.atomic import atomic_path
from pestcast.features.indices import INDEX_BANDS
from pestcast.flows.pixel_cache import keep_day_pixels, pixel_folder, pixels_complete
from pestcast.flows.raster_read import AnalysisGrid, scene_block_bytes
from pestcast.flows.stac_search import SceneRef
from pestcast.flows.strip_stats import StripConsumer, solar_day_parcel_stats

__all__ = [
    "DayObservation",
    "ObservationSettings",
    "file_version",
    "observation_cache_path",
    "observe_day",
    "observe_solar_day",
    "pixel_cache_key",
    "read_cached_observations",
    "required_bands",
]

CACHE_FORMAT = 1
LOGGER = logging.getLogger(__name__)
LEADING_COLUMNS = ("parcel_id", "scene_id", "acquired_utc", "available_utc")


@dataclass(frozen=True)
class ObservationSettings:
    """How scenes become parcel statistics."""

    indices: tuple[str, ...]
    """Index names, see ``features.index_catalog.INDEX_BANDS``."""
    mask_classes: tuple[int, ...]
    """SCL classes treated as unusable."""
    parcels_fingerprint: str
    """Hash of the parcel label raster (geometry, grid and inward buffer)."""


def required_bands(indices: Sequence[str]) -> tuple[str, ...]:
    """Logical bands to read for ``indices``, plus the scene classification."""
    needed = {band for index in indices for band in INDEX_BANDS[index]}
    return (*sorted(needed), "scl")


def observation_cache_path(
    directory: Path, scenes: Sequence[SceneRef], grid: AnalysisGrid, settings: ObservationSettings
) -> Path:
    """The Parquet file holding this solar day's statistics under these exact settings."""
    fingerprint = {
        "format": CACHE_FORMAT,
        **_day_fingerprint(scenes, grid),
        "settings": [settings.indices, settings.mask_classes, settings.parcels_fingerprint],
    }
    digest = hashlib.sha256(json.dumps(fingerprint, default=str).encode()).hexdigest()[:16]
    return directory / f"{scenes[0].solar_day.isoformat()}_{digest}.parquet"


def pixel_cache_key(scenes: Sequence[SceneRef], grid: AnalysisGrid, bands: Sequence[str]) -> str:
    """Key of one solar day's kept pixels: its scenes, the grid and the bands read."""
    fingerprint = {"pixels": CACHE_FORMAT, **_day_fingerprint(scenes, grid), "bands": list(bands)}
    return hashlib.sha256(json.dumps(fingerprint, default=str).encode()).hexdigest()[:16]


def _day_fingerprint(scenes: Sequence[SceneRef], grid: AnalysisGrid) -> dict[str, Any]:
    return {
        "scenes": [
            (s.item_id, sorted(s.asset_hrefs.items()), s.boa_offset_dn, s.available_utc.isoformat())
            for s in scenes
        ],
        "local_files": [file_version(href) for s in scenes for href in s.asset_hrefs.values()],
        "grid": [grid.crs, list(grid.transform)[:6], list(grid.shape)],
    }


def file_version(href: str) -> tuple[int, int] | None:
    """Size and modification time of a local asset, so rewritten files are read again."""
    path = Path(href.removeprefix("file://"))
    if "://" in href.removeprefix("file://") or not path.is_file():
        return None
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


@dataclass(frozen=True)
class DayObservation:
    """One solar day's parcel statistics, and what it took to get them."""

    stats: pd.DataFrame
    from_cache: bool
    """True: nothing was read (the statistics, and the pixels if asked for, were cached)."""
    bytes_read: int = 0
    """Compressed bytes of the image blocks under the grid (``raster_read.scene_block_bytes``)."""
    scenes_read: int = 0
    """Items of the day whose assets were opened."""


def observe_solar_day(
    scenes: Sequence[SceneRef],
    grid: AnalysisGrid,
    labels: npt.NDArray[np.int32],
    parcel_ids: Sequence[str],
    *,
    settings: ObservationSettings,
    cache_path: Path,
) -> pd.DataFrame:
    """Read, mask and reduce one solar day to one row per parcel; cached at ``cache_path``.

    A cache file that fails :func:`read_cached_observations` is set aside and rebuilt.
    """
    return observe_day(
        scenes, grid, labels, parcel_ids, settings=settings, cache_path=cache_path
    ).stats


def observe_day(
    scenes: Sequence[SceneRef],
    grid: AnalysisGrid,
    labels: npt.NDArray[np.int32],
    parcel_ids: Sequence[str],
    *,
    settings: ObservationSettings,
    cache_path: Path,
    pixel_dir: Path | None = None,
) -> DayObservation:
    """:func:`observe_solar_day`, also keeping the day's pixels under ``pixel_dir`` if given."""
    bands = required_bands(settings.indices)
    folder = None if pixel_dir is None else pixel_folder(pixel_dir, scenes)
    key = pixel_cache_key(scenes, grid, bands)
    cached = read_cached_observations(cache_path, parcel_ids, settings=settings)
    if cached is not None and (folder is None or pixels_complete(folder, key)):
        return DayObservation(stats=cached, from_cache=True)

    def statistics(on_strip: StripConsumer | None = None) -> pd.DataFrame:
        return _day_statistics(scenes, grid, labels, parcel_ids, settings, on_strip=on_strip)

    if folder is None:
        stats = statistics()
    else:
        stats = keep_day_pixels(folder, scenes, grid, bands=bands, key=key, read=statistics)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache_path) as temporary:
        stats.to_parquet(temporary, index=False)
    read_bytes = sum(scene_block_bytes(scene, grid, bands=bands) for scene in scenes)
    return DayObservation(stats, from_cache=False, bytes_read=read_bytes, scenes_read=len(scenes))


def _day_statistics(
    scenes: Sequence[SceneRef],
    grid: AnalysisGrid,
    labels: npt.NDArray[np.int32],
    parcel_ids: Sequence[str],
    settings: ObservationSettings,
    *,
    on_strip: StripConsumer | None,
) -> pd.DataFrame:
    stats = solar_day_parcel_stats(
        scenes,
        grid,
        labels,
        bands=required_bands(settings.indices),
        n_parcels=len(parcel_ids),
        indices=settings.indices,
        mask_classes=settings.mask_classes,
        on_strip=on_strip,
    )
    stats.insert(0, "parcel_id", list(parcel_ids))
    stats.insert(1, "scene_id", "+".join(s.item_id for s in scenes))
    stats.insert(2, "acquired_utc", pd.Timestamp(scenes[0].acquired_utc))
    stats.insert(3, "available_utc", pd.Timestamp(max(s.available_utc for s in scenes)))
    return stats


def read_cached_observations(
    cache_path: Path, parcel_ids: Sequence[str], *, settings: ObservationSettings
) -> pd.DataFrame | None:
    """The cached statistics at ``cache_path``, or None if there are none or they are unusable.

    Unusable (unreadable Parquet, missing columns, other parcels) files are logged as a warning
    naming the file and renamed to ``<name>.corrupt`` so the next read rebuilds them.
    """
    if not cache_path.exists():
        return None
    try:
        stats = pd.read_parquet(cache_path)
    except (OSError, ValueError, pa.ArrowException) as error:
        _set_aside(cache_path, f"cannot be read ({error})")
        return None
    problem = _cache_problem(stats, parcel_ids, settings)
    if problem is not None:
        _set_aside(cache_path, problem)
        return None
    return stats


def _cache_problem(
    stats: pd.DataFrame, parcel_ids: Sequence[str], settings: ObservationSettings
) -> str | None:
    expected = [*LEADING_COLUMNS, "n_valid_px", *(f"{i}_mean" for i in settings.indices)]
    missing = [column for column in expected if column not in stats.columns]
    if missing:
        return f"lacks column(s) {', '.join(missing)}"
    if stats["parcel_id"].astype(str).tolist() != [str(pid) for pid in parcel_ids]:
        return (
            f"holds {len(stats)} parcel rows that are not the {len(parcel_ids)} parcels asked for"
        )
    return None


def _set_aside(cache_path: Path, problem: str) -> None:
    """Rename a bad cache file to ``*.corrupt`` (never overwriting an earlier one)."""
    target = cache_path.with_name(cache_path.name + ".corrupt")
    number = 1
    while target.exists():
        number += 1
        target = cache_path.with_name(f"{cache_path.name}.corrupt{number}")
    cache_path.replace(target)
    LOGGER.warning(
        "observation cache %s %s; moved it to %s and rebuilding it", cache_path, problem, target
    )
