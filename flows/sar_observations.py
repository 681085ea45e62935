"""Sentinel-1 RTC backscatter per parcel: the optional second imagery source of the fetch stage.

With ``sources.sentinel1`` set, the fetch also searches that collection over the parcels
(``flows.stac_search``, no BOA offset, baseline or cloud cover), groups the items by solar day
(slices of one pass), reads ``vv`` and ``vh`` onto the optical scenes' analysis grid as raw linear
gamma0 (``flows.raster_read.read_asset_values``, nearest; slices mosaicked, the first valid pixel
winning) and reduces them per parcel with the same label raster
(``features.sar.parcel_backscatter``: mean of linear power, then dB). Each solar day is cached
in one Parquet file keyed by content (item ids, hrefs, availability, local file versions, grid,
parcels), like the optical observations; the days are concatenated into
``work/<region>/sar_observations.parquet`` (the contract: ``features.sar.SAR_OBSERVATION_COLUMNS``,
DESIGN.md). A day that cannot be read is skipped or stops the run as ``imagery.on_read_error``
says; a source without any scene in the window gives an empty table and a warning, never a failed
fetch: the radar is optional.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from pestcast.core.atomic import atomic_path
from pestcast.core.errors import SceneReadError
from pestcast.features.sar import POLARISATIONS, SAR_OBSERVATION_COLUMNS, parcel_backscatter
from pestcast.flows.config import PestcastConfig, SarSourceConfig
from pestcast.flows.layout import RunLayout
from pestcast.flows.observations import file_version
from pestcast.flows.raster_read import AnalysisGrid, read_asset_values
from pestcast.flows.stac_search import SceneRef, group_by_solar_day, search_scenes
from pestcast.flows.tasks import ParcelRaster, network_trouble

__all__ = [
    "SarDayOutcome",
    "fetch_sar_observations",
    "observe_sar_day",
    "read_sar_day",
    "sar_cache_path",
]

CACHE_FORMAT = 1
LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class SarDayOutcome:
    """What became of one solar day of radar scenes."""

    solar_day: str
    items: tuple[str, ...]
    status: str
    """``read``, ``cached`` or ``skipped``."""
    parcels_observed: int
    """Parcels with at least one valid pixel."""
    path: Path | None
    reason: str = ""


def fetch_sar_observations(
    config: PestcastConfig,
    parcels: gpd.GeoDataFrame,
    raster: ParcelRaster,
    layout: RunLayout,
) -> dict[str, Any]:
    """Per-parcel Sentinel-1 backscatter of every solar day in the imagery window, written to
    ``layout.sar_observations``; the fetch summary's ``sentinel1`` entry ({} without
    ``sources.sentinel1``)."""
    source = config.sources.sentinel1
    if source is None:
        return {}
    west, south, east, north = (float(v) for v in parcels.to_crs("EPSG:4326").total_bounds)
    scenes = find_sar_scenes(source, (west, south, east, north), config)
    days = group_by_solar_day(scenes)
    parcel_ids = [str(pid) for pid in parcels["parcel_id"]]
    outcomes = observe_sar_days(
        days,
        raster,
        parcel_ids,
        cache_dir=layout.sar_observation_dir,
        on_read_error=config.imagery.on_read_error,
    )
    rows = write_sar_observations(outcomes, layout.sar_observations)
    return {"sentinel1": _summary(outcomes, rows, layout.sar_observations)}


@task(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=exponential_backoff(backoff_factor=5),
    retry_jitter_factor=0.5,
    retry_condition_fn=network_trouble,
)
def find_sar_scenes(
    source: SarSourceConfig,
    bbox_wgs84: tuple[float, float, float, float],
    config: PestcastConfig,
) -> list[SceneRef]:
    """Radar scenes of ``source`` over ``bbox_wgs84`` in the imagery window."""
    scenes = search_scenes(
        source.search_url(),
        collection=source.collection,
        bbox_wgs84=bbox_wgs84,
        start=config.imagery.start,
        end=config.imagery.end,
        asset_keys=source.asset_keys,
        boa_offset=None,
        access=source.access(),
        allow_hrefs_outside_catalog=source.allow_hrefs_outside_catalog,
    )
    logger = get_run_logger()
    logger.info("found %d Sentinel-1 scenes in %s", len(scenes), source.search_url())
    if not scenes:
        logger.warning(
            "no Sentinel-1 scene of %s in %s covers the parcels between %s and %s; the radar "
            "features stay empty (check sources.sentinel1)",
            source.collection,
            source.search_url(),
            config.imagery.start,
            config.imagery.end,
        )
    return scenes


@task(cache_policy=NO_CACHE)
def observe_sar_days(
    days: Sequence[Sequence[SceneRef]],
    raster: ParcelRaster,
    parcel_ids: Sequence[str],
    *,
    cache_dir: Path,
    on_read_error: str,
) -> list[SarDayOutcome]:
    """Parcel backscatter of every solar day, from the cache where it holds the day."""
    outcomes = []
    for scenes in days:
        path = sar_cache_path(cache_dir, scenes, raster.grid, raster.fingerprint)
        items = tuple(s.item_id for s in scenes)
        day = scenes[0].solar_day.isoformat()
        try:
            table, cached = observe_sar_day(
                scenes, raster.grid, raster.labels, parcel_ids, cache_path=path
            )
        except SceneReadError as error:
            if on_read_error == "raise":
                raise
            get_run_logger().warning("skipping Sentinel-1 %s: %s", day, error)
            outcomes.append(SarDayOutcome(day, items, "skipped", 0, None, str(error)))
            continue
        observed = int((table["n_valid_px"] > 0).sum())
        status = "cached" if cached else "read"
        outcomes.append(SarDayOutcome(day, items, status, observed, path))
    return outcomes


def sar_cache_path(
    directory: Path, scenes: Sequence[SceneRef], grid: AnalysisGrid, parcels_fingerprint: str
) -> Path:
    """The Parquet file holding this solar day's parcel backscatter on this grid and parcels."""
    fingerprint = {
        "format": CACHE_FORMAT,
        "scenes": [
            (s.item_id, sorted(s.asset_hrefs.items()), s.available_utc.isoformat()) for s in scenes
        ],
        "local_files": [file_version(href) for s in scenes for href in s.asset_hrefs.values()],
        "grid": [grid.crs, list(grid.transform)[:6], list(grid.shape)],
        "parcels": parcels_fingerprint,
    }
    digest = hashlib.sha256(json.dumps(fingerprint, default=str).encode()).hexdigest()[:16]
    return directory / f"{scenes[0].solar_day.isoformat()}_{digest}.parquet"


