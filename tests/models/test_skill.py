"""Backtest scores against scikit-learn and hand-worked cases; date-resampled intervals."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from pestcast.models import SCORES, reliability_table, score_forecasts
from pestcast.models.skill import (
    _Sorted,
    weighted_average_precision,
    weighted_expected_calibration_error,
    weighted_roc_auc,
    within_date_roc_auc,
)

FloatArray = npt.NDArray[np.float64]


def _tied_sample(seed: int, n: int = 400) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Risks on a coarse grid (many ties) loosely linked to labels, and integer weights 0–4."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.3).astype(np.float64)
    risk = np.clip(0.3 + 0.25 * labels + rng.normal(0, 0.2, n), 0.0, 1.0).round(1)
    weights = rng.integers(0, 5, n).astype(np.float64)
    return risk, labels, weights


@pytest.mark.parametrize("seed", range(8))
def test_weighted_roc_auc_is_scikit_learns(seed: int) -> None:
    risk, labels, weights = _tied_sample(seed)
    ours = weighted_roc_auc(_Sorted.of(risk, labels), weights)
    assert ours == pytest.approx(roc_auc_score(labels, risk, sample_weight=weights), abs=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_weighted_average_precision_is_scikit_learns(seed: int) -> None:
    risk, labels, weights = _tied_sample(seed)
    ours = weighted_average_precision(_Sorted.of(risk, labels), weights)
    expected = average_precision_score(labels, risk, sample_weight=weights)
    assert ours == pytest.approx(expected, abs=1e-12)


def test_unit_weights_give_the_unweighted_scores_and_one_class_gives_nan() -> None:
    risk, labels, _ = _tied_sample(42)
    ones = np.ones(risk.size)
    rows = _Sorted.of(risk, labels)
    assert weighted_roc_auc(rows, ones) == pytest.approx(roc_auc_score(labels, risk), abs=1e-12)
    assert weighted_average_precision(rows, ones) == pytest.approx(
        average_precision_score(labels, risk), abs=1e-12
    )
    negatives = _Sorted.of(risk, np.zeros(risk.size))
    assert np.isnan(weighted_roc_auc(negatives, ones))
    assert np.isnan(weighted_average_precision(negatives, ones))


def test_expected_calibration_error_is_the_reliability_tables_gap() -> None:
    """Row-weighted |observed − mean risk| over scikit-learn's calibration-curve bins."""
    rng = np.random.default_rng(5)
    risk = rng.uniform(0, 1, 2000)
    labels = (rng.random(2000) < risk**2).astype(np.float64)
    bins = reliability_table(labels, risk)
    expected = sum(
        b.n * abs(b.observed_rate - b.mean_risk)
        for b in bins
        if b.observed_rate is not None and b.mean_risk is not None
    ) / len(risk)
    ours = weighted_expected_calibration_error(risk, labels, np.ones(risk.size))
    assert ours == pytest.approx(expected, abs=1e-12)
    doubled = weighted_expected_calibration_error(risk, labels, np.full(risk.size, 2.0))
    assert doubled == pytest.approx(ours, abs=1e-12)


