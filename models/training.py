"""Train a risk model: backtest every season, calibrate, fit the intervals, refit, write a card.

1. Backtest (:mod:`pestcast.models.backtest`): each labelled season forecast by a booster that
   never saw it, next to persistence and climatology; scored with date-resampled intervals
   (:mod:`pestcast.models.skill`).
2. Calibration fitted on all those out-of-fold rows; risk bands (how sure a risk is) fitted on
   the calibrated out-of-fold rows, and their coverage checked season by season.
3. The booster in service is refitted on every labelled row with the same settings.

No ``is_unbalance``/``scale_pos_weight``: they distort the probabilities the calibration, the
risk classes and the Brier score read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import pandas as pd

from pestcast.core.errors import ModelError
from pestcast.features.settings import DEFAULT_FEATURE_SETTINGS, FeatureSettings
from pestcast.features.timeseries import KEY_COLUMNS
from pestcast.models.backtest import (
    FORECASTERS,
    backtest_forecasts,
    in_crop_mask,
    scored_rows,
)
from pestcast.models.booster import train_booster
from pestcast.models.calibration import fit_calibration
from pestcast.models.card import BacktestSummary, ModelCard, ScoreInterval, SkillTable
from pestcast.models.metrics import reliability_table
from pestcast.models.predict import feature_matrix, feature_schema_hash
from pestcast.models.settings import BacktestSettings
from pestcast.models.skill import score_forecasts
from pestcast.models.spec import RiskModelSpec, TrainedRiskModel, lightgbm_params
from pestcast.models.uncertainty import fit_risk_bands, season_coverage
from pestcast.models.validation import check_labels, season_order

__all__ = [
    "Backtest",
    "fit_risk_model",
    "run_backtest",
    "training_data_hash",
]

RECORDED_PACKAGES = ("lightgbm", "scikit-learn", "numpy", "pandas", "pestcast")


def training_data_hash(table: pd.DataFrame, spec: RiskModelSpec) -> str:
    """sha256 of the rows' keys, features and label (names, order and values), as hex."""
    columns = ["parcel_id", "forecast_date", "season", *spec.features, spec.label]
    rows = pd.util.hash_pandas_object(table[columns], index=False).to_numpy()
    digest = hashlib.sha256(json.dumps(columns).encode())
    digest.update(rows.tobytes())
    return digest.hexdigest()


