"""Training on a synthetic table with a known signal: skill, honesty, determinism, model card."""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from pestcast.core.errors import ModelError
from pestcast.features import DEFAULT_FEATURE_SETTINGS
from pestcast.models import (
    FORECASTERS,
    SCORES,
    Backtest,
    TrainedRiskModel,
    feature_schema_hash,
    fit_calibration,
    fit_climatology,
    fit_risk_bands,
    fit_risk_model,
    in_crop_mask,
    persistence_risk,
    predict_risk,
    reliability_table,
    season_order,
    training_data_hash,
)
from pestcast.models.training import RECORDED_PACKAGES
from tests.models.conftest import FEATURES, SETTINGS, spec


def _value(model: TrainedRiskModel, forecaster: str, score: str, season: str = "all") -> float:
    summary = model.card.backtest
    table = summary.pooled if season == "all" else summary.per_season[season]
    value = table[forecaster].scores[score].value
    assert value is not None, (forecaster, score, season)
    return value


@pytest.mark.parametrize("baseline", ["persistence", "climatology"])
def test_model_beats_both_baselines_out_of_fold(model: TrainedRiskModel, baseline: str) -> None:
    assert _value(model, "model", "roc_auc") > 0.75
    for score in ("roc_auc", "within_date_roc_auc", "pr_auc"):
        assert _value(model, "model", score) > _value(model, baseline, score) + 0.1, score
    assert _value(model, "model", "top10_capture") > _value(model, baseline, "top10_capture")
    assert _value(model, "model", "brier") < _value(model, baseline, "brier")
    pooled = model.card.backtest.pooled
    model_low = pooled["model"].scores["within_date_roc_auc"].low
    baseline_high = pooled[baseline].scores["within_date_roc_auc"].high
    assert model_low is not None
    assert baseline_high is not None
    assert model_low > baseline_high  # apart beyond the date-resampled intervals
    for season in model.card.backtest.seasons:
        assert _value(model, "model", "roc_auc", season) > _value(
            model, baseline, "roc_auc", season
        )


def test_card_carries_pooled_and_per_season_skill_tables(model: TrainedRiskModel) -> None:
    summary = model.card.backtest
    assert summary.seasons == tuple(model.card.refit_seasons)
    assert (summary.past_only, summary.gap_days, summary.replicates) == (False, 7, 20)
    assert summary.interval_level == SETTINGS.interval_level
    assert set(summary.per_season) == set(summary.seasons)
    for tables in [summary.pooled, *summary.per_season.values()]:
        assert set(tables) == set(FORECASTERS)
        for table in tables.values():
            assert set(table.scores) == set(SCORES)
            auc = table.scores["roc_auc"]
            assert auc.low is not None
            assert auc.value is not None
            assert auc.high is not None
            assert auc.low <= auc.value <= auc.high
    assert summary.pooled["model"].n_rows == model.card.n_rows["backtest"]
    assert (
        sum(t["model"].n_rows for t in summary.per_season.values()) == model.card.n_rows["backtest"]
    )
    for reliability in (summary.reliability, summary.reliability_uncalibrated):
        assert len(reliability) == 10
        assert sum(row.n for row in reliability) == model.card.n_rows["backtest"]


def test_calibration_and_risk_bands_come_from_the_out_of_fold_rows(
    model: TrainedRiskModel, backtest: Backtest
) -> None:
    scored = backtest.forecasts[backtest.forecasts["in_crop"] & backtest.forecasts["label"].notna()]
    assert model.card.calibration == fit_calibration(
        scored["risk_model_uncalibrated"], scored["label"]
    )
    assert model.card.calibration.method == "isotonic"
    bands = model.card.risk_bands
    refitted = fit_risk_bands(scored["risk_model"], scored["label"], scored["season"])
    assert bands.model_copy(update={"coverage": None}) == refitted
    assert bands.seasons == tuple(sorted(model.card.backtest.seasons))
    assert bands.level == 0.8
    assert bands.edges[0] == 0.0
    assert bands.edges[-1] == 1.0
    assert max(bands.half_widths) < 1.0  # eight seasons back every bin
    assert bands.coverage is not None
    assert 0.6 <= bands.coverage <= 1.0


def test_card_records_schema_versions_data_and_provenance(
    table: pd.DataFrame, model: TrainedRiskModel
) -> None:
    card = model.card
    json.loads(card.model_dump_json())
    assert (card.pest, card.horizon_days, card.label) == ("bph", 7, "label_bph_h7")
    assert card.features == FEATURES
    assert card.feature_schema_sha256 == feature_schema_hash(table, FEATURES)
    assert set(card.package_versions) == set(RECORDED_PACKAGES)
    assert card.package_versions["lightgbm"] == lgb.__version__ == card.lightgbm_version
    assert card.data_window == ("2022-03-16", "2024-10-30")
    assert card.refit_seasons == tuple(season_order(table))
    refit = table[table["label_bph_h7"].notna().to_numpy() & in_crop_mask(table)]
    assert card.n_rows == {"refit": len(refit), "backtest": len(refit)}
    assert card.label_prevalence == pytest.approx(refit["label_bph_h7"].mean())
    assert card.data_hash == training_data_hash(refit, spec())  # rows out of crop left out
    assert card.lightgbm_params["deterministic"] is True
    assert card.lightgbm_params["num_threads"] <= 2
    assert set(card.feature_importance_gain) == set(FEATURES)
    assert next(iter(card.feature_importance_gain)) == "rh_mean_7d"  # the strongest driver
    assert card.promotion is None
    assert card.model_file_sha256 == ""