def _dated_sample(seed: int, n_dates: int = 12, per_date: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_dates * per_date
    dates = np.repeat(pd.date_range("2023-03-20", periods=n_dates, freq="7D"), per_date)
    date_effect = np.repeat(rng.normal(0.0, 1.0, n_dates), per_date)
    signal = rng.normal(0.0, 1.0, n)
    probability = 1.0 / (1.0 + np.exp(-(-1.0 + date_effect + signal)))
    return pd.DataFrame(
        {
            "parcel_id": np.tile([f"P{i:03d}" for i in range(per_date)], n_dates),
            "forecast_date": dates,
            "season": "2023-SA",
            "in_crop": True,
            "label": (rng.random(n) < probability).astype(np.float64),
            "risk_good": 1.0 / (1.0 + np.exp(-(-1.0 + date_effect + signal))),
            "risk_flat": np.round(rng.uniform(0, 1, n), 1),
        }
    )


def test_within_date_auc_is_the_pair_weighted_mean_of_per_date_aucs() -> None:
    frame = _dated_sample(3)
    frame.loc[frame["forecast_date"] == frame["forecast_date"].iloc[0], "label"] = 0.0  # no pairs
    total, pairs = 0.0, 0.0
    for _, rows in frame.groupby("forecast_date"):
        positives = int(rows["label"].sum())
        negatives = len(rows) - positives
        if positives and negatives:
            total += positives * negatives * roc_auc_score(rows["label"], rows["risk_good"])
            pairs += positives * negatives
    ours = within_date_roc_auc(
        frame["risk_good"].to_numpy(), frame["label"].to_numpy(), frame["forecast_date"]
    )
    assert ours == pytest.approx(total / pairs, abs=1e-12)


def test_within_date_auc_ignores_pairs_across_dates() -> None:
    """A forecaster that only knows which week is busy ranks pooled rows well, parcels not."""
    busy = np.r_[np.ones(40), np.zeros(60)]
    quiet = np.r_[np.ones(5), np.zeros(95)]
    labels = np.r_[busy, quiet]
    risk = np.r_[np.full(100, 0.4), np.full(100, 0.05)]
    dates = np.repeat(pd.to_datetime(["2023-04-03", "2023-04-10"]).to_numpy(), 100)
    assert roc_auc_score(labels, risk) > 0.7
    assert within_date_roc_auc(risk, labels, dates) == pytest.approx(0.5)


def _capture_frame(risk: list[float], labels: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "forecast_date": pd.Timestamp("2023-04-03"),
            "season": "2023-SA",
            "in_crop": True,
            "label": labels,
            "risk_x": risk,
        }
    )


def _pooled(scores: pd.DataFrame, score: str, forecaster: str = "x") -> float:
    row = scores[
        (scores["season"] == "all")
        & (scores["forecaster"] == forecaster)
        & (scores["score"] == score)
    ]
    return float(row["value"].iloc[0])


def test_constant_scores_capture_k_percent_of_positives() -> None:
    """Persistence of an unsurveyed region is a constant: its top k % is k % of parcels drawn at
    random, so it captures k % of the positives in expectation."""
    frame = _dated_sample(9, per_date=100)
    frame["risk_constant"] = 0.1
    scores = score_forecasts(frame, ["constant"], replicates=0)
    for percent in (5, 10, 20):
        assert _pooled(scores, f"top{percent}_capture", "constant") == pytest.approx(percent / 100)


