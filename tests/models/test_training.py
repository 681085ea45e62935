"""Training on a synthetic table with a known signal: skill, honesty, determinism, model card."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pestcast.core.errors import ModelError
from pestcast.features import DEFAULT_FEATURE_SETTINGS
from pestcast.models import (
    TrainedRiskModel,
    fit_climatology,
    fit_risk_model,
    persistence_risk,
    predict_risk,
    reliability_table,
)
from tests.models.conftest import FEATURES, spec


@pytest.fixture(scope="module")
def model(table: pd.DataFrame) -> TrainedRiskModel:
    return fit_risk_model(table, spec())


def test_model_beats_both_baselines_on_the_held_out_season(model: TrainedRiskModel) -> None:
    metrics = model.card.metrics
    ours = metrics.model
    assert ours.roc_auc is not None
    assert ours.roc_auc > 0.75
    for name in ("persistence", "climatology"):
        baseline = metrics.baselines[name]
        assert baseline.roc_auc is not None
        assert ours.roc_auc > baseline.roc_auc + 0.1, name
        assert ours.brier < baseline.brier, name
        assert (metrics.skill[f"brier_skill_vs_{name}"] or 0) > 0.1
        assert (metrics.skill[f"roc_auc_gain_vs_{name}"] or 0) > 0.1


def test_shuffled_labels_give_no_skill(table: pd.DataFrame) -> None:
    """Leak detector: with the label shuffled, a held-out AUC well above 0.5 means leakage."""
    shuffled = table.copy()
    rng = np.random.default_rng(11)
    labels = shuffled["label_bph_h7"].to_numpy()
    shuffled["label_bph_h7"] = labels[rng.permutation(labels.size)]
    auc = fit_risk_model(shuffled, spec()).card.metrics.model.roc_auc
    assert auc is not None
    assert abs(auc - 0.5) < 0.06


def test_two_fits_predict_identically(table: pd.DataFrame, model: TrainedRiskModel) -> None:
    again = fit_risk_model(table, spec())
    np.testing.assert_array_equal(predict_risk(again, table), predict_risk(model, table))
    assert again.card.metrics == model.card.metrics
    assert again.model_version == model.model_version


def test_card_describes_data_split_and_provenance(model: TrainedRiskModel) -> None:
    card = model.card
    json.loads(card.model_dump_json())
    assert card.pest == "bph"
    assert card.horizon_days == 7
    assert card.features == FEATURES
    assert card.validation_season == "2024-SA"
    assert card.training_seasons[-1] == "2023-WS"
    assert card.n_rows["refit"] > card.n_rows["train"] + card.n_rows["validation"]
    assert len(card.data_hash) == 64
    assert card.lightgbm_params["deterministic"] is True
    assert card.lightgbm_params["num_threads"] <= 2
    assert set(card.feature_importance_gain) == set(FEATURES)
    assert next(iter(card.feature_importance_gain)) == "rh_mean_7d"  # the strongest driver
    reliability = card.metrics.model.reliability
    assert len(reliability) == 10
    assert sum(row.n for row in reliability) == card.n_rows["validation"]


def test_card_records_every_feature_setting_and_why_its_default(
    model: TrainedRiskModel,
) -> None:
    settings = model.card.feature_settings
    assert settings["neighbour_radius_m"]["value"] == DEFAULT_FEATURE_SETTINGS.neighbour_radius_m
    assert settings["survey_window_days"]["value"] == DEFAULT_FEATURE_SETTINGS.survey_window_days
    assert {name for name, field in settings.items() if len(field["why_default"]) < 40} == set()


def test_model_version_is_derived_from_data_and_spec_or_passed_in(
    table: pd.DataFrame, model: TrainedRiskModel
) -> None:
    other_spec = fit_risk_model(table, spec(num_boost_round=20))
    named = fit_risk_model(table, spec(num_boost_round=20), model_version="20250101-abc")
    assert other_spec.model_version != model.model_version
    assert other_spec.card.data_hash == model.card.data_hash
    assert named.model_version == "20250101-abc"


def test_the_held_out_probabilities_are_roughly_calibrated(model: TrainedRiskModel) -> None:
    metrics = model.card.metrics.model
    assert metrics.expected_calibration_error < 0.1
    assert abs(metrics.mean_risk - metrics.prevalence) < 0.1


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
