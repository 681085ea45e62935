"""Fit a LightGBM risk model, score it on a held-out season against baselines, refit, write a card.

The reported metrics come from a booster that never saw the held-out season; the booster kept for
forecasting is refitted on every labelled row with the same parameters and rounds. No
``is_unbalance``/``scale_pos_weight``: they inflate probabilities, and the risk classes and the
Brier score read the probabilities as they are. The reliability table and the expected calibration
error in the card show how well calibrated they are (no post-hoc calibration is fitted: it would
need yet another held-out season).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from pestcast.core.errors import ModelError
from pestcast.features.settings import DEFAULT_FEATURE_SETTINGS, FeatureSettings
from pestcast.features.timeseries import KEY_COLUMNS
from pestcast.models.baselines import fit_climatology, persistence_risk
from pestcast.models.card import HeldOutMetrics, ModelCard
from pestcast.models.metrics import forecast_metrics, skill_scores
from pestcast.models.predict import feature_matrix
from pestcast.models.spec import RiskModelSpec, TrainedRiskModel, lightgbm_params
from pestcast.models.validation import check_labels, season_order, season_split

__all__ = ["fit_risk_model", "training_data_hash"]


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


def _train_booster(rows: pd.DataFrame, spec: RiskModelSpec) -> Any:
    matrix = feature_matrix(rows, spec.features, what=f"{spec.pest} h{spec.horizon_days} training")
    labels = rows[spec.label].to_numpy(dtype=np.float64)
    dataset = lgb.Dataset(
        matrix, label=labels, feature_name=list(spec.features), free_raw_data=True
    )
    return lgb.train(lightgbm_params(spec), dataset, num_boost_round=spec.num_boost_round)


def _held_out_scores(
    train: pd.DataFrame, season: pd.DataFrame, spec: RiskModelSpec
) -> tuple[HeldOutMetrics, pd.DataFrame]:
    """Metrics of the model and both baselines on the labelled rows of the held-out season, the
    model's skill, and the held-out forecasts of every row of that season (label NaN where the
    parcel was not surveyed), so that rules applied across all parcels of a week can be
    backtested."""
    booster = _train_booster(train, spec)
    prevalence = float(train[spec.label].mean())
    forecasts = {
        "model": np.asarray(
            booster.predict(feature_matrix(season, spec.features, what="validation")),
            dtype=np.float64,
        ),
        "persistence": persistence_risk(season, spec.pest, unsurveyed=prevalence),
        "climatology": fit_climatology(train, spec.label).predict(season),
    }
    labels = season[spec.label].to_numpy(dtype=np.float64)
    labelled = ~np.isnan(labels)
    scores = {
        name: forecast_metrics(labels[labelled], risk[labelled]) for name, risk in forecasts.items()
    }
    baselines = {name: scores[name] for name in ("persistence", "climatology")}
    metrics = HeldOutMetrics(
        model=scores["model"],
        baselines=baselines,
        skill=skill_scores(scores["model"], baselines),
    )
    held_out = season[["parcel_id", "forecast_date", "season"]].assign(
        label=labels, **{f"risk_{name}": risk for name, risk in forecasts.items()}
    )
    return metrics, held_out.reset_index(drop=True)


def _importance(booster: Any, features: Sequence[str]) -> dict[str, float]:
    gains = np.asarray(booster.feature_importance(importance_type="gain"), dtype=np.float64)
    ranked = sorted(zip(features, gains, strict=True), key=lambda pair: -pair[1])
    return {name: round(float(gain), 6) for name, gain in ranked}


def fit_risk_model(
    table: pd.DataFrame,
    spec: RiskModelSpec,
    *,
    validation_season: str | None = None,
    model_version: str | None = None,
    feature_settings: FeatureSettings = DEFAULT_FEATURE_SETTINGS,
) -> TrainedRiskModel:
    """Train, validate on a whole held-out season, and refit on every labelled row.

    ``validation_season`` defaults to the latest complete labelled season (see ``season_split``);
    ``model_version`` defaults to a hash of the training data and the spec;
    ``feature_settings`` are those the table was built with, recorded in the card.
    """
    _check_table(table, spec)
    train_idx, validation_idx = season_split(
        table, pest=spec.pest, horizon_days=spec.horizon_days, validation_season=validation_season
    )
    train, validation = table.iloc[train_idx], table.iloc[validation_idx]
    season = table.loc[table["season"] == validation["season"].iloc[0]]
    metrics, held_out = _held_out_scores(train, season, spec)
    refit = table.loc[table[spec.label].notna()]
    booster = _train_booster(refit, spec)
    data_hash = training_data_hash(refit, spec)
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
        **_data_summary(train, validation, refit, spec.label),
        gap_days=spec.horizon_days,
        metrics=metrics,
        calibration="none: probabilities as trained; see metrics.model.reliability",
        data_hash=data_hash,
        lightgbm_version=lgb.__version__,
        feature_importance_gain=_importance(booster, spec.features),
    )
    return TrainedRiskModel(booster=booster, spec=spec, card=card, held_out=held_out)


def _data_summary(
    train: pd.DataFrame, validation: pd.DataFrame, refit: pd.DataFrame, label: str
) -> dict[str, Any]:
    """Card entries saying which seasons and how many rows each fit saw, and their label rates."""
    parts = {"train": train, "validation": validation, "refit": refit}
    return {
        "validation_season": str(validation["season"].iloc[0]),
        "training_seasons": tuple(season_order(train)),
        "refit_seasons": tuple(season_order(refit)),
        "n_rows": {name: len(rows) for name, rows in parts.items()},
        "label_prevalence": {name: float(rows[label].mean()) for name, rows in parts.items()},
    }
