"""Forecast weather features: hand-checked windows, and as-of tests that can fail (a run issued
after t, the realised weather) on a tiny hand-made forecast table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pestcast.core.errors import DataError
from pestcast.features.timeseries import build_feature_table, feature_columns
from pestcast.features.weather_forecast import (
    FORECAST_QUALITY_FEATURES,
    forecast_feature_names,
    forecast_weather_features,
)
from tests.features.test_timeseries import OBSERVATIONS, PARCELS, SURVEYS, T, weather

RAIN_BY_LEAD = [0.0, 2.0, 0.5, 4.0, 1.0, 0.0, 6.0, 3.0, 0.0, 1.5, 2.0, 0.0, 8.0, 1.0]
"""Rain (mm) of every run at leads 1 … 14: runs differ only in their issue date."""


def run(issued: str, commune: str = "Long Kiến", *, extra_mm: float = 0.0) -> pd.DataFrame:
    """One forecast run: 14 valid days, 22–32 °C rising 0.1 °C a lead, 80 % humidity."""
    leads = np.arange(1, 15)
    day = pd.Timestamp(issued)
    return pd.DataFrame(
        {
            "issued": day,
            "valid_date": day + pd.to_timedelta(leads, unit="D"),
            "lead_days": leads,
            "commune": commune,
            "tmin_c": 22.0 + 0.1 * leads,
            "tmax_c": 32.0 + 0.1 * leads,
            "rh_mean_pct": 80.0,
            "rain_mm": np.asarray(RAIN_BY_LEAD) + extra_mm,
        }
    )


def runs(*issued: str) -> pd.DataFrame:
    return pd.concat([run(day) for day in issued], ignore_index=True)


def features(table: pd.DataFrame | None, date: str = "2024-02-05") -> pd.Series:
    rows = forecast_weather_features(table, [pd.Timestamp(date)], ["Long Kiến"])
    return rows.iloc[0]


def test_window_features_by_hand() -> None:
    row = features(runs("2024-02-04", "2024-02-05"))
    assert row["fcst_issue_age_days"] == 0
    assert row["fcst_rain_sum_7d"] == pytest.approx(sum(RAIN_BY_LEAD[:7]))
    assert row["fcst_rain_sum_14d"] == pytest.approx(sum(RAIN_BY_LEAD))
    assert row["fcst_wet_days_7d"] == 4  # 2.0, 4.0, 1.0 and 6.0 mm: rain ≥ 1 mm
    assert row["fcst_wet_days_14d"] == 9
    assert row["fcst_tmean_mean_7d"] == pytest.approx(27.0 + 0.1 * 4)  # leads 1–7, mean lead 4
    assert row["fcst_tmean_mean_14d"] == pytest.approx(27.0 + 0.1 * 7.5)
    assert row["fcst_rh_mean_7d"] == pytest.approx(80.0)


def test_a_missed_run_uses_the_one_before_and_says_how_old() -> None:
    row = features(runs("2024-02-02", "2024-02-03"))  # no runs on 4 and 5 February
    assert row["fcst_issue_age_days"] == 2
    assert row["fcst_rain_sum_7d"] == pytest.approx(sum(RAIN_BY_LEAD[2:9]))  # leads 3–9
    # leads 3–14 cover 12 of the 14 days: their mean, scaled to 14 days
    assert row["fcst_rain_sum_14d"] == pytest.approx(np.mean(RAIN_BY_LEAD[2:]) * 14)
    stale = features(runs("2024-01-27"))  # 9 days old: leads 10–14 cover 5 of 7 days
    assert stale["fcst_issue_age_days"] == 9
    assert stale["fcst_rain_sum_7d"] == pytest.approx(np.mean(RAIN_BY_LEAD[9:]) * 7)
    assert np.isnan(stale["fcst_rain_sum_14d"])  # 5 of 14 days: fewer than half
    assert np.isnan(features(runs("2024-01-10"))["fcst_rain_sum_7d"])


def test_a_run_issued_after_t_is_never_used() -> None:
    known = runs("2024-02-04", "2024-02-05")
    later = pd.concat([known, run("2024-02-06", extra_mm=50.0)], ignore_index=True)
    pd.testing.assert_series_equal(features(later), features(known))
    assert features(later, "2024-02-06")["fcst_rain_sum_7d"] > 350  # known from its issue day
    first = features(runs("2024-02-06"))
    assert np.isnan(first["fcst_issue_age_days"])
    assert np.isnan(first["fcst_rain_sum_7d"])


def test_no_forecasts_other_commune_or_no_humidity_give_nan() -> None:
    table = runs("2024-02-05")
    assert features(None).isna().loc[forecast_feature_names((7, 14))].all()
    other = forecast_weather_features(table, [pd.Timestamp("2024-02-05")], ["Mỹ Hòa Hưng"])
    assert other[forecast_feature_names((7, 14))].isna().all().all()
    dry_air = features(table.drop(columns="rh_mean_pct"))
    assert np.isnan(dry_air["fcst_rh_mean_7d"])
    assert dry_air["fcst_rain_sum_7d"] == pytest.approx(sum(RAIN_BY_LEAD[:7]))


def test_repeated_rows_and_missing_columns_are_refused() -> None:
    table = runs("2024-02-05")
    with pytest.raises(DataError, match=r"more than one row for commune 'Long Kiến'.*2024-02-05"):
        features(pd.concat([table, table.iloc[:1]]))
    with pytest.raises(DataError, match="lacks column"):
        features(table.drop(columns="rain_mm"))


def build(weather_table: pd.DataFrame, forecasts: pd.DataFrame | None) -> pd.DataFrame:
    return build_feature_table(
        OBSERVATIONS,
        PARCELS,
        weather_table,
        SURVEYS,
        forecast_dates=[T, T + pd.Timedelta(days=7)],
        weather_forecasts=forecasts,
    )


def test_feature_table_spreads_forecasts_to_parcels_and_never_reads_realised_weather() -> None:
    forecasts = runs(*(f"2024-02-{day:02d}" for day in range(1, 13)))
    table = build(weather(), forecasts)
    other_weather = weather().assign(rain_mm=30.0, tmin_c=27.0, tmax_c=36.0, rh_mean_pct=95.0)
    changed = build(other_weather, forecasts)
    names = forecast_feature_names((7, 14))
    pd.testing.assert_frame_equal(table[names], changed[names])
    assert not table["rain_sum_7d"].equals(changed["rain_sum_7d"])  # the weather did change
    long_kien = table[table["commune"] == "Long Kiến"]
    assert (long_kien["fcst_rain_sum_7d"] == np.float32(sum(RAIN_BY_LEAD[:7]))).all()
    assert table.loc[table["commune"] == "Mỹ Hòa Hưng", names].isna().all().all()
    without = build(weather(), None)
    assert without[names].isna().all().all()
    assert "fcst_rain_sum_7d" in feature_columns(table)
    assert not set(FORECAST_QUALITY_FEATURES) & set(feature_columns(table))
    assert set(FORECAST_QUALITY_FEATURES) <= set(feature_columns(table, include_quality=True))
