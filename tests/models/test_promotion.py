"""Promotion: a candidate goes into service only if it is not worse on the same backtest rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pestcast.models import PromotionPolicy, decide_promotion
from pestcast.models.promotion import compare_on_common_rows

_STARTS = {"2023-SA": "2023-03-20", "2023-AW": "2023-08-07"}


def _forecasts(
    seed: int, noise: float, seasons: tuple[str, ...] = ("2023-SA", "2023-AW")
) -> pd.DataFrame:
    """Backtest forecasts of 60 parcels × 8 dates per season; ``noise`` blurs the true risk."""
    rng = np.random.default_rng(0)  # the same parcels, dates and labels for every forecaster
    frames = []
    for season in seasons:
        dates = pd.date_range(_STARTS[season], periods=8, freq="7D")
        truth = rng.uniform(0.02, 0.6, (8, 60))
        frames.append(
            pd.DataFrame(
                {
                    "parcel_id": np.tile([f"P{i:02d}" for i in range(60)], 8),
                    "forecast_date": np.repeat(dates, 60),
                    "season": season,
                    "in_crop": True,
                    "label": (rng.random(truth.size) < truth.ravel()).astype(np.float64),
                    "truth": truth.ravel(),
                }
            )
        )
    table = pd.concat(frames, ignore_index=True)
    blur = np.random.default_rng(seed).normal(0.0, noise, len(table))
    table["risk_model"] = np.clip(table.pop("truth") + blur, 0.001, 0.999)
    return table


GOOD = _forecasts(1, 0.02)
POOR = _forecasts(2, 0.4)


def test_identical_backtests_are_promoted_as_not_worse() -> None:
    decision = decide_promotion(
        {"bph_h7": GOOD}, {"bph_h7": GOOD.copy()}, PromotionPolicy(), current_version="v1"
    )
    assert decision.promoted
    assert decision.compared_with == "v1"
    assert decision.reason.startswith("not worse than v1 for any pest and horizon (tolerance 0)")
    assert "bph_h7: within_date_roc_auc" in decision.reason


def test_a_worse_candidate_is_kept_aside_naming_the_pest_and_horizon() -> None:
    decision = decide_promotion(
        {"bph_h7": GOOD, "bph_h14": POOR},
        {"bph_h7": GOOD, "bph_h14": GOOD},
        PromotionPolicy(),
        current_version="v1",
    )
    assert not decision.promoted
    assert decision.reason.startswith("kept aside: worse than v1 for bph_h14 (tolerance 0)")
    assert "960 labelled rows of 2023-AW, 2023-SA" in decision.reason


def test_the_tolerance_is_respected() -> None:
    policy = PromotionPolicy(score="roc_auc")
    found = compare_on_common_rows(POOR, GOOD, policy)
    assert found is not None
    gap = found.current - found.candidate
    assert gap > 0.05
    for tolerance, promoted in ((gap + 0.01, True), (gap - 0.01, False)):
        decision = decide_promotion(
            {"bph_h7": POOR},
            {"bph_h7": GOOD},
            PromotionPolicy(score="roc_auc", tolerance=tolerance),
            current_version="v1",
        )
        assert decision.promoted is promoted, tolerance
        assert f"tolerance {tolerance:g}" in decision.reason


def test_lower_is_better_for_the_brier_score() -> None:
    policy = PromotionPolicy(score="brier")
    found = compare_on_common_rows(GOOD, POOR, policy)
    assert found is not None
    assert found.candidate < found.current
    better = decide_promotion({"bph_h7": GOOD}, {"bph_h7": POOR}, policy, current_version="v1")
    worse = decide_promotion({"bph_h7": POOR}, {"bph_h7": GOOD}, policy, current_version="v1")
    assert better.promoted
    assert not worse.promoted
    loose = PromotionPolicy(score="brier", tolerance=found.current - found.candidate + 0.01)
    assert decide_promotion(
        {"bph_h7": POOR}, {"bph_h7": GOOD}, loose, current_version="v1"
    ).promoted


def test_without_a_model_in_service_the_candidate_is_promoted() -> None:
    decision = decide_promotion({"bph_h7": POOR}, {}, PromotionPolicy(), current_version=None)
    assert decision.promoted
    assert decision.reason == "no model was in service"
    assert decision.compared_with is None


def test_both_are_judged_on_common_rows_with_the_candidates_labels() -> None:
    older = _forecasts(1, 0.02, seasons=("2023-SA",))
    older["label"] = 1.0 - older["label"]  # stale labels the candidate has since corrected
    found = compare_on_common_rows(GOOD, older, PromotionPolicy(score="roc_auc"))
    assert found is not None
    assert found.seasons == ("2023-SA",)
    assert found.n_rows == len(older)
    assert found.candidate == pytest.approx(found.current)  # same risks, same (new) labels
    assert found.candidate > 0.7  # with the stale labels it would be below 0.3


def test_a_pest_new_to_the_set_or_without_common_rows_does_not_block() -> None:
    elsewhere = GOOD.assign(parcel_id="Q-" + GOOD["parcel_id"])
    decision = decide_promotion(
        {"bph_h7": POOR, "blast_h7": POOR},
        {"bph_h7": elsewhere},
        PromotionPolicy(),
        current_version="v1",
    )
    assert decision.promoted
    assert "bph_h7: no backtest rows in common" in decision.reason
    assert "blast_h7: new (the model in service has none)" in decision.reason


def test_common_rows_out_of_crop_count_for_nothing() -> None:
    fallow = GOOD.assign(in_crop=False)
    assert compare_on_common_rows(fallow, GOOD, PromotionPolicy()) is None
    decision = decide_promotion(
        {"bph_h7": fallow}, {"bph_h7": GOOD}, PromotionPolicy(), current_version="v1"
    )
    assert "bph_h7: no backtest rows in common" in decision.reason


def test_an_unknown_score_is_refused() -> None:
    with pytest.raises(ValueError, match=r"promotion score 'auc' is not one of \["):
        PromotionPolicy(score="auc")
