"""Weather window features: the forecast day is never used; daily drivers by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pestcast.core.errors import DataError
from pestcast.features.weather import blast_rct, blast_wet_day, degree_days, weather_features


def test_degree_days_above_ten_degrees_by_hand() -> None:
    temperatures = [5, 10, 20, 28.5, 40, np.nan]
    np.testing.assert_allclose(degree_days(temperatures), [0, 0, 10, 18.5, 30, np.nan])


def test_epirice_rct_by_hand() -> None:
    np.testing.assert_allclose(
        blast_rct([5, 10, 17.5, 20, 22.5, 30, 32.5, 50, np.nan]),
        [0, 0, 0.75, 1.0, 0.8, 0.2, 0.125, 0, np.nan],
    )


def test_blast_wet_day() -> None:
    np.testing.assert_array_equal(
        blast_wet_day([95, 80, 80, np.nan, np.nan], [0, 5, 4.9, 6, 1]), [1, 1, 0, 1, np.nan]
    )


def daily(days: int = 20) -> pd.DataFrame:
    dates = pd.date_range("2024-01-01", periods=days, freq="D")
    return pd.DataFrame(
        {
            "commune": "Long Kiến",
            "date": dates,
            "tmin_c": 20.0,
            "tmax_c": 30.0,  # mean 25 °C: 15 degree-days and RcT 0.6 a day
            "rh_mean_pct": 80.0,
            "rh_max_pct": 85.0,
            "rain_mm": 0.0,
        }
    )


def test_window_ends_the_day_before_the_forecast_date() -> None:
    weather = daily()
    weather.loc[weather["date"] == "2024-01-14", "rain_mm"] = 10.0
    weather.loc[weather["date"] == "2024-01-15", ["rain_mm", "rh_max_pct"]] = [30.0, 99.0]
    table = weather_features(weather, pd.to_datetime(["2024-01-15", "2024-01-16"]))
    first, second = table.iloc[0], table.iloc[1]
    assert first["forecast_date"] == pd.Timestamp("2024-01-15")
    assert first["rain_sum_7d"] == pytest.approx(10.0)
    assert first["rainy_days_7d"] == pytest.approx(1.0)
    assert first["blast_wet_days_7d"] == pytest.approx(1.0)
    assert first["rh_max_mean_7d"] == pytest.approx(85.0)
    assert second["rain_sum_7d"] == pytest.approx(40.0)
    assert second["blast_wet_days_14d"] == pytest.approx(2.0)
    assert first["degree_days_14d"] == pytest.approx(14 * 15.0)
    assert first["hot_days_14d"] == pytest.approx(0.0)
    assert first["blast_rct_mean_7d"] == pytest.approx(0.6)
    assert first["tmin_mean_7d"] == pytest.approx(20.0)


def test_missing_days_scale_sums_and_too_few_days_give_nan() -> None:
    weather = daily()
    weather["rain_mm"] = 2.0
    weather = weather[weather["date"] != "2024-01-12"]
    table = weather_features(weather, pd.to_datetime(["2024-01-15", "2024-01-05"]))
    assert table["rain_sum_7d"].iloc[0] == pytest.approx(14.0)  # 6 days of 2 mm, scaled to 7
    assert table["rainy_days_7d"].iloc[0] == pytest.approx(7.0)
    # On 5 Jan only 1–4 Jan exist: 4 of 7 days is enough, 4 of 14 is not.
    assert table["rain_sum_7d"].iloc[1] == pytest.approx(14.0)
    assert np.isnan(table["rain_sum_14d"].iloc[1])


def test_one_row_per_commune_and_date() -> None:
    other = daily().assign(commune="Mỹ Hòa Hưng", tmin_c=22.0)
    table = weather_features(pd.concat([daily(), other]), pd.to_datetime(["2024-01-10"]))
    assert len(table) == 2
    assert table.set_index("commune")["tmin_mean_7d"].to_dict() == {
        "Long Kiến": 20.0,
        "Mỹ Hòa Hưng": 22.0,
    }


def test_duplicate_days_and_missing_columns_are_refused() -> None:
    with pytest.raises(DataError, match="more than one row"):
        weather_features(pd.concat([daily(), daily()]), pd.to_datetime(["2024-01-10"]))
    with pytest.raises(DataError, match="rain_mm"):
        weather_features(daily().drop(columns="rain_mm"), pd.to_datetime(["2024-01-10"]))


def test_hot_days_count_maxima_of_35_degrees_and_above() -> None:
    weather = daily()
    weather.loc[weather["date"] == "2024-01-10", "tmax_c"] = 35.0
    weather.loc[weather["date"] == "2024-01-12", "tmax_c"] = 34.9
    table = weather_features(weather, pd.to_datetime(["2024-01-15"]))
    assert table["hot_days_7d"].iloc[0] == pytest.approx(1.0)


def test_humid_days_in_a_row_end_the_day_before_and_a_gap_breaks_them() -> None:
    weather = daily()
    humid_days = pd.date_range("2024-01-08", "2024-01-14")
    weather.loc[weather["date"].isin(humid_days), "rh_max_pct"] = 95.0
    weather.loc[weather["date"] == "2024-01-15", "rh_max_pct"] = 99.0  # the forecast day itself
    dates = pd.to_datetime(["2024-01-15", "2024-01-10", "2024-01-08", "2024-01-18"])
    runs = weather_features(weather, dates)["humid_days_in_a_row"].tolist()
    assert runs == [7.0, 2.0, 0.0, 0.0]
    missing = weather[weather["date"] != "2024-01-11"]
    assert weather_features(missing, dates[:1])["humid_days_in_a_row"].iloc[0] == 3.0


def test_humid_days_in_a_row_are_counted_up_to_the_longest_window() -> None:
    weather = daily(40).assign(rh_max_pct=95.0)
    table = weather_features(weather, pd.to_datetime(["2024-02-05"]), windows=(7, 14))
    assert table["humid_days_in_a_row"].iloc[0] == 14.0
