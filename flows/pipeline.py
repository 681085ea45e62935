"""The forecasting chain as Prefect flows: fetch → features → train → forecast.

Each flow takes a validated :class:`PestcastConfig` (so a bad config fails before any work) and
returns a JSON-ready summary. The flows run with no Prefect server configured: the first call
starts a temporary local one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from prefect import flow, get_run_logger

from pestcast.core.errors import SourceError
from pestcast.flows.config import PestcastConfig
from pestcast.flows.layout import RunLayout
from pestcast.flows.observations import ObservationSettings
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
from pestcast.flows.training import SCORES as SCORES_FILE
from pestcast.flows.training import backtest_models, train_risk_models
from pestcast.models import ModelCard, read_model_card

__all__ = [
    "backtest_flow",
    "features_flow",
    "fetch_flow",
    "forecast_flow",
    "run_flow",
    "train_flow",
]

WEEK_DAYS = 7
DAYS_PER_TASK = 16
"""Solar days per task: coarse tasks keep Prefect's per-task overhead small."""


@flow(name="pestcast-fetch")
def fetch_flow(config: PestcastConfig) -> dict[str, Any]:
    """Find scenes over the parcels and reduce each solar day to per-parcel index statistics."""
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
    outcomes = _observe_all(
        days, raster, list(parcels["parcel_id"]), settings=settings, config=config, layout=layout
    )
    write_observations(outcomes, layout)
    return _fetch_summary(len(parcels), outcomes)


def _observe_all(
    days: Sequence[Sequence[SceneRef]],
    raster: ParcelRaster,
    parcel_ids: list[str],
    *,
    settings: ObservationSettings,
    config: PestcastConfig,
    layout: RunLayout,
) -> list[dict[str, Any]]:
    logger = get_run_logger()
    blocks = [days[i : i + DAYS_PER_TASK] for i in range(0, len(days), DAYS_PER_TASK)]
    futures = [
        observe_scene_block.submit(
            block,
            raster,
            parcel_ids,
            settings=settings,
            cache_dir=layout.observation_dir,
            on_read_error=config.imagery.on_read_error,
        )
        for block in blocks
    ]
    outcomes: list[dict[str, Any]] = []
    for future in futures:
        outcomes.extend(future.result())
        logger.info("scenes processed: %d/%d solar days", len(outcomes), len(days))
    return outcomes


def _fetch_summary(n_parcels: int, outcomes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    used = [o for o in outcomes if o["status"] != "skipped" and o["parcels_with_clear_pixels"] > 0]
    cloudy = [
        o for o in outcomes if o["status"] != "skipped" and o["parcels_with_clear_pixels"] == 0
    ]
    skipped = Counter("read error (see scenes.json)" for o in outcomes if o["status"] == "skipped")
    if cloudy:
        skipped["no clear pixel over any parcel (cloud, shadow or nodata)"] = len(cloudy)
    return {
        "parcels": n_parcels,
        "solar_days_found": len(outcomes),
        "scenes_used": len(used),
        "scenes_read_from_cache": sum(o["status"] == "cached" for o in outcomes),
        "scenes_skipped": dict(skipped),
    }


@flow(name="pestcast-features")
def features_flow(config: PestcastConfig) -> dict[str, Any]:
    """Build the parcel × forecast-date feature table from observations, weather and surveys."""
    path = build_features(config, RunLayout.from_config(config))
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
def forecast_flow(config: PestcastConfig) -> dict[str, Any]:
    """Score the newest forecast date and publish the risk map."""
    layout = RunLayout.from_config(config)
    published = publish_risk_map(config, layout)
    return {
        "risk_map": str(published.path),
        "latest": str(layout.latest_forecast / published.path.name),
        "risk_classes": published.class_counts,
    }


@flow(name="pestcast-run")
def run_flow(config: PestcastConfig) -> dict[str, Any]:
    """The whole chain: find scenes → parcel features → train → score → publish."""
    return {
        "fetch": fetch_flow(config),
        "features": features_flow(config),
        "train": train_flow(config),
        "forecast": forecast_flow(config),
    }
