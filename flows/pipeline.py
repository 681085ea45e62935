"""The forecasting chain as Prefect flows: fetch → features → train → forecast.

Each flow takes a validated :class:`PestcastConfig` (so a bad config fails before any work) and
returns a JSON-ready summary. The flows run with no Prefect server configured: the first call
starts a temporary local one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from prefect import flow, get_run_logger
from prefect.futures import as_completed

from pestcast.core.errors import SourceError
from pestcast.flows.config import PestcastConfig
from pestcast.flows.failure_ledger import FailureLedger
from pestcast.flows.fetch_cache import DayCache, DayOutcome, settle_days
from pestcast.flows.fetch_plan import (
    DAYS_PER_TASK,
    FetchPlan,
    day_peak_bytes,
    memory_budget_bytes,
    plan_fetch,
    run_bounded,
)
from pestcast.flows.layout import RunLayout
from pestcast.flows.observations import ObservationSettings, required_bands
from pestcast.flows.progress import fetch_progress
from pestcast.flows.runners import with_task_runner
from pestcast.flows.sar_observations import fetch_sar_observations
from pestcast.flows.stac_search import SceneRef, group_by_solar_day
from pestcast.flows.tasks import (
    ParcelRaster,
    build_features,
    find_scenes,
    load_parcels,
    observe_scene_block,
    parcel_labels,
    publish_risk_map,
    write_observations,
)
from pestcast.flows.training import SCORES as SCORES_FILE, backtest_models, train_risk_models
from pestcast.models import ModelCard, read_model_card

__all__ = [
    "DAYS_PER_TASK",
    "backtest_flow",
    "features_flow",
    "fetch_flow",
    "forecast_flow",
    "run_flow",
    "train_flow",
]

WEEK_DAYS = 7


@flow(name="pestcast-fetch")
def fetch_flow(
    config: PestcastConfig, keep_pixels: bool = False, retry_failed: bool = False
) -> dict[str, Any]:
    """Find scenes over the parcels and reduce each solar day to per-parcel index statistics.

    Days already cached, and days recorded as unreadable (unless ``retry_failed``), are not
    read again; ``keep_pixels`` also keeps each day's mosaic as COGs (``flows.pixel_cache``).
    """
    layout = RunLayout.from_config(config)
    parcels: gpd.GeoDataFrame = load_parcels(config)
    scenes = find_scenes(config, parcels)
    days = group_by_solar_day(scenes)
    if not days:
        raise SourceError(
            f"no scenes in {config.sources.stac.url} cover the parcels between "
            f"{config.imagery.start} and {config.imagery.end}; check imagery.start/end, "
            "sources.stac.collection and sources.stac.max_cloud_cover"
        )
    raster = parcel_labels(parcels, config)
    settings = ObservationSettings(
        config.imagery.indices, config.imagery.scl_mask_classes, raster.fingerprint
    )
    cache = DayCache(
        observation_dir=layout.observation_dir,
        pixel_dir=layout.pixel_dir if keep_pixels else None,
        grid=raster.grid,
        settings=settings,
        parcel_ids=tuple(parcels["parcel_id"]),
    )
    run = _observe_all(days, raster, cache, config=config, layout=layout, retry=retry_failed)
    write_observations(run.outcomes, layout)
    sentinel1 = fetch_sar_observations(config, parcels, raster, layout)  # {} if not configured
    return _fetch_summary(len(parcels), run) | sentinel1


@dataclass(frozen=True)
class _FetchRun:
    outcomes: list[DayOutcome]
    """One per solar day, in day order."""
    plan: FetchPlan
    ledger: Path
    pixel_dir: Path | None


def _observe_all(
    days: Sequence[Sequence[SceneRef]],
    raster: ParcelRaster,
    cache: DayCache,
    *,
    config: PestcastConfig,
    layout: RunLayout,
    retry: bool,
) -> _FetchRun:
    """Settle the cached and recorded days, then read the others in blocks, as many at once as
    memory allows; the failure ledger is updated as each block finishes."""
    ledger = FailureLedger.load(layout.failed_scenes)
    on_read_error = config.imagery.on_read_error
    skip_recorded = not retry and on_read_error == "skip"
    settled, to_read = settle_days(days, cache, ledger, skip_recorded=skip_recorded)
    plan = _fetch_plan(len(to_read), raster, cache, config.imagery.max_memory_gb)
    _update_ledger(ledger, settled)
    outcomes = list(settled)
    with fetch_progress(len(days), logger=get_run_logger()) as progress:
        progress.days_done(settled)
        for finished in run_bounded(
            plan.blocks(to_read),
            lambda block: observe_scene_block.submit(
                block, raster, cache, on_read_error=on_read_error, progress=progress.channel
            ),
            limit=plan.days_in_flight,
            wait_first=lambda futures: next(as_completed(futures)),
        ):
            _update_ledger(ledger, finished)
            progress.days_done(finished)  # those of tasks that ran in another process
            outcomes.extend(finished)
    outcomes.sort(key=lambda outcome: outcome.key)
    return _FetchRun(outcomes, plan, layout.failed_scenes, cache.pixel_dir)


def _fetch_plan(
    n_days: int, raster: ParcelRaster, cache: DayCache, max_memory_gb: float | None
) -> FetchPlan:
    n_bands = len(required_bands(cache.settings.indices))
    day_bytes = day_peak_bytes(
        raster.labels, n_bands=n_bands, keep_pixels=cache.pixel_dir is not None
    )
    return plan_fetch(n_days, day_bytes, memory_budget_bytes(max_memory_gb))


def _update_ledger(ledger: FailureLedger, outcomes: Sequence[DayOutcome]) -> None:
    """Record the days that failed for good (and tries of recorded days), forget the days
    that are read or cached after all; save."""
    for outcome in outcomes:
        failed = outcome.failure
        if failed is None:
            ledger.forget(outcome.key)
        elif not outcome.recorded and (failed.failure.permanent or ledger.get(failed.key)):
            ledger.record(failed)
    ledger.save()


def _fetch_summary(n_parcels: int, run: _FetchRun) -> dict[str, Any]:
    outcomes = run.outcomes
    usable = [o for o in outcomes if o.status != "skipped"]
    used = [o for o in usable if o.parcels_with_clear_pixels > 0]
    skipped = Counter(o.skip_reason() for o in outcomes if o.status == "skipped")
    if cloudy := len(usable) - len(used):
        skipped["no clear pixel over any parcel (cloud, shadow or nodata)"] = cloudy
    read = [o for o in outcomes if o.status == "read"]
    bytes_read = sum(o.bytes_read for o in read)
    scenes_read = sum(o.scenes_read for o in read)
    unreadable = [o for o in outcomes if o.failure is not None and o.failure.failure.permanent]
    return {
        "parcels": n_parcels,
        "solar_days_found": len(outcomes),
        "scenes_used": len(used),
        "scenes_read_from_cache": sum(o.status == "cached" for o in outcomes),
        "scenes_skipped": dict(skipped),
        "solar_days_read": len(read),
        "scenes_read": scenes_read,
        "bytes_read": bytes_read,
        "bytes_per_scene": round(bytes_read / scenes_read) if scenes_read else 0,
        "solar_days_unreadable": len(unreadable),
        "failed_scenes_ledger": str(run.ledger),
        "pixels": None if run.pixel_dir is None else str(run.pixel_dir),
        "memory_plan": run.plan.to_json(),
    }


@flow(name="pestcast-features")
def features_flow(config: PestcastConfig, latest_only: bool = False) -> dict[str, Any]:
    """Build the parcel × forecast-date feature table from observations, weather and surveys;
    ``latest_only``: the newest forecast date only, for a weekly forecast (training needs all)."""
    path = build_features(config, RunLayout.from_config(config), latest_only=latest_only)
    table = pd.read_parquet(path, columns=["forecast_date"])
    last = table["forecast_date"].max().date()
    summary: dict[str, Any] = {
        "feature_table": str(path),
        "rows": len(table),
        "forecast_dates": int(table["forecast_date"].nunique()),
        "last_forecast_date": last.isoformat(),
    }
    if (config.imagery.end - last).days > WEEK_DAYS:
        summary["stale_inputs"] = (
            f"the newest forecast date is {last}, more than a week before imagery.end "
            f"({config.imagery.end}): an input ends early (weather is needed up to the day "
            "before a forecast); the forecast is for that date, not for this week"
        )
        get_run_logger().warning(summary["stale_inputs"])
    return summary


@flow(name="pestcast-train")
def train_flow(config: PestcastConfig) -> dict[str, Any]:
    """Backtest every season, fit, register one model per pest and horizon, promote if not worse."""
    layout = RunLayout.from_config(config)
    outcome = train_risk_models(config, layout)
    return {
        "model_version": outcome.version,
        "model_dir": str(layout.model_dir(outcome.version)),
        "promoted": outcome.promotion.promoted,
        "promotion": outcome.promotion.reason,
        "in_service": outcome.in_service,
        "backtest_dir": str(layout.backtest_dir),
        "metrics": _metrics(config, layout.model_dir(outcome.version)),
    }


@flow(name="pestcast-backtest")
def backtest_flow(
    config: PestcastConfig, seasons: Sequence[str] | None = None, past_only: bool | None = None
) -> dict[str, Any]:
    """Backtest every pest and horizon over the labelled seasons; keeps no model."""
    layout = RunLayout.from_config(config)
    folder = backtest_models(config, layout, seasons=seasons, past_only=past_only)
    scores = pd.read_csv(folder / SCORES_FILE)
    return {"backtest_dir": str(folder), "metrics": _scores_metrics(scores)}


SUMMARY_SCORES = ("within_date_roc_auc", "roc_auc", "top10_capture", "expected_calibration_error")


def _card_metrics(card: ModelCard) -> dict[str, Any]:
    pooled = card.backtest.pooled
    return {
        forecaster: {name: pooled[forecaster].scores[name].model_dump() for name in SUMMARY_SCORES}
        | {"n_rows": pooled[forecaster].n_rows}
        for forecaster in ("model", "persistence", "climatology")
    } | {"seasons": list(card.backtest.seasons), "calibration": card.calibration.method}


def _scores_metrics(scores: pd.DataFrame) -> dict[str, Any]:
    """The pooled summary scores of a backtest's ``scores.csv``, shaped as :func:`_card_metrics`."""
    pooled = scores[scores["season"] == "all"]
    metrics: dict[str, Any] = {}
    for (pest, horizon), rows in pooled.groupby(["pest", "horizon_days"], sort=False):
        entry: dict[str, Any] = {"seasons": sorted(set(scores["season"]) - {"all"})}
        for forecaster, by_forecaster in rows.groupby("forecaster"):
            values = by_forecaster.set_index("score")[["value", "low", "high"]].astype(float)
            entry[str(forecaster)] = {
                name: {
                    key: None if np.isnan(number) else number
                    for key, number in values.loc[name].to_dict().items()
                }
                for name in SUMMARY_SCORES
            } | {"n_rows": int(by_forecaster["n_rows"].iloc[0])}
        metrics[f"{pest}_h{horizon}"] = entry
    return metrics


def _metrics(config: PestcastConfig, directory: Path) -> dict[str, Any]:
    return {
        f"{pest}_h{horizon}": _card_metrics(read_model_card(directory, pest, horizon))
        for pest in config.model.pests
        for horizon in config.model.horizons_days
    }


@flow(name="pestcast-forecast")
def forecast_flow(config: PestcastConfig, latest_only: bool = False) -> dict[str, Any]:
    """Score the newest forecast date and publish the risk map; ``latest_only``: from the table
    of ``features_flow(latest_only=True)``."""
    layout = RunLayout.from_config(config)
    published = publish_risk_map(config, layout, latest_only=latest_only)
    return {
        "risk_map": str(published.path),
        "latest": str(layout.latest_forecast / published.path.name),
        "risk_classes": published.class_counts,
    }


@flow(name="pestcast-run")
def run_flow(config: PestcastConfig) -> dict[str, Any]:
    """The whole chain: find scenes → parcel features → train → score → publish."""
    return {
        "fetch": with_task_runner(fetch_flow, config)(config),
        "features": features_flow(config),
        "train": train_flow(config),
        "forecast": forecast_flow(config),
    }
