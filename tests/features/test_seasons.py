"""Rice-season labels at the calendar boundaries, their order, and day numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pestcast.core.errors import DataError
from pestcast.features.seasons import (
    day_numbers,
    rice_season,
    season_end,
    season_start,
    sorted_seasons,
)


@pytest.mark.parametrize(
    ("date", "season"),
    [
        ("2022-10-31", "2022-AW"),
        ("2022-11-01", "2023-WS"),
        ("2022-12-31", "2023-WS"),
        ("2023-01-01", "2023-WS"),
        ("2023-03-15", "2023-WS"),
        ("2023-03-16", "2023-SA"),
        ("2023-07-31", "2023-SA"),
        ("2023-08-01", "2023-AW"),
        ("2024-02-29", "2024-WS"),
    ],
)
def test_season_boundaries(date: str, season: str) -> None:
    assert rice_season([pd.Timestamp(date)]).tolist() == [season]


def test_series_index_is_kept_and_missing_dates_stay_missing() -> None:
    dates = pd.Series(pd.DatetimeIndex(["2023-05-01", pd.NaT, "2023-09-01"]), index=[7, 8, 9])
    seasons = rice_season(dates)
    assert seasons.index.tolist() == [7, 8, 9]
    assert seasons[7] == "2023-SA"
    assert pd.isna(seasons[8])
    assert seasons[9] == "2023-AW"


def test_every_day_of_a_season_maps_back_to_it() -> None:
    for label in ("2023-WS", "2023-SA", "2023-AW"):
        days = pd.date_range(season_start(label), season_end(label), freq="D")
        assert set(rice_season(days)) == {label}
        assert season_start(label) - pd.Timedelta(days=1) not in days


def test_start_and_end_by_hand() -> None:
    assert season_start("2023-WS") == pd.Timestamp("2022-11-01")
    assert season_end("2023-WS") == pd.Timestamp("2023-03-15")
    assert season_start("2023-SA") == pd.Timestamp("2023-03-16")
    assert season_end("2023-AW") == pd.Timestamp("2023-10-31")


def test_seasons_sort_chronologically_not_alphabetically() -> None:
    labels = ["2024-WS", "2023-AW", "2023-SA", "2023-WS", "2023-SA", None]
    assert sorted_seasons(labels) == ["2023-WS", "2023-SA", "2023-AW", "2024-WS"]  # type: ignore[arg-type]


@pytest.mark.parametrize("label", ["2023-ws", "2023WS", "23-SA", "2023-DS"])
def test_bad_label_is_a_data_error(label: str) -> None:
    with pytest.raises(DataError, match="YYYY-WS"):
        season_start(label)


def test_day_numbers_ignore_resolution_and_time_of_day() -> None:
    stamps = pd.Series(pd.to_datetime(["1970-01-02 23:59", "2024-01-01 00:00"])).astype(
        "datetime64[s]"
    )
    np.testing.assert_array_equal(day_numbers(stamps), [1, 19723])
    with pytest.raises(DataError, match="NaT"):
        day_numbers([pd.NaT])
    with pytest.raises(DataError, match="timezone-naive"):
        day_numbers(pd.Series(pd.to_datetime(["2024-01-01"], utc=True)))
