"""Training and backtest tasks: the model registry, promotion, and the published backtest.

The registry (``paths.model_registry``) holds one folder per trained model version, written
complete or not at all (staged, then moved into place), with ``SHA256SUMS`` over its files;
``latest`` points at the version trained last and ``current`` at the version in service. A new
version becomes ``current`` only when the promotion policy finds it not worse than ``current``
on the same backtest rows; its cards say why either way. Changing risk-class thresholds or other
publishing settings never retrains: they are not part of a version's fingerprint.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from pestcast.core.atomic import replace_symlink_atomic
from pestcast.core.errors import ModelError
from pestcast.features.timeseries import feature_columns
from pestcast.flows.config import PestcastConfig
from pestcast.flows.layout import RunLayout
from pestcast.flows.plots import write_reliability_plot
from pestcast.flows.publication import publish_folder
from pestcast.flows.stage_files import read_stage_output, require_stage_output
from pestcast.models import (
    NOT_IN_CROP,
    Backtest,
    BacktestSettings,
    Promotion,
    RiskModelSpec,
    TrainedRiskModel,
    backtest_path,
    classify_risk,
    decide_promotion,
    fit_risk_model,
    model_paths,
    read_checksums,
    read_model_card,
    risk_band,
    run_backtest,
    save_risk_model,
    scored_rows,
    write_checksums,
)
from pestcast.models.uncertainty import fit_risk_bands

__all__ = ["TrainingOutcome", "backtest_models", "train_risk_models"]

FORECASTS = "forecasts.parquet"
SCORES = "scores.csv"


@dataclass(frozen=True)
class TrainingOutcome:
    version: str
    """The version trained (or found already trained on the same inputs)."""
    promotion: Promotion
    in_service: str | None
    """The version ``current`` points at after this training."""


def _specs(config: PestcastConfig, table: pd.DataFrame) -> list[RiskModelSpec]:
    features = feature_columns(table, include_quality=config.model.quality_columns_as_features)
    return [
        RiskModelSpec(
            pest=pest,
            horizon_days=horizon,
            features=tuple(features),
            params=config.model.params,
            num_boost_round=config.model.num_boost_round,
            seed=config.model.seed,
        )
        for pest in config.model.pests
        for horizon in config.model.horizons_days
    ]


def _name(spec: RiskModelSpec) -> str:
    return f"{spec.pest}_h{spec.horizon_days}"


def _backtests(
    config: PestcastConfig, table: pd.DataFrame, settings: BacktestSettings
) -> dict[str, tuple[RiskModelSpec, Backtest]]:
    logger = get_run_logger()
    found = {}
    for spec in _specs(config, table):
        backtest = run_backtest(table, spec, settings)
        found[_name(spec)] = (spec, backtest)
        logger.info("%s backtest: %s", _name(spec), _score_line(backtest.scores))
    return found


def _score_line(scores: pd.DataFrame) -> str:
    pooled = scores[(scores["season"] == "all") & (scores["forecaster"] == "model")]
    value = pooled.set_index("score")["value"]
    return (
        f"within-date ROC-AUC {value['within_date_roc_auc']:.3f}, "
        f"ROC-AUC {value['roc_auc']:.3f}, top-10 % capture {value['top10_capture']:.2f}, "
        f"ECE {value['expected_calibration_error']:.3f}"
    )


def _published_forecasts(
    config: PestcastConfig, name_spec: Sequence[tuple[RiskModelSpec, Backtest]]
) -> pd.DataFrame:
    """One row per parcel × forecast date × pest × horizon, with the risk class of that week.

    ``risk_low``/``risk_high`` come from bands fitted on all backtested seasons (what the model
    in service states); the card's ``risk_bands.coverage`` is the leave-one-season-out check.
    """
    rule = config.forecast.risk_classes.rule()
    parts = []
    for spec, backtest in name_spec:
        rows = backtest.forecasts
        scored = scored_rows(rows)
        bands = fit_risk_bands(scored["risk_model"], scored["label"], scored["season"])
        low, high = risk_band(bands, rows["risk_model"])
        classes = pd.Series(NOT_IN_CROP, index=rows.index, dtype=object)
        for _, positions in rows[rows["in_crop"]].groupby("forecast_date").indices.items():
            index = rows[rows["in_crop"]].index[positions]
            classes[index] = classify_risk(rows.loc[index, "risk_model"].to_numpy(), rule)
        in_crop = rows["in_crop"].to_numpy()
        parts.append(
            pd.DataFrame(
                {
                    "parcel_id": rows["parcel_id"],
                    "forecast_date": rows["forecast_date"],
                    "pest": spec.pest,
                    "horizon_days": spec.horizon_days,
                    "risk": rows["risk_model"].where(in_crop),
                    "risk_low": pd.Series(low, index=rows.index).where(in_crop),
                    "risk_high": pd.Series(high, index=rows.index).where(in_crop),
                    "risk_class": classes,
                    "season": rows["season"],
                    "in_crop": rows["in_crop"].astype(bool),
                    "label": rows["label"],
                    "risk_uncalibrated": rows["risk_model_uncalibrated"],
                    "risk_persistence": rows["risk_persistence"],
                    "risk_climatology": rows["risk_climatology"],
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _reliability_plot(path: Path, forecasts: pd.DataFrame, *, title: str) -> None:
    scored = scored_rows(forecasts)
    write_reliability_plot(
        path,
        labels=scored["label"],
        raw=scored["risk_model_uncalibrated"],
        calibrated=scored["risk_model"],
        title=title,
    )


def _publish_backtest(
    config: PestcastConfig, layout: RunLayout, backtests: dict[str, tuple[RiskModelSpec, Backtest]]
) -> Path:
    forecasts = _published_forecasts(config, list(backtests.values()))
    scores = pd.concat(
        [
            backtest.scores.assign(pest=spec.pest, horizon_days=spec.horizon_days)
            for spec, backtest in backtests.values()
        ],
        ignore_index=True,
    )
    order = ["pest", "horizon_days", "season", "forecaster", "score"]
    scores = scores[order + [c for c in scores.columns if c not in order]]

    def write(staging: Path) -> dict[str, Any]:
        forecasts.to_parquet(staging / FORECASTS, index=False)
        scores.to_csv(staging / SCORES, index=False, float_format="%.4f")
        for spec, backtest in backtests.values():
            path = staging / f"reliability_{_name(spec)}.png"
            _reliability_plot(path, backtest.forecasts, title=f"{spec.pest} h{spec.horizon_days}")
        return {
            "region": config.region.name,
            "seasons": sorted(forecasts["season"].astype(str).unique()),
            "past_only": config.model.backtest.past_only,
        }

    publish_folder(layout.backtest_dir, write, order=("region",))
    return layout.backtest_dir


@task(cache_policy=NO_CACHE)
def backtest_models(
    config: PestcastConfig,
    layout: RunLayout,
    *,
    seasons: Sequence[str] | None = None,
    past_only: bool | None = None,
) -> Path:
    """Backtest every pest and horizon and publish ``<output_dir>/backtest``; trains nothing
    that is kept."""
    require_stage_output(layout.feature_table, "features")
    table = read_stage_output(layout.feature_table, "features")
    settings = config.model.backtest.settings(config.model.seed)
    overrides: dict[str, Any] = {}
    if seasons:
        overrides["seasons"] = tuple(seasons)
    if past_only is not None:
        overrides["past_only"] = past_only
    settings = dataclasses.replace(settings, **overrides)
    return _publish_backtest(config, layout, _backtests(config, table, settings))


def _training_fingerprint(feature_table: Path, config: PestcastConfig) -> str:
    """What a model version depends on: its data and the model and feature settings.

    Publishing settings (risk classes, forecast date) are not part of it.
    """
    digest = hashlib.sha256(feature_table.read_bytes())
    digest.update(config.model.model_dump_json().encode())
    digest.update(config.features.model_dump_json().encode())
    return digest.hexdigest()[:8]


def _complete(directory: Path, config: PestcastConfig) -> bool:
    try:
        listed = read_checksums(directory)
    except ModelError:
        return False
    return all(
        path.name in listed
        for pest in config.model.pests
        for horizon in config.model.horizons_days
        for path in model_paths(directory, pest, horizon)
    )


def _trained_version(layout: RunLayout, fingerprint: str, config: PestcastConfig) -> str | None:
    """The complete version folder of this fingerprint, if one exists."""
    for directory in sorted(layout.model_registry.glob(f"*-{fingerprint}"), reverse=True):
        if _complete(directory, config):
            return directory.name
    return None


def _in_service(layout: RunLayout) -> str | None:
    current = layout.current_model
    return current.resolve().name if current.is_symlink() and current.exists() else None


def _current_backtests(layout: RunLayout, names: Sequence[str]) -> dict[str, pd.DataFrame]:
    current = layout.current_model
    found = {}
    for name in names:
        pest, horizon = name.rsplit("_h", 1)
        path = backtest_path(current, pest, int(horizon))
        if path.is_file():
            found[name] = pd.read_parquet(path)
    return found


def _fit_all(
    config: PestcastConfig,
    table: pd.DataFrame,
    backtests: dict[str, tuple[RiskModelSpec, Backtest]],
    version: str,
) -> dict[str, TrainedRiskModel]:
    settings = config.model.backtest.settings(config.model.seed)
    return {
        name: fit_risk_model(
            table,
            spec,
            backtest=settings,
            model_version=version,
            feature_settings=config.features.settings(),
            precomputed=backtest,
        )
        for name, (spec, backtest) in backtests.items()
    }


def _register(
    layout: RunLayout, version: str, models: dict[str, TrainedRiskModel], promotion: Promotion
) -> Path:
    directory = layout.model_dir(version)

    def write(staging: Path) -> dict[str, Any]:
        for model in models.values():
            card = model.card.model_copy(update={"promotion": promotion})
            save_risk_model(
                TrainedRiskModel(model.booster, model.spec, card, model.backtest), staging
            )
            assert model.backtest is not None
            _reliability_plot(
                staging / f"{_name(model.spec)}.reliability.png",
                model.backtest,
                title=f"{model.spec.pest} h{model.spec.horizon_days} · {version}",
            )
        write_checksums(staging)
        return {"model_version": version, "promotion": promotion.model_dump()}

    publish_folder(directory, write, order=("model_version",))
    return directory


@task(cache_policy=NO_CACHE)
def train_risk_models(config: PestcastConfig, layout: RunLayout) -> TrainingOutcome:
    """Backtest, fit and register one model per pest and horizon; promote the set if it is not
    worse than the set in service. A version already trained on the same inputs is reused."""
    require_stage_output(layout.feature_table, "features")
    logger = get_run_logger()
    fingerprint = _training_fingerprint(layout.feature_table, config)
    trained = _trained_version(layout, fingerprint, config)
    if trained is not None:
        logger.info("models %s were trained on this exact feature table; reusing them", trained)
        replace_symlink_atomic(layout.latest_model, layout.model_dir(trained))
        card_promotion = _promotion_of(layout.model_dir(trained), config)
        if card_promotion.promoted and _in_service(layout) is None:
            replace_symlink_atomic(layout.current_model, layout.model_dir(trained))
        return TrainingOutcome(trained, card_promotion, _in_service(layout))
    version = f"{dt.date.today():%Y%m%d}-{fingerprint}"
    table = read_stage_output(layout.feature_table, "features")
    settings = config.model.backtest.settings(config.model.seed)
    backtests = _backtests(config, table, settings)
    _publish_backtest(config, layout, backtests)
    models = _fit_all(config, table, backtests, version)
    in_service = _in_service(layout)
    promotion = decide_promotion(
        {name: model.backtest for name, model in models.items() if model.backtest is not None},
        _current_backtests(layout, list(models)),
        config.model.promotion.policy(),
        current_version=in_service,
    )
    directory = _register(layout, version, models, promotion)
    replace_symlink_atomic(layout.latest_model, directory)
    if promotion.promoted:
        replace_symlink_atomic(layout.current_model, directory)
    logger.info("model %s: %s", version, promotion.reason)
    return TrainingOutcome(version, promotion, _in_service(layout))


def _promotion_of(directory: Path, config: PestcastConfig) -> Promotion:
    card = read_model_card(directory, config.model.pests[0], config.model.horizons_days[0])
    return card.promotion or Promotion(promoted=False, reason="registered without a decision")