def _derived_version(data_hash: str, spec: RiskModelSpec) -> str:
    recipe = {
        "data_hash": data_hash,
        "pest": spec.pest,
        "horizon_days": spec.horizon_days,
        "features": list(spec.features),
        "params": dict(spec.params),
        "num_boost_round": spec.num_boost_round,
        "seed": spec.seed,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _check_table(table: pd.DataFrame, spec: RiskModelSpec) -> None:
    missing = [name for name in KEY_COLUMNS if name not in table.columns]
    if missing:
        raise ModelError(
            f"feature table lacks key columns {missing} needed to train {spec.pest} "
            f"h{spec.horizon_days}; build it with features.timeseries"
        )
    if not pd.api.types.is_datetime64_any_dtype(table["forecast_date"]):
        raise ModelError(
            f"feature table column 'forecast_date' is {table['forecast_date'].dtype}, not "
            "datetime64; convert it with pd.to_datetime before training"
        )
    check_labels(table, spec.pest, spec.horizon_days)
    feature_matrix(table.head(0), spec.features, what=f"{spec.pest} h{spec.horizon_days} training")


def _importance(booster: Any, features: Sequence[str]) -> dict[str, float]:
    gains = np.asarray(booster.feature_importance(importance_type="gain"), dtype=np.float64)
    ranked = sorted(zip(features, gains, strict=True), key=lambda pair: -pair[1])
    return {name: round(float(gain), 6) for name, gain in ranked}


def _finite(value: object) -> float | None:
    number = float(value)  # type: ignore[arg-type]
    return number if np.isfinite(number) else None


def _skill_tables(scores: pd.DataFrame) -> dict[str, dict[str, SkillTable]]:
    """Season (or ``all``) → forecaster → scores, from :func:`score_forecasts`' long table."""
    tables: dict[str, dict[str, SkillTable]] = {}
    for (season, forecaster), rows in scores.groupby(["season", "forecaster"], sort=True):
        first = rows.iloc[0]
        tables.setdefault(str(season), {})[str(forecaster)] = SkillTable(
            n_rows=int(first["n_rows"]),
            n_positive=int(first["n_positive"]),
            n_dates=int(first["n_dates"]),
            scores={
                str(row.score): ScoreInterval(
                    value=_finite(row.value), low=_finite(row.low), high=_finite(row.high)
                )
                for row in rows.itertuples()
            },
        )
    return tables


@dataclass(frozen=True)
class Backtest:
    """A spec's out-of-fold forecasts and their scores."""

    forecasts: pd.DataFrame
    scores: pd.DataFrame
    """Long table: season, forecaster, score, value, low, high, n_rows, n_positive, n_dates."""


def run_backtest(
    table: pd.DataFrame, spec: RiskModelSpec, settings: BacktestSettings = BacktestSettings()
) -> Backtest:
    """Out-of-fold forecasts of every backtested season and their scores with intervals."""
    _check_table(table, spec)
    forecasts = backtest_forecasts(
        table,
        spec,
        gap_days=settings.gap_days,
        seasons=settings.seasons,
        past_only=settings.past_only,
    )
    scores = score_forecasts(
        forecasts,
        FORECASTERS,
        replicates=settings.replicates,
        seed=settings.seed,
        level=settings.interval_level,
    )
    return Backtest(forecasts=forecasts, scores=scores)


def _summary(backtest: Backtest, settings: BacktestSettings, gap_days: int) -> BacktestSummary:
    tables = _skill_tables(backtest.scores)
    scored = scored_rows(backtest.forecasts)
    labels = scored["label"].to_numpy(dtype=np.float64)
    return BacktestSummary(
        seasons=tuple(dict.fromkeys(backtest.forecasts["season"].astype(str))),
        past_only=settings.past_only,
        gap_days=gap_days,
        replicates=settings.replicates,
        interval_level=settings.interval_level,
        pooled=tables.pop("all"),
        per_season=tables,
        reliability_uncalibrated=reliability_table(
            labels, scored["risk_model_uncalibrated"].to_numpy(dtype=np.float64)
        ),
        reliability=reliability_table(labels, scored["risk_model"].to_numpy(dtype=np.float64)),
    )


def _package_versions() -> dict[str, str]:
    found = {}
    for name in RECORDED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "unknown"
    return found


def fit_risk_model(
    table: pd.DataFrame,
    spec: RiskModelSpec,
    *,
    backtest: BacktestSettings = BacktestSettings(),
    model_version: str | None = None,
    feature_settings: FeatureSettings = DEFAULT_FEATURE_SETTINGS,
    precomputed: Backtest | None = None,
) -> TrainedRiskModel:
    """Backtest, calibrate, fit the risk bands and refit on every labelled row in crop.

    ``model_version`` defaults to a hash of the training data and the spec;
    ``feature_settings`` are those the table was built with, recorded in the card;
    ``precomputed`` reuses a backtest already run on this table with these settings.
    """
    import lightgbm as lgb  # here: configs load without LightGBM (and its OpenMP runtime)

    _check_table(table, spec)
    result = precomputed or run_backtest(table, spec, backtest)
    scored = scored_rows(result.forecasts)
    calibration = fit_calibration(
        scored["risk_model_uncalibrated"], scored["label"], what=f"{spec.pest} h{spec.horizon_days}"
    )
    oof = scored["risk_model"].to_numpy(dtype=np.float64)
    labels, seasons = scored["label"].to_numpy(dtype=np.float64), scored["season"].to_numpy()
    bands = fit_risk_bands(oof, labels, seasons, level=backtest.band_level).model_copy(
        update={"coverage": season_coverage(oof, labels, seasons, level=backtest.band_level)}
    )
    refit = table.loc[table[spec.label].notna().to_numpy() & in_crop_mask(table)]
    booster = train_booster(refit, spec)
    data_hash = training_data_hash(refit, spec)
    gap = spec.horizon_days if backtest.gap_days is None else backtest.gap_days
    card = ModelCard(
        pest=spec.pest,
        horizon_days=spec.horizon_days,
        label=spec.label,
        model_version=model_version or _derived_version(data_hash, spec),
        created_utc=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        features=spec.features,
        feature_settings=feature_settings.documented(),
        params=dict(spec.params),
        lightgbm_params=lightgbm_params(spec),
        num_boost_round=spec.num_boost_round,
        seed=spec.seed,
        data_window=(
            f"{table['forecast_date'].min():%Y-%m-%d}",
            f"{table['forecast_date'].max():%Y-%m-%d}",
        ),
        refit_seasons=tuple(season_order(refit)),
        n_rows={"refit": len(refit), "backtest": len(scored)},
        label_prevalence=float(refit[spec.label].mean()),
        backtest=_summary(result, backtest, gap),
        calibration=calibration,
        risk_bands=bands,
        feature_schema_sha256=feature_schema_hash(table, spec.features),
        package_versions=_package_versions(),
        data_hash=data_hash,
        lightgbm_version=lgb.__version__,
        feature_importance_gain=_importance(booster, spec.features),
    )
    return TrainedRiskModel(booster=booster, spec=spec, card=card, backtest=result.forecasts)
