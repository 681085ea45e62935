"""Prefect tasks: each does one I/O step and hands the computation to ``features``/``models``.

Big in-memory objects (parcel tables, label rasters) pass between tasks of one run with caching
off (hashing them would be slow and pointless); cross-run reuse comes from content-keyed files
(observations per solar day), not from Prefect's cache.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from pestcast.core.atomic import (
    atomic_path,
    write_text_atomic,
)
from pestcast.core.errors import PestcastError, SceneReadError, SourceError
from pestcast.features.blocks import ParcelBlock, feature_halo_m, in_blocks, parcel_blocks
from pestcast.features.clear_observations import (
    OBSERVATION_COLUMNS,
    OPTIONAL_OBSERVATION_COLUMNS,
)
from pestcast.features.timeseries import build_feature_table, weekly_forecast_dates
from pestcast.flows.config import PestcastConfig
from pestcast.flows.failure_ledger import describe_read_failure
from pestcast.flows.feedback import read_store
from pestcast.flows.fetch_cache import DayCache, DayOutcome, day_outcome
from pestcast.flows.label_cache import LABEL_CACHE_DIR, cached_parcel_labels, read_labels
from pestcast.flows.layout import RunLayout
from pestcast.flows.light_traps import read_light_traps
from pestcast.flows.map_page import write_map_pages
from pestcast.flows.observations import observe_day
from pestcast.flows.progress import report_day
from pestcast.flows.publication import (
    RISK_MAP,
    class_counts,
    latest_may_move,
    parcel_warnings,
    publication_manifest,
    publish_folder,
    risk_map_table,
    write_scouting_list,
)
from pestcast.flows.publish import update_latest_link, write_geojson_rfc7946
from pestcast.flows.raster_read import AnalysisGrid, analysis_grid
from pestcast.flows.stac_search import SceneRef, search_scenes
from pestcast.flows.stage_files import read_stage_output, require_stage_output
from pestcast.flows.tables import read_parcels, read_surveys
from pestcast.flows.weather_forecasts import configured_weather_forecasts
from pestcast.flows.weather_sources import configured_weather
from pestcast.models import (
    TrainedRiskModel,
    load_risk_model,
)

__all__ = [
    "PublishedRiskMap",
    "build_features",
    "configured_feature_table",
    "configured_surveys",
    "find_scenes",
    "load_parcels",
    "observe_scene_block",
    "parcel_labels",
    "publish_risk_map",
    "scored_risk_map",
    "write_observations",
]


@task(cache_policy=NO_CACHE)
def load_parcels(config: PestcastConfig) -> gpd.GeoDataFrame:
    """Parcels in the region's CRS, repaired and checked (see ``flows.tables.read_parcels``)."""
    return _configured_parcels(config)


def _configured_parcels(config: PestcastConfig) -> gpd.GeoDataFrame:
    source = config.sources.parcels
    return read_parcels(source.path, layer=source.layer, crs=config.region.crs)


def network_trouble(_task: Any, _run: Any, state: Any) -> bool:
    """Retry network trouble, never bad requests or bad data."""
    try:
        state.result()
    except SourceError as error:
        return isinstance(error.__cause__, TimeoutError | ConnectionError)
    except Exception:
        return False
    return False


@task(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=exponential_backoff(backoff_factor=5),
    retry_jitter_factor=0.5,
    retry_condition_fn=network_trouble,
)
def find_scenes(config: PestcastConfig, parcels: gpd.GeoDataFrame) -> list[SceneRef]:
    """Search the STAC source for scenes over the parcels' extent in the imagery window."""
    stac = config.sources.stac
    west, south, east, north = parcels.to_crs("EPSG:4326").total_bounds
    scenes = search_scenes(
        stac.url,
        collection=stac.collection,
        bbox_wgs84=(float(west), float(south), float(east), float(north)),
        start=config.imagery.start,
        end=config.imagery.end,
        asset_keys=stac.asset_keys,
        max_cloud_cover=stac.max_cloud_cover,
        default_processing_baseline=stac.default_processing_baseline,
        boa_offset=stac.boa_offset,
        access=stac.access(),
        allow_hrefs_outside_catalog=stac.allow_hrefs_outside_catalog,
    )
    get_run_logger().info("found %d scenes in %s", len(scenes), stac.url)
    return scenes