def test_card_records_every_feature_setting_and_why_its_default(
    model: TrainedRiskModel,
) -> None:
    settings = model.card.feature_settings
    assert settings["neighbour_radius_m"]["value"] == DEFAULT_FEATURE_SETTINGS.neighbour_radius_m
    assert settings["survey_window_days"]["value"] == DEFAULT_FEATURE_SETTINGS.survey_window_days
    assert {name for name, field in settings.items() if len(field["why_default"]) < 40} == set()


def test_two_fits_are_identical(table: pd.DataFrame, model: TrainedRiskModel) -> None:
    """A fresh fit (its own backtest) equals the shared one, up to the time it was made."""
    again = fit_risk_model(table, spec(), backtest=SETTINGS)
    np.testing.assert_array_equal(predict_risk(again, table), predict_risk(model, table))
    assert again.card.model_copy(update={"created_utc": ""}) == model.card.model_copy(
        update={"created_utc": ""}
    )
    assert again.backtest is not None
    assert model.backtest is not None
    pd.testing.assert_frame_equal(again.backtest, model.backtest)


def test_model_version_is_derived_from_data_and_spec_or_passed_in(
    table: pd.DataFrame, model: TrainedRiskModel, backtest: Backtest
) -> None:
    other_spec = fit_risk_model(table, spec(num_boost_round=20), backtest=SETTINGS)
    named = fit_risk_model(
        table, spec(), backtest=SETTINGS, precomputed=backtest, model_version="20250101-abc"
    )
    assert other_spec.model_version != model.model_version
    assert other_spec.card.data_hash == model.card.data_hash
    assert named.model_version == "20250101-abc"


def test_the_out_of_fold_probabilities_are_calibrated(model: TrainedRiskModel) -> None:
    assert _value(model, "model", "expected_calibration_error") < 0.05
    bins = [b for b in model.card.backtest.reliability if b.n]
    total = sum(b.n for b in bins)
    mean_risk = sum(b.n * (b.mean_risk or 0.0) for b in bins) / total
    observed = sum(b.n * (b.observed_rate or 0.0) for b in bins) / total
    assert mean_risk == pytest.approx(observed, abs=0.02)


def test_unbalance_params_and_leaking_features_are_refused() -> None:
    with pytest.raises(ModelError, match=r"scale_pos_weight.*distort"):
        spec(params={"scale_pos_weight": 3.0})
    with pytest.raises(ModelError, match=r"label_bph_h14.*not features"):
        spec(features=(*FEATURES, "label_bph_h14"))
    with pytest.raises(ModelError, match="binary"):
        spec(params={"objective": "regression"})


def test_missing_feature_columns_are_named(table: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match=r"lacks feature columns \['rain_7d'\]"):
        fit_risk_model(table, spec(features=(*FEATURES, "rain_7d")))


def test_missing_keys_and_text_dates_are_refused(table: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match=r"lacks key columns \['season'\]"):
        fit_risk_model(table.drop(columns=["season"]), spec())
    text_dates = table.assign(forecast_date=table["forecast_date"].dt.strftime("%Y-%m-%d"))
    with pytest.raises(ModelError, match=r"'forecast_date' is .*not datetime64; convert"):
        fit_risk_model(text_dates, spec())


def test_persistence_scores_last_severity_and_fills_unsurveyed() -> None:
    table = pd.DataFrame({"last_severity_bph": [0.0, 1.0, 3.0, np.nan]})
    risk = persistence_risk(table, "bph", unsurveyed=0.25)
    np.testing.assert_allclose(risk, [0.0, 1 / 3, 1.0, 0.25])


def test_climatology_learns_the_rate_by_season_type_and_week() -> None:
    dates = pd.to_datetime(["2022-03-16", "2022-03-23"] * 50 + ["2023-03-16"])
    train = pd.DataFrame(
        {
            "forecast_date": dates[:-1],
            "season": "2022-SA",
            "label": [1.0, 0.0] * 50,
        }
    )
    climatology = fit_climatology(train, "label")
    target = pd.DataFrame(
        {
            "forecast_date": pd.to_datetime(
                ["2023-03-16", "2023-03-23", "2023-05-01", "2023-08-10"]
            ),
            "season": ["2023-SA", "2023-SA", "2023-SA", "2023-AW"],
        }
    )
    week0, week1, unseen_week, unseen_type = climatology.predict(target)
    assert week0 > 0.85
    assert week1 < 0.15
    assert unseen_week == pytest.approx(0.5)
    assert unseen_type == pytest.approx(0.5)


def test_reliability_table_bins_rows_by_forecast() -> None:
    risk = np.array([0.05, 0.05, 0.95, 0.95, 1.0])
    labels = np.array([0.0, 0.0, 1.0, 0.0, 1.0])
    table = reliability_table(labels, risk)
    assert [row.n for row in table] == [2, 0, 0, 0, 0, 0, 0, 0, 0, 3]
    assert table[9].observed_rate == pytest.approx(2 / 3)
    assert table[9].mean_risk == pytest.approx((0.95 + 0.95 + 1.0) / 3)
    assert table[1].mean_risk is None


def test_reliability_bins_match_scikit_learns_edges() -> None:
    """A risk on a bin edge falls in the lower bin, as in sklearn's calibration_curve."""
    table = reliability_table(np.array([1.0, 0.0]), np.array([0.1, 0.2]))
    assert [row.n for row in table][:3] == [1, 1, 0]
