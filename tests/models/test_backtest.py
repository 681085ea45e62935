"""Leave-one-season-out backtests: honest folds, out-of-fold calibration, the crop mask."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pestcast.core.errors import ModelError
from pestcast.models import (
    FORECASTERS,
    Backtest,
    backtest_forecasts,
    calibrate,
    fit_calibration,
    in_crop_mask,
    score_forecasts,
    season_folds,
    season_order,
)
from tests.models.conftest import spec, synthetic_table

LABEL = "label_bph_h7"


@pytest.mark.parametrize("gap_days", [7, 21])
def test_folds_leave_out_the_season_and_a_gap_on_both_sides(
    table: pd.DataFrame, gap_days: int
) -> None:
    folds = season_folds(table, label=LABEL, gap_days=gap_days)
    assert [fold.season for fold in folds] == season_order(table)
    dates, seasons = table["forecast_date"], table["season"]
    gap = pd.Timedelta(days=gap_days)
    for fold in folds:
        held_out = seasons == fold.season
        assert fold.held_out.tolist() == np.flatnonzero(held_out).tolist()
        first, last = dates[held_out].min(), dates[held_out].max()
        train_dates = dates.iloc[fold.train]
        assert fold.season not in set(seasons.iloc[fold.train])
        assert ((train_dates < first - gap) | (train_dates > last + gap)).all()
        assert table[LABEL].iloc[fold.train].notna().all()
        # The gap is real: labelled rows of other seasons lie in it, and were dropped.
        near = ~held_out & (dates >= first - gap) & (dates <= last + gap) & table[LABEL].notna()
        assert near.any()
        assert not np.isin(np.flatnonzero(near), fold.train).any()


def test_a_middle_season_loses_rows_on_both_sides(table: pd.DataFrame) -> None:
    fold = next(f for f in season_folds(table, label=LABEL, gap_days=14) if f.season == "2023-SA")
    first, last = table.loc[table["season"] == "2023-SA", "forecast_date"].agg(["min", "max"])
    train_dates = table["forecast_date"].iloc[fold.train]
    assert train_dates[train_dates < first].max() < first - pd.Timedelta(days=14)
    assert train_dates[train_dates > last].min() > last + pd.Timedelta(days=14)
    assert (train_dates > last).any()  # later seasons train it too


def test_folds_train_on_the_rows_the_refit_trains_on(table: pd.DataFrame) -> None:
    """Labelled rows in crop only: the backtest must judge the model that goes into service."""
    assert not in_crop_mask(table).all()
    for fold in season_folds(table, label=LABEL, gap_days=7):
        assert in_crop_mask(table)[fold.train].all(), fold.season


@pytest.fixture(scope="module")
def past_only(table: pd.DataFrame) -> pd.DataFrame:
    return backtest_forecasts(table, spec(), past_only=True)


def test_past_only_trains_on_earlier_seasons_and_skips_the_first(
    table: pd.DataFrame, past_only: pd.DataFrame
) -> None:
    order = season_order(table)
    folds = season_folds(table, label=LABEL, gap_days=7, past_only=True)
    assert [fold.season for fold in folds] == order[1:]
    for fold in folds:
        assert set(table["season"].iloc[fold.train]) <= set(order[: order.index(fold.season)])
    assert list(dict.fromkeys(past_only["season"])) == order[1:]


def _usable(forecasts: pd.DataFrame) -> pd.DataFrame:
    return forecasts[forecasts["label"].notna() & forecasts["in_crop"]]


def _check_calibrated_from(forecasts: pd.DataFrame, season: str, others: list[str]) -> None:
    """The calibrated column of ``season`` is the map fitted on ``others``' out-of-fold rows."""
    rows = forecasts["season"] == season
    raw = forecasts.loc[rows, "risk_model_uncalibrated"]
    fitted = _usable(forecasts[forecasts["season"].isin(others)])
    if fitted.empty:
        expected = raw.to_numpy()
    else:
        calibration = fit_calibration(fitted["risk_model_uncalibrated"], fitted["label"])
        expected = calibrate(calibration, raw)
    np.testing.assert_array_equal(forecasts.loc[rows, "risk_model"].to_numpy(), expected)


def test_each_season_is_calibrated_by_a_map_fitted_without_it(backtest: Backtest) -> None:
    forecasts = backtest.forecasts
    seasons = list(dict.fromkeys(forecasts["season"]))
    for season in seasons:
        _check_calibrated_from(forecasts, season, [s for s in seasons if s != season])
    # …and not by the pooled map, which has seen the season.
    pooled = fit_calibration(
        _usable(forecasts)["risk_model_uncalibrated"], _usable(forecasts)["label"]
    )
    assert not np.array_equal(
        calibrate(pooled, forecasts["risk_model_uncalibrated"]), forecasts["risk_model"]
    )


