"""Scoring, risk classes, risk bands, drivers, and the model files on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pestcast.core.errors import ConfigError, ModelError
from pestcast.models import (
    CHECKSUMS,
    NO_DATA,
    NOT_IN_CROP,
    RISK_CLASSES,
    RiskClassRule,
    TrainedRiskModel,
    backtest_path,
    calibrate,
    check_feature_schema,
    classify_risk,
    load_risk_model,
    predict_raw_risk,
    predict_risk,
    read_checksums,
    read_model_card,
    risk_band,
    risk_drivers,
    risk_interval,
    save_risk_model,
    write_checksums,
)
from pestcast.models.booster import train_booster
from tests.models.conftest import spec

STEM = "bph_h7"


def _register(model: TrainedRiskModel, directory: Path) -> Path:
    """Save the model and seal the directory, as a training run does."""
    written = save_risk_model(model, directory)
    write_checksums(directory)
    return written


def _edit_card(directory: Path, edit: Any) -> None:
    card_path = directory / f"{STEM}.card.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    edit(card)
    card_path.write_text(json.dumps(card), encoding="utf-8")


def test_save_seal_then_load_predicts_identically(
    tmp_path: Path, table: pd.DataFrame, model: TrainedRiskModel
) -> None:
    written = _register(model, tmp_path / "v1")
    assert written == tmp_path / "v1" / f"{STEM}.txt"
    files = [f"{STEM}.backtest.parquet", f"{STEM}.card.json", f"{STEM}.txt"]
    assert sorted(p.name for p in (tmp_path / "v1").iterdir()) == sorted([*files, CHECKSUMS])
    assert sorted(read_checksums(tmp_path / "v1")) == files
    assert written.read_text(encoding="utf-8").startswith("tree")  # LightGBM text, not a pickle
    loaded = load_risk_model(tmp_path / "v1", "bph", 7)
    np.testing.assert_array_equal(predict_risk(loaded, table), predict_risk(model, table))
    assert risk_drivers(loaded, table.head(50)) == risk_drivers(model, table.head(50))
    assert loaded.spec == model.spec
    sealed = model.card.model_copy(update={"model_file_sha256": loaded.card.model_file_sha256})
    assert loaded.card.model_dump(mode="json") == sealed.model_dump(mode="json")
    assert read_model_card(tmp_path / "v1", "bph", 7) == loaded.card
    saved = pd.read_parquet(backtest_path(tmp_path / "v1", "bph", 7))
    assert model.backtest is not None
    pd.testing.assert_frame_equal(saved, model.backtest)


@pytest.mark.parametrize("name", [f"{STEM}.txt", f"{STEM}.card.json"])
def test_a_file_changed_by_one_byte_is_refused(
    tmp_path: Path, model: TrainedRiskModel, name: str
) -> None:
    _register(model, tmp_path)
    path = tmp_path / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    pattern = rf"{name} was changed after training \(its sha256 differs from {CHECKSUMS}\)"
    with pytest.raises(ModelError, match=pattern):
        load_risk_model(tmp_path, "bph", 7)
    if name.endswith(".card.json"):
        with pytest.raises(ModelError, match=pattern):
            read_model_card(tmp_path, "bph", 7)


def test_a_directory_without_checksums_is_refused(tmp_path: Path, model: TrainedRiskModel) -> None:
    save_risk_model(model, tmp_path)
    with pytest.raises(ModelError, match=rf"has no {CHECKSUMS}: it is not a complete registered"):
        load_risk_model(tmp_path, "bph", 7)
    with pytest.raises(ModelError, match=rf"has no {CHECKSUMS}"):
        read_model_card(tmp_path, "bph", 7)


def test_a_model_saved_after_sealing_is_refused(tmp_path: Path, model: TrainedRiskModel) -> None:
    write_checksums(tmp_path)
    save_risk_model(model, tmp_path)
    with pytest.raises(ModelError, match=rf"{STEM}.card.json is not listed in .*{CHECKSUMS}"):
        load_risk_model(tmp_path, "bph", 7)


def test_a_malformed_checksums_line_is_named(tmp_path: Path, model: TrainedRiskModel) -> None:
    _register(model, tmp_path)
    (tmp_path / CHECKSUMS).write_text("not a checksum\n", encoding="utf-8")
    with pytest.raises(ModelError, match=rf"{CHECKSUMS} line 1 is not '<sha256>  <file>'"):
        load_risk_model(tmp_path, "bph", 7)


def test_loading_a_missing_model_names_the_files(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no blast h7 model: missing .*blast_h7.txt.*train"):
        load_risk_model(tmp_path, "blast", 7)


def test_a_resealed_card_that_disagrees_with_the_model_is_refused(
    tmp_path: Path, model: TrainedRiskModel
) -> None:
    """Checksums rewritten after an edit do not make a mismatched pair loadable."""
    _register(model, tmp_path)
    _edit_card(tmp_path, lambda card: card.update(features=list(reversed(card["features"]))))
    write_checksums(tmp_path)
    with pytest.raises(ModelError, match=r"uses features .* but .* lists"):
        load_risk_model(tmp_path, "bph", 7)


def test_a_resealed_model_file_from_another_run_is_refused(
    tmp_path: Path, table: pd.DataFrame, model: TrainedRiskModel
) -> None:
    _register(model, tmp_path)
    rows = table[table["label_bph_h7"].notna()]
    other = train_booster(rows, spec(num_boost_round=5))
    other.save_model(str(tmp_path / f"{STEM}.txt"))
    write_checksums(tmp_path)
    with pytest.raises(ModelError, match=r"is not the model file .* describes \(sha256 differs\)"):
        load_risk_model(tmp_path, "bph", 7)


def test_saving_leaves_no_temporary_files(tmp_path: Path, model: TrainedRiskModel) -> None:
    save_risk_model(model, tmp_path)
    save_risk_model(model, tmp_path)
    write_checksums(tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda card: card.pop("model_file_sha256"), "no model_file_sha256"),
        (lambda card: card.pop("backtest"), "key 'backtest': Field required"),
        (lambda card: card["calibration"].update(method="magic"), "key 'calibration.method'"),
        (lambda card: card.update(feature_schema_sha256="abc"), "key 'feature_schema_sha256'"),
        (lambda card: card.update(horizon_days="two weeks"), "key 'horizon_days'"),
        (lambda card: card.update(surprise=1), "key 'surprise': Extra inputs"),
    ],
)
def test_a_resealed_edited_card_is_refused_naming_the_key(
    tmp_path: Path, model: TrainedRiskModel, edit: Any, says: str
) -> None:
    _register(model, tmp_path)
    _edit_card(tmp_path, edit)
    write_checksums(tmp_path)
    with pytest.raises(ModelError, match=says):
        load_risk_model(tmp_path, "bph", 7)


def test_predictions_are_calibrated_probabilities(
    table: pd.DataFrame, model: TrainedRiskModel
) -> None:
    risk = predict_risk(model, table)
    raw = predict_raw_risk(model, table)
    assert risk.dtype == np.float64
    assert risk.shape == (len(table),)
    assert ((risk >= 0) & (risk <= 1)).all()
    assert ((raw > 0) & (raw < 1)).all()
    np.testing.assert_array_equal(risk, calibrate(model.card.calibration, raw))
    assert not np.array_equal(risk, raw)


def test_a_table_whose_feature_kinds_changed_is_refused(
    table: pd.DataFrame, model: TrainedRiskModel
) -> None:
    check_feature_schema(model, table)
    as_float32 = table.astype({"rh_mean_7d": np.float32})  # still a number: accepted
    check_feature_schema(model, as_float32)
    flagged = table.assign(noise_a=table["noise_a"] > 0)  # a number turned boolean
    with pytest.raises(ModelError, match=r"bph h7 model .*feature schema hash differs"):
        predict_risk(model, flagged)


def test_missing_feature_columns_are_named_when_scoring(
    table: pd.DataFrame, model: TrainedRiskModel
) -> None:
    with pytest.raises(ModelError, match=r"bph h7 model .*lacks feature columns \['noise_a'\]"):
        predict_risk(model, table.drop(columns=["noise_a"]))


def test_the_interval_is_the_cards_season_conformal_band(
    table: pd.DataFrame, model: TrainedRiskModel
) -> None:
    risk = predict_risk(model, table.head(500))
    low, high = risk_interval(model, risk)
    expected_low, expected_high = risk_band(model.card.risk_bands, risk)
    np.testing.assert_array_equal(low, expected_low)
    np.testing.assert_array_equal(high, expected_high)
    assert np.all((low >= 0) & (low <= risk) & (risk <= high) & (high <= 1))
    assert np.median(high - low) < 0.6  # eight seasons back a claim narrower than [0, 1]


def test_not_in_crop_is_the_last_class() -> None:
    assert RISK_CLASSES[-2:] == (NO_DATA, NOT_IN_CROP)


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


def test_top_k_below_one_is_refused(table: pd.DataFrame, model: TrainedRiskModel) -> None:
    with pytest.raises(ModelError, match="top_k must be ≥ 1, got 0"):
        risk_drivers(model, table.head(5), top_k=0)


def test_the_class_array_can_hold_every_class_name() -> None:
    """Callers mark parcels out of crop in place: the names must not be cut short."""
    classes = classify_risk(np.array([0.1, 0.2]))
    classes[0] = NOT_IN_CROP
    assert classes[0] == NOT_IN_CROP