def test_top_share_splits_ties_evenly() -> None:
    # 10 parcels, top 20 % = 2 slots: 0.9 takes one; the three tied at 0.5 share the other.
    risk = [0.9, 0.5, 0.5, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
    labels = [0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    scores = score_forecasts(_capture_frame(risk, labels), ["x"], replicates=0)
    assert _pooled(scores, "top20_capture") == pytest.approx((2 * 1 / 3) / 3)
    assert _pooled(scores, "top10_capture") == 0.0  # one slot: the negative at 0.9
    assert _pooled(scores, "top5_capture") == 0.0


def test_unsurveyed_parcels_take_their_place_in_the_top_share() -> None:
    """The top k % is of every parcel in crop on the date, surveyed or not."""
    risk = [0.9, 0.8, *[0.1] * 8]
    labels = [1.0, 0.0, *[0.0] * 8]
    alone = score_forecasts(_capture_frame(risk, labels), ["x"], replicates=0)
    assert _pooled(alone, "top5_capture") == 1.0
    # An unsurveyed parcel at 0.95 takes the one slot of the top 5 % of 11 parcels.
    pushed = score_forecasts(_capture_frame([0.95, *risk], [np.nan, *labels]), ["x"], replicates=0)
    assert _pooled(pushed, "top5_capture") == 0.0
    assert _pooled(pushed, "roc_auc") == _pooled(alone, "roc_auc")


def test_pooled_scores_match_scikit_learn_on_labelled_rows_in_crop() -> None:
    frame = _dated_sample(4)
    frame.loc[frame.index % 7 == 0, "label"] = np.nan
    frame.loc[frame.index % 11 == 0, "in_crop"] = False
    scores = score_forecasts(frame, ["good"], replicates=0)
    kept = frame[frame["label"].notna() & frame["in_crop"]]
    assert _pooled(scores, "roc_auc", "good") == pytest.approx(
        roc_auc_score(kept["label"], kept["risk_good"]), abs=1e-12
    )
    assert _pooled(scores, "pr_auc", "good") == pytest.approx(
        average_precision_score(kept["label"], kept["risk_good"]), abs=1e-12
    )
    assert _pooled(scores, "brier", "good") == pytest.approx(
        brier_score_loss(kept["label"], kept["risk_good"]), abs=1e-12
    )
    assert _pooled(scores, "within_date_roc_auc", "good") == pytest.approx(
        within_date_roc_auc(
            kept["risk_good"].to_numpy(), kept["label"].to_numpy(), kept["forecast_date"]
        )
    )
    row = scores[(scores["forecaster"] == "good") & (scores["season"] == "all")].iloc[0]
    assert (row["n_rows"], row["n_positive"]) == (len(kept), int(kept["label"].sum()))
    assert row["n_dates"] == kept["forecast_date"].nunique()


@pytest.fixture(scope="module")
def two_seasons() -> pd.DataFrame:
    first = _dated_sample(6, n_dates=15)
    second = _dated_sample(7, n_dates=15)
    second["forecast_date"] += pd.Timedelta(days=140)
    second["season"] = "2023-AW"
    return pd.concat([first, second], ignore_index=True)


def test_bootstrap_intervals_contain_the_point_and_follow_the_seed(
    two_seasons: pd.DataFrame,
) -> None:
    scores = score_forecasts(two_seasons, ["good", "flat"], replicates=200, seed=1)
    assert set(scores["season"]) == {"all", "2023-SA", "2023-AW"}
    assert set(scores["score"]) == set(SCORES)
    assert len(scores) == 3 * 2 * len(SCORES)
    assert (scores["low"] <= scores["value"]).all()
    assert (scores["value"] <= scores["high"]).all()
    assert (scores["low"] < scores["high"]).all()
    again = score_forecasts(two_seasons, ["good", "flat"], replicates=200, seed=1)
    pd.testing.assert_frame_equal(scores, again)
    other = score_forecasts(two_seasons, ["good", "flat"], replicates=200, seed=2)
    pd.testing.assert_series_equal(scores["value"], other["value"])
    assert not np.allclose(scores["low"], other["low"])


def test_a_wider_level_gives_a_wider_interval(two_seasons: pd.DataFrame) -> None:
    narrow = score_forecasts(two_seasons, ["good"], replicates=100, level=0.5, per_season=False)
    wide = score_forecasts(two_seasons, ["good"], replicates=100, level=0.95, per_season=False)
    assert (wide["low"] <= narrow["low"]).all()
    assert (wide["high"] >= narrow["high"]).all()


def test_per_season_false_scores_only_the_pooled_rows(two_seasons: pd.DataFrame) -> None:
    pooled = score_forecasts(two_seasons, ["good"], replicates=10, per_season=False)
    full = score_forecasts(two_seasons, ["good"], replicates=10)
    assert set(pooled["season"]) == {"all"}
    pd.testing.assert_frame_equal(pooled, full[full["season"] == "all"].reset_index(drop=True))


def test_no_replicates_give_point_scores_without_intervals(two_seasons: pd.DataFrame) -> None:
    scores = score_forecasts(two_seasons, ["good"], replicates=0, per_season=False)
    assert scores["value"].notna().all()
    assert scores["low"].isna().all()
    assert scores["high"].isna().all()


def test_the_informative_forecaster_outscores_the_flat_one(two_seasons: pd.DataFrame) -> None:
    scores = score_forecasts(two_seasons, ["good", "flat"], replicates=50, per_season=False)
    low = scores.set_index(["forecaster", "score"])["low"].astype(float).to_dict()
    high = scores.set_index(["forecaster", "score"])["high"].astype(float).to_dict()
    for name in ("roc_auc", "within_date_roc_auc", "pr_auc", "top20_capture"):
        assert low["good", name] > high["flat", name], name
    assert high["good", "brier"] < low["flat", "brier"]