@dataclass(frozen=True)
class ParcelRaster:
    """The parcels burnt onto the analysis grid."""

    grid: AnalysisGrid
    """Grid over the parcels' extent in the imagery CRS."""
    labels: npt.NDArray[np.int32]
    """0 outside parcels, i + 1 inside (inward-buffered) parcel i."""
    fingerprint: str
    """Hash of the labels and parcel ids: part of the observation cache key."""
    labels_file: Path | None = None
    """Where the labels are kept (the work dir's label cache). A copy sent to another process (a
    Dask worker) then carries this path instead of the array, hundreds of MB on a full tile,
    and reads the file there once (:func:`flows.label_cache.read_labels`)."""

    def __reduce__(self) -> tuple[Any, ...]:
        if self.labels_file is None:
            return (ParcelRaster, (self.grid, self.labels, self.fingerprint))
        return (_raster_from_file, (self.grid, self.labels_file, self.fingerprint))


def _raster_from_file(grid: AnalysisGrid, labels_file: Path, fingerprint: str) -> ParcelRaster:
    labels = read_labels(labels_file, fingerprint)
    return ParcelRaster(grid, labels, fingerprint, labels_file)


@task(cache_policy=NO_CACHE)
def parcel_labels(parcels: gpd.GeoDataFrame, config: PestcastConfig) -> ParcelRaster:
    """Analysis grid over the parcels in the region's CRS, and the parcel label raster.

    The grid's CRS is ``region.crs``, whichever CRS the scenes come in; scenes are warped onto
    it when read. The label raster is rasterized once per grid and parcel set and kept under
    ``paths.work_dir`` (``flows.label_cache``).
    """
    crs = config.region.crs
    in_region_crs = parcels.to_crs(crs)
    bounds = tuple(float(v) for v in in_region_crs.total_bounds)
    grid = analysis_grid(bounds, crs=crs, resolution_m=config.imagery.resolution_m)  # type: ignore[arg-type]
    cached = cached_parcel_labels(
        parcels["parcel_id"].tolist(),
        in_region_crs.geometry.to_numpy(),
        grid,
        inward_buffer_m=config.imagery.inward_buffer_m,
        min_pixels_after_buffer=config.imagery.min_parcel_px,
        cache_dir=config.paths.work_dir / LABEL_CACHE_DIR,
    )
    return ParcelRaster(
        grid=grid, labels=cached.labels, fingerprint=cached.fingerprint, labels_file=cached.path
    )


@task(cache_policy=NO_CACHE)
def observe_scene_block(
    days: Sequence[Sequence[SceneRef]],
    raster: ParcelRaster,
    cache: DayCache,
    *,
    on_read_error: str,
    progress: str | None = None,
) -> list[DayOutcome]:
    """Parcel statistics for a block of solar days, read one after another; one outcome per
    day, each also reported to the fetch's ``progress`` channel as it finishes."""
    outcomes = []
    for scenes in days:
        try:
            outcome = _observe(scenes, raster, cache)
        except SceneReadError as error:
            if on_read_error == "raise":
                raise
            failed = describe_read_failure(error, scenes)
            get_run_logger().warning(
                "skipping %s (%s): %s", scenes[0].solar_day, failed.failure.cause, error
            )
            outcome = day_outcome(scenes, "skipped", reason=str(error), failure=failed)
        report_day(progress, outcome)
        outcomes.append(outcome)
    return outcomes


def _observe(scenes: Sequence[SceneRef], raster: ParcelRaster, cache: DayCache) -> DayOutcome:
    path = cache.statistics_path(scenes)
    observed = observe_day(
        scenes,
        raster.grid,
        raster.labels,
        cache.parcel_ids,
        settings=cache.settings,
        cache_path=path,
        pixel_dir=cache.pixel_dir,
    )
    return day_outcome(
        scenes,
        "cached" if observed.from_cache else "read",
        path=path,
        parcels_with_clear_pixels=int((observed.stats["n_valid_px"] > 0).sum()),
        bytes_read=observed.bytes_read,
        scenes_read=observed.scenes_read,
    )


@task(cache_policy=NO_CACHE)
def write_observations(outcomes: Sequence[DayOutcome], layout: RunLayout) -> Path:
    """Concatenate the per-day statistics into one table and log what was used or skipped."""
    layout.work_dir.mkdir(parents=True, exist_ok=True)
    log = [outcome.to_json() for outcome in outcomes]
    write_text_atomic(layout.scene_log, json.dumps(log, indent=1, ensure_ascii=False))
    frames = [pd.read_parquet(o.path) for o in outcomes if o.path]
    if not frames:
        raise SourceError(
            f"no scene could be read; the reasons are logged above and in {layout.scene_log}"
        )
    observations = pd.concat(frames, ignore_index=True)
    with atomic_path(layout.observations) as temporary:
        observations.to_parquet(temporary, index=False)
    return layout.observations


