"""Season helpers, label checks, and the single held-out season split the benches still use."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pestcast.core.errors import ModelError
from pestcast.features.seasons import rice_season
from pestcast.models import run_backtest, season_order, season_type, week_of_season
from pestcast.models.validation import season_split
from tests.models.conftest import spec, synthetic_table


def test_seasons_are_ordered_by_their_first_forecast_date(table: pd.DataFrame) -> None:
    assert season_order(table.sample(frac=1.0, random_state=0)) == [
        "2022-SA",
        "2022-AW",
        "2023-WS",
        "2023-SA",
        "2023-AW",
        "2024-WS",
        "2024-SA",
        "2024-AW",
    ]


def test_missing_label_column_is_named(table: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match=r"no label column 'label_blast_h7'.*'blast'"):
        run_backtest(table, spec(pest="blast"))


def test_labels_other_than_one_zero_nan_are_refused(table: pd.DataFrame) -> None:
    bad = table.copy()
    bad.loc[5, "label_bph_h7"] = 2.0
    with pytest.raises(ModelError, match=r"must hold 1, 0 or NaN; found \[2.0\].*AG-00000"):
        run_backtest(bad, spec())


def test_week_of_season_counts_from_the_nominal_season_start() -> None:
    dates = pd.Series(pd.to_datetime(["2023-11-01", "2024-01-03", "2024-03-16", "2024-08-15"]))
    seasons = rice_season(dates)  # 2024-WS starts on 1 Nov 2023
    assert week_of_season(dates, seasons).tolist() == [0, 9, 0, 2]


def test_season_type_refuses_unknown_labels() -> None:
    assert season_type("2023-AW") == "AW"
    with pytest.raises(ModelError, match="'2023-dry'"):
        season_type("2023-dry")


@pytest.mark.parametrize("horizon", [7, 14])
def test_split_holds_out_the_latest_complete_season_and_trains_on_earlier_ones(
    table: pd.DataFrame, horizon: int
) -> None:
    train, validation = season_split(table, pest="bph", horizon_days=horizon)
    assert np.intersect1d(train, validation).size == 0
    assert set(table["season"].iloc[validation]) == {"2024-SA"}  # 2024-AW is the data's last season
    held_out_start = table.loc[table["season"] == "2024-SA", "forecast_date"].min()
    assert table["forecast_date"].iloc[train].max() < held_out_start
    assert table[f"label_bph_h{horizon}"].iloc[np.concatenate([train, validation])].notna().all()


@pytest.mark.parametrize("horizon", [7, 14])
def test_no_training_label_window_reaches_the_held_out_season(
    table: pd.DataFrame, horizon: int
) -> None:
    train, _ = season_split(table, pest="bph", horizon_days=horizon)
    start = table.loc[table["season"] == "2024-SA", "forecast_date"].min()
    window_ends = table["forecast_date"].iloc[train] + pd.Timedelta(days=horizon)
    assert (window_ends < start).all()
    # The gap is real: labelled rows of earlier seasons exist inside it and were dropped.
    label = table[f"label_bph_h{horizon}"]
    in_gap = (table["forecast_date"] < start) & (
        table["forecast_date"] + pd.Timedelta(days=horizon) >= start
    )
    assert (in_gap & label.notna()).sum() > 0
    assert not np.isin(np.flatnonzero(in_gap), train).any()


def test_an_explicit_validation_season_trains_only_on_seasons_before_it(
    table: pd.DataFrame,
) -> None:
    train, validation = season_split(table, pest="bph", horizon_days=7, validation_season="2023-AW")
    assert set(table["season"].iloc[validation]) == {"2023-AW"}
    assert set(table["season"].iloc[train]) == {"2022-SA", "2022-AW", "2023-WS", "2023-SA"}


def test_default_ignores_an_unfinished_last_season() -> None:
    table = synthetic_table(n_parcels=30, start="2023-03-16", end="2024-09-20")
    _, validation = season_split(table, pest="bph", horizon_days=7)
    assert set(table["season"].iloc[validation]) == {"2024-SA"}


def test_a_single_season_is_refused_with_pest_horizon_and_what_to_do() -> None:
    table = synthetic_table(n_parcels=20, start="2023-03-20", end="2023-07-20")
    with pytest.raises(ModelError, match=r"label_bph_h7.*bph.*7 d.*two labelled seasons"):
        season_split(table, pest="bph", horizon_days=7)


def test_unknown_validation_season_is_named(table: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match=r"'2031-SA' has no labelled rows; choose one of"):
        season_split(table, pest="bph", horizon_days=7, validation_season="2031-SA")


def test_the_earliest_season_cannot_be_held_out(table: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match="earliest labelled season"):
        season_split(table, pest="bph", horizon_days=7, validation_season="2022-SA")


def test_a_held_out_season_without_positives_is_refused(table: pd.DataFrame) -> None:
    no_outbreak = table.copy()
    rows = no_outbreak["season"] == "2023-AW"
    no_outbreak.loc[rows, "label_bph_h7"] = no_outbreak.loc[rows, "label_bph_h7"].mul(0.0)
    with pytest.raises(ModelError, match=r"validation season 2023-AW.*0 positive.*both classes"):
        season_split(no_outbreak, pest="bph", horizon_days=7, validation_season="2023-AW")
