"""Scoring, risk classes, drivers, and the model files on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pestcast.core.errors import ConfigError, ModelError
from pestcast.models import (
    RiskClassRule,
    TrainedRiskModel,
    classify_risk,
    fit_risk_model,
    load_risk_model,
    predict_risk,
    risk_drivers,
    risk_interval,
    save_risk_model,
)
from tests.models.conftest import spec


@pytest.fixture(scope="module")
def model(table: pd.DataFrame) -> TrainedRiskModel:
    return fit_risk_model(table, spec(horizon_days=14, num_boost_round=40))


def test_save_then_load_predicts_identically(
    tmp_path: Path, table: pd.DataFrame, model: TrainedRiskModel
) -> None:
    written = save_risk_model(model, tmp_path / "v1")
    assert written == tmp_path / "v1" / "bph_h14.txt"
    assert sorted(p.name for p in (tmp_path / "v1").iterdir()) == [
        "bph_h14.card.json",
        "bph_h14.held_out.parquet",
        "bph_h14.txt",
    ]
    assert written.read_text(encoding="utf-8").startswith("tree")  # LightGBM text, not a pickle
    loaded = load_risk_model(tmp_path / "v1", "bph", 14)
    np.testing.assert_array_equal(predict_risk(loaded, table), predict_risk(model, table))
    assert risk_drivers(loaded, table.head(50)) == risk_drivers(model, table.head(50))
    assert loaded.spec == model.spec
    assert loaded.model_version == model.model_version


def test_loading_a_missing_model_names_the_files(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no blast h7 model: missing .*blast_h7.txt.*train"):
        load_risk_model(tmp_path, "blast", 7)


def test_a_card_that_disagrees_with_the_model_is_refused(
    tmp_path: Path, model: TrainedRiskModel
) -> None:
    save_risk_model(model, tmp_path)
    card_path = tmp_path / "bph_h14.card.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["features"] = list(reversed(card["features"]))
    card_path.write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelError, match=r"uses features .* but .* lists"):
        load_risk_model(tmp_path, "bph", 14)


def test_a_model_file_from_another_run_is_refused(
    tmp_path: Path, table: pd.DataFrame, model: TrainedRiskModel
) -> None:
    save_risk_model(model, tmp_path)
    other = fit_risk_model(table, spec(horizon_days=14, num_boost_round=10))
    other.booster.save_model(str(tmp_path / "bph_h14.txt"))
    with pytest.raises(ModelError, match="sha256 differs"):
        load_risk_model(tmp_path, "bph", 14)


def test_saving_leaves_no_temporary_files(tmp_path: Path, model: TrainedRiskModel) -> None:
    save_risk_model(model, tmp_path)
    save_risk_model(model, tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_predictions_are_probabilities(table: pd.DataFrame, model: TrainedRiskModel) -> None:
    risk = predict_risk(model, table)
    assert risk.dtype == np.float64
    assert risk.shape == (len(table),)
    assert ((risk > 0) & (risk < 1)).all()


def test_missing_feature_columns_are_named_when_scoring(
    table: pd.DataFrame, model: TrainedRiskModel
) -> None:
    with pytest.raises(ModelError, match=r"bph h14 model .*lacks feature columns \['noise_a'\]"):
        predict_risk(model, table.drop(columns=["noise_a"]))


def test_classes_are_relative_to_the_weeks_mean_risk() -> None:
    risk = [0.02] * 6 + [0.08, 0.20]  # mean 0.05: lifts 0.4, 1.6 and 4
    assert classify_risk(risk, RiskClassRule()).tolist() == ["low"] * 6 + ["medium", "high"]


def test_one_chance_in_five_is_high_whatever_the_week() -> None:
    busy = [0.15, 0.18, 0.21, 0.25]
    assert classify_risk(busy, RiskClassRule()).tolist() == ["low", "low", "high", "high"]
    assert set(classify_risk(busy, RiskClassRule(high_risk=1.0)).tolist()) == {"low"}


def test_a_quiet_week_raises_no_warning_below_the_minimum_risk() -> None:
    quiet = [0.001, 0.001, 0.002, 0.02]  # 0.02 is 8× the mean, but a 2 % chance
    assert set(classify_risk(quiet, RiskClassRule(min_risk=0.05)).tolist()) == {"low"}


def test_parcels_without_data_are_no_data_and_do_not_set_the_mean() -> None:
    risk = [0.9, 0.02, 0.02, 0.02, 0.02, 0.2]  # mean of those with data 0.056
    classes = classify_risk(risk, RiskClassRule(), has_data=[0, 1, 1, 1, 1, 1])
    assert classes.tolist() == ["no_data", "low", "low", "low", "low", "high"]


@pytest.mark.parametrize(
    "rule",
    [
        {"medium_lift": 3.0, "high_lift": 2.0},
        {"medium_lift": 0.5},
        {"min_risk": 1.0},
        {"high_risk": 0.0},
    ],
)
def test_bad_rules_are_refused(rule: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="medium_lift < high_lift"):
        RiskClassRule(**rule)


def test_risk_outside_zero_one_is_refused() -> None:
    with pytest.raises(ModelError, match=r"\[1.5, nan\]"):
        classify_risk([0.1, 1.5, np.nan])


def test_drivers_are_the_largest_positive_shap_contributions_first(
    table: pd.DataFrame, model: TrainedRiskModel
) -> None:
    rows = table.head(200)
    drivers = risk_drivers(model, rows, top_k=3)
    assert len(drivers) == len(rows)
    assert all(len(d) <= 3 for d in drivers)
    for row_drivers in drivers:
        values = [value for _, value in row_drivers]
        assert values == sorted(values, reverse=True)
        assert all(value > 0 for value in values)
    humid = rows["rh_mean_7d"].to_numpy() > 92
    assert humid.any()
    assert all(drivers[i][0][0] == "rh_mean_7d" for i in np.flatnonzero(humid))


def test_drivers_are_exactly_the_positive_contributions(
    table: pd.DataFrame, model: TrainedRiskModel
) -> None:
    rows = table.head(20)
    every = risk_drivers(model, rows, top_k=len(model.spec.features))
    matrix = rows[list(model.spec.features)].to_numpy(dtype=float)
    contributions = model.booster.predict(matrix, pred_contrib=True)[:, :-1]
    for listed, row_contributions in zip(every, contributions, strict=True):
        positive = sorted(v for v in row_contributions if v > 0)
        assert sorted(value for _, value in listed) == pytest.approx(positive)


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda card: card.pop("model_file_sha256"), "no model_file_sha256"),
        (lambda card: card.pop("metrics"), "key 'metrics': Field required"),
        (lambda card: card.update(horizon_days="two weeks"), "key 'horizon_days'"),
        (lambda card: card.update(surprise=1), "key 'surprise': Extra inputs"),
    ],
)
def test_an_edited_card_is_refused_naming_the_key(
    tmp_path: Path, model: TrainedRiskModel, edit: Any, says: str
) -> None:
    save_risk_model(model, tmp_path)
    card_path = tmp_path / "bph_h14.card.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    edit(card)
    card_path.write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelError, match=says):
        load_risk_model(tmp_path, "bph", 14)


def test_the_interval_is_the_held_out_hit_rate_of_similar_forecasts(
    model: TrainedRiskModel,
) -> None:
    bins = model.card.metrics.model.reliability
    busiest = max(range(len(bins)), key=lambda i: bins[i].n)
    middle = (bins[busiest].lower + bins[busiest].upper) / 2
    low, high = risk_interval(model, [middle, 0.999])
    assert low[0] <= (bins[busiest].observed_rate or 0) <= high[0]
    assert high[0] - low[0] < 0.2  # many held-out forecasts: a narrow interval
    if bins[-1].n == 0:
        assert (low[1], high[1]) == (0.0, 1.0)  # none: nothing is known