@task(cache_policy=NO_CACHE)
def build_features(config: PestcastConfig, layout: RunLayout, *, latest_only: bool = False) -> Path:
    """Feature table: one row per parcel and weekly forecast date, data available at that date.

    ``latest_only``: only the newest forecast date (what a weekly forecast scores), read from the
    observations of its imagery lookback only, into ``layout.latest_feature_table``; the table
    for training stays as it was.
    """
    target = layout.latest_feature_table if latest_only else layout.feature_table
    require_stage_output(layout.observations, "fetch")  # before anything else is read

    def observations(since: pd.Timestamp | None, parcels: pd.Index | None) -> pd.DataFrame:
        filters: list[tuple[str, str, Any]] = []
        if since is not None:  # any time zone's day `since` starts after this
            filters.append(("acquired_utc", ">=", since.tz_localize("UTC") - pd.Timedelta(days=1)))
        if parcels is not None:
            filters.append(("parcel_id", "in", list(parcels)))
        columns = [*OBSERVATION_COLUMNS, *OPTIONAL_OBSERVATION_COLUMNS]
        return read_stage_output(layout.observations, "fetch", filters=filters, columns=columns)

    table = configured_feature_table(config, observations, latest_only=latest_only)
    with atomic_path(target) as temporary:
        table.to_parquet(temporary, index=False)
    get_run_logger().info("feature table: %d rows × %d columns", len(table), table.shape[1])
    return target


ObservationReader = Callable[[pd.Timestamp | None, pd.Index | None], pd.DataFrame]
"""Reads the observations acquired from a day on (None: all) of some parcels (None: all)."""


def configured_feature_table(
    config: PestcastConfig,
    observations: pd.DataFrame | ObservationReader,
    *,
    latest_only: bool = False,
) -> pd.DataFrame:
    """The feature table of the config's parcels, weather and surveys and these observations,
    for every weekly date the inputs cover, or the newest one only.

    ``observations`` may be a reader of the rows acquired from a day on and of some parcels (None:
    all), so that the newest date alone reads only its imagery lookback and a block of a
    province only its parcels.
    """
    parcels = _configured_parcels(config)
    weather = configured_weather(config, parcels)
    surveys = configured_surveys(config, parcels["parcel_id"])
    centroids = parcels.geometry.centroid
    parcel_table = pd.DataFrame(
        {
            "parcel_id": parcels["parcel_id"],
            "commune": parcels["commune"],
            "district": parcels["district"],
            "x": centroids.x,
            "y": centroids.y,
        }
    )
    dates = weekly_forecast_dates(
        config.imagery.start + dt.timedelta(days=60),
        min(config.imagery.end, _last_weather_day(weather)),
        weekday=config.features.forecast_weekday,
    )
    since = None
    if latest_only:  # the newest date, or the one the config asks for
        if config.forecast.date is not None:
            dates = dates[dates <= pd.Timestamp(config.forecast.date)]
        dates = dates[-1:]
        since = dates[0] - pd.Timedelta(days=config.features.imagery_lookback_days)
    forecasts = configured_weather_forecasts(config, parcel_table["commune"].astype(str))
    del parcels, centroids  # a province's geometries are not needed any more
    sar = _configured_sar_observations(config)
    traps = _configured_light_traps(config)
    settings = config.features.settings()
    blocks = parcel_blocks(
        parcel_table, max_parcels=config.features.block_parcels, halo_m=feature_halo_m(settings)
    )
    ids = pd.Index(parcel_table["parcel_id"].astype(str))

    def block_table(block: ParcelBlock) -> pd.DataFrame:
        members = None if len(blocks) == 1 else ids[block.members]
        if callable(observations):
            block_observations = observations(since, members)
        else:
            block_observations = _rows_of(observations, members)
        return build_feature_table(
            block_observations,
            parcel_table.iloc[block.members],
            weather,
            surveys,
            forecast_dates=dates,
            pests=config.model.pests,
            horizons=config.model.horizons_days,
            settings=settings,
            timezone=config.region.timezone,
            light_traps=traps,
            weather_forecasts=forecasts,
            sar_observations=None if sar is None else _rows_of(sar, members),
            region_parcel_ids=None if members is None else ids,
        )

    return in_blocks(blocks, ids, block_table)


def _rows_of(table: pd.DataFrame, parcel_ids: pd.Index | None) -> pd.DataFrame:
    """The rows of ``table`` about the parcels ``parcel_ids`` (None: every row)."""
    if parcel_ids is None:
        return table
    return table[table["parcel_id"].astype(str).isin(parcel_ids)]