def test_past_only_calibrates_each_season_from_earlier_seasons(past_only: pd.DataFrame) -> None:
    seasons = list(dict.fromkeys(past_only["season"]))
    for index, season in enumerate(seasons):
        _check_calibrated_from(past_only, season, seasons[:index])


def test_past_only_calibration_follows_time_whatever_order_seasons_are_named(
    table: pd.DataFrame,
) -> None:
    forecasts = backtest_forecasts(table, spec(), seasons=["2024-SA", "2023-AW"], past_only=True)
    _check_calibrated_from(forecasts, "2023-AW", [])
    _check_calibrated_from(forecasts, "2024-SA", ["2023-AW"])


def test_rows_out_of_crop_are_forecast_but_not_scored(backtest: Backtest) -> None:
    forecasts = backtest.forecasts
    out = ~forecasts["in_crop"]
    assert (out & forecasts["label"].notna()).sum() > 50
    risks = [f"risk_{name}" for name in FORECASTERS]
    assert forecasts.loc[out, risks].notna().all().all()
    scrambled = forecasts.copy()
    scrambled.loc[out, "label"] = 1.0
    scrambled.loc[out, risks] = 0.0
    before = score_forecasts(forecasts, FORECASTERS, replicates=5)
    after = score_forecasts(scrambled, FORECASTERS, replicates=5)
    pd.testing.assert_frame_equal(before, after)


def test_forecasts_cover_every_row_of_every_backtested_season(
    table: pd.DataFrame, backtest: Backtest
) -> None:
    forecasts = backtest.forecasts
    assert list(forecasts.columns) == [
        "parcel_id",
        "forecast_date",
        "season",
        "in_crop",
        "label",
        *(f"risk_{name}" for name in FORECASTERS),
    ]
    assert len(forecasts) == len(table)
    source = table[["parcel_id", "forecast_date", LABEL, "in_crop"]]
    joined = forecasts.merge(source, on=["parcel_id", "forecast_date"], suffixes=("", "_table"))
    assert len(joined) == len(table)
    pd.testing.assert_series_equal(joined["label"], joined[LABEL], check_names=False)
    assert (joined["in_crop"] == (joined["in_crop_table"] > 0.5)).all()
    risks = forecasts[[f"risk_{name}" for name in FORECASTERS]].to_numpy()
    assert ((risks >= 0.0) & (risks <= 1.0)).all()


def test_shuffled_labels_give_no_skill(table: pd.DataFrame) -> None:
    """Leak detector: with the labels shuffled, skill well above 0.5 means the folds leak."""
    shuffled = table.copy()
    labels = shuffled[LABEL].to_numpy()
    shuffled[LABEL] = labels[np.random.default_rng(11).permutation(labels.size)]
    forecasts = backtest_forecasts(shuffled, spec())
    scores = score_forecasts(forecasts, ["model_uncalibrated", "model"], replicates=0)
    pooled = scores[scores["season"] == "all"].set_index(["forecaster", "score"])["value"]
    for forecaster in ("model_uncalibrated", "model"):
        for score in ("roc_auc", "within_date_roc_auc"):
            assert abs(pooled[forecaster, score] - 0.5) < 0.04, (forecaster, score)


def test_a_gap_shorter_than_the_horizon_is_refused(table: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match=r"gap 7 d is shorter than the horizon 14 d"):
        backtest_forecasts(table, spec(horizon_days=14), gap_days=7)


def test_an_unknown_season_names_the_known_ones(table: pd.DataFrame) -> None:
    with pytest.raises(
        ModelError, match=r"\['2031-SA'\] have no labelled rows; choose among \["
    ) as found:
        season_folds(table, label=LABEL, gap_days=7, seasons=["2031-SA"])
    assert all(season in str(found.value) for season in season_order(table))


def test_a_season_without_positives_is_skipped_or_refused_when_named(
    table: pd.DataFrame,
) -> None:
    no_outbreak = table.copy()
    rows = no_outbreak["season"] == "2023-AW"
    no_outbreak.loc[rows, LABEL] = no_outbreak.loc[rows, LABEL].mul(0.0)
    every = [fold.season for fold in season_folds(no_outbreak, label=LABEL, gap_days=7)]
    assert every == [s for s in season_order(table) if s != "2023-AW"]
    with pytest.raises(ModelError, match=r"2023-AW cannot be backtested.*one class"):
        season_folds(no_outbreak, label=LABEL, gap_days=7, seasons=["2023-AW", "2024-SA"])


def test_the_first_season_cannot_be_named_with_past_only(table: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match=r"2022-SA cannot be backtested"):
        season_folds(table, label=LABEL, gap_days=7, seasons=["2022-SA"], past_only=True)


def test_a_single_season_is_refused_with_what_to_do() -> None:
    one = synthetic_table(n_parcels=20, start="2023-03-20", end="2023-07-20")
    with pytest.raises(
        ModelError, match=r"label_bph_h7: no season can be backtested.*two labelled"
    ):
        season_folds(one, label=LABEL, gap_days=7)