def observe_sar_day(
    scenes: Sequence[SceneRef],
    grid: AnalysisGrid,
    labels: npt.NDArray[np.int32],
    parcel_ids: Sequence[str],
    *,
    cache_path: Path,
) -> tuple[pd.DataFrame, bool]:
    """One row per parcel of this solar day (:data:`SAR_OBSERVATION_COLUMNS`), and whether it
    came from ``cache_path`` (else it is read, reduced and written there)."""
    cached = _read_cache(cache_path, parcel_ids)
    if cached is not None:
        return cached, True
    stats = parcel_backscatter(read_sar_day(scenes, grid), labels, n_parcels=len(parcel_ids))
    stats.insert(0, "parcel_id", list(parcel_ids))
    stats.insert(1, "scene_id", "+".join(s.item_id for s in scenes))
    stats.insert(2, "acquired_utc", pd.Timestamp(scenes[0].acquired_utc))
    stats.insert(3, "available_utc", pd.Timestamp(max(s.available_utc for s in scenes)))
    table = stats.loc[:, list(SAR_OBSERVATION_COLUMNS)]
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache_path) as temporary:
        table.to_parquet(temporary, index=False)
    return table, False


def read_sar_day(
    scenes: Sequence[SceneRef], grid: AnalysisGrid
) -> dict[str, npt.NDArray[np.float32]]:
    """Linear gamma0 of each polarisation on ``grid``, the slices of one solar day mosaicked:
    each pixel from the first scene where both polarisations are valid (finite, > 0). Stops
    reading once every pixel has data. NaN where none has."""
    mosaic = {band: np.full(grid.shape, np.nan, dtype=np.float32) for band in POLARISATIONS}
    filled = np.zeros(grid.shape, dtype=bool)
    for scene in scenes:
        values = read_asset_values(scene, grid, bands=POLARISATIONS)
        valid = ~filled
        for band in POLARISATIONS:
            valid &= np.isfinite(values[band]) & (values[band] > 0)
        for band in POLARISATIONS:
            mosaic[band][valid] = values[band][valid]
        filled |= valid
        if filled.all():
            break
    return mosaic


def _read_cache(path: Path, parcel_ids: Sequence[str]) -> pd.DataFrame | None:
    """The cached day, or None if missing; an unusable file is logged and rebuilt."""
    if not path.exists():
        return None
    try:
        table = pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException) as error:
        LOGGER.warning("Sentinel-1 cache %s cannot be read (%s); rebuilding it", path, error)
        return None
    missing = [c for c in SAR_OBSERVATION_COLUMNS if c not in table.columns]
    if missing or table["parcel_id"].astype(str).tolist() != list(parcel_ids):
        LOGGER.warning("Sentinel-1 cache %s is not this day's table; rebuilding it", path)
        return None
    return table


@task(cache_policy=NO_CACHE)
def write_sar_observations(outcomes: Sequence[SarDayOutcome], path: Path) -> int:
    """Concatenate the per-day tables into ``path`` (an empty table if there are none); rows."""
    frames = [pd.read_parquet(o.path) for o in outcomes if o.path is not None]
    table = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame({column: [] for column in SAR_OBSERVATION_COLUMNS})
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        table.to_parquet(temporary, index=False)
    return len(table)


def _summary(outcomes: Sequence[SarDayOutcome], rows: int, path: Path) -> dict[str, Any]:
    skipped = Counter("read error (see the log)" for o in outcomes if o.status == "skipped")
    return {
        "observations": str(path),
        "rows": rows,
        "solar_days_found": len(outcomes),
        "scenes_used": sum(o.status != "skipped" and o.parcels_observed > 0 for o in outcomes),
        "scenes_read_from_cache": sum(o.status == "cached" for o in outcomes),
        "scenes_skipped": dict(skipped),
    }