def _configured_sar_observations(config: PestcastConfig) -> pd.DataFrame | None:
    """The fetch's Sentinel-1 observations if the config names a radar source (else None)."""
    if config.sources.sentinel1 is None:
        return None
    return read_stage_output(RunLayout.from_config(config).sar_observations, "fetch")


def _configured_light_traps(config: PestcastConfig) -> pd.DataFrame | None:
    """The light-trap counts if the config names them (without, the trap features are NaN)."""
    traps = config.sources.light_traps
    if traps is None:
        return None
    return read_light_traps(traps.path, stations=traps.stations)


def configured_surveys(config: PestcastConfig, known_parcels: pd.Series) -> pd.DataFrame:
    """The survey file's records of the modelled pests, plus officers' checks if there are any."""
    surveys = read_surveys(
        config.sources.surveys.path, known_parcels=known_parcels, pests=config.model.pests
    )
    feedback = config.sources.feedback
    if feedback is not None and feedback.path.exists():
        checks = read_store(feedback.path)
        surveys = pd.concat([surveys, checks[checks["pest"].isin(config.model.pests)]])
    return surveys


def _last_weather_day(weather: pd.DataFrame) -> dt.date:
    return pd.Timestamp(weather["date"].max()).date() + dt.timedelta(days=1)


@dataclass(frozen=True)
class ScoredRiskMap:
    """One forecast date scored: the published table, its warnings and the models used."""

    risk_map: gpd.GeoDataFrame
    warnings: pd.DataFrame
    models: dict[tuple[str, int], TrainedRiskModel]


def scored_risk_map(
    config: PestcastConfig, layout: RunLayout, table: pd.DataFrame, forecast_date: pd.Timestamp
) -> ScoredRiskMap:
    """Score the feature table's rows of ``forecast_date`` with the latest models."""
    rows = table[table["forecast_date"] == forecast_date].reset_index(drop=True)
    if rows.empty:
        raise PestcastError(
            f"no feature rows for forecast date {forecast_date:%Y-%m-%d} in "
            f"{layout.feature_table}; pick a date the inputs cover (forecast.date) "
            "or rerun the features stage"
        )
    models: dict[tuple[str, int], TrainedRiskModel] = {
        (pest, horizon): load_risk_model(layout.current_model, pest, horizon)
        for pest in config.model.pests
        for horizon in config.model.horizons_days
    }
    warnings = parcel_warnings(
        rows,
        models,
        rule=config.forecast.risk_classes.rule(),
        max_image_age_days=config.forecast.no_data_after_days,
        explain=config.forecast.explain,
    )
    risk_map = risk_map_table(_configured_parcels(config), rows, warnings, models)
    return ScoredRiskMap(risk_map=risk_map, warnings=warnings, models=models)


@dataclass(frozen=True)
class PublishedRiskMap:
    """Where the risk map went and how many parcels fell in each class."""

    path: Path
    """The dated ``risk_map.geojson``."""
    class_counts: dict[str, dict[str, int]]
    """``<pest>_h<h>`` → risk class → number of parcels."""


@task(cache_policy=NO_CACHE)
def publish_risk_map(
    config: PestcastConfig, layout: RunLayout, *, latest_only: bool = False
) -> PublishedRiskMap:
    """Score one forecast date and publish its folder (risk map, manifest) atomically;
    ``latest_only``: from ``layout.latest_feature_table``."""
    if latest_only:
        table = read_stage_output(layout.latest_feature_table, "features --latest")
    else:
        table = read_stage_output(layout.feature_table, "features")
    forecast_date = pd.Timestamp(config.forecast.date or table["forecast_date"].max())
    scored = scored_risk_map(config, layout, table, forecast_date)
    risk_map, warnings, models = scored.risk_map, scored.warnings, scored.models
    dated_dir = layout.forecast_dir(forecast_date.date())

    def write(staging: Path) -> dict[str, Any]:
        write_geojson_rfc7946(risk_map, staging / RISK_MAP)
        write_map_pages(
            risk_map,
            staging,
            published=staging / RISK_MAP,
            pests=config.model.pests,
            horizons=config.model.horizons_days,
            max_parcels_per_page=config.forecast.map_page_max_parcels,
        )
        write_scouting_list(risk_map, config, staging)
        return publication_manifest(config, layout, forecast_date.date(), models, warnings)

    publish_folder(dated_dir, write, order=("region", "forecast_date"))
    if latest_may_move(layout, forecast_date.date()):
        update_latest_link(layout.output_dir, dated_dir)
    return PublishedRiskMap(path=dated_dir / RISK_MAP, class_counts=class_counts(warnings))
