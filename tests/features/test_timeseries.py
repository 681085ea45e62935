"""The feature table: hand-checked features, leakage tests that can fail, shape and speed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from pestcast.core.errors import DataError, ParcelError
from pestcast.features.timeseries import build_feature_table, feature_columns, weekly_forecast_dates

T = pd.Timestamp("2024-02-05")  # a Monday
# P0–P1–P3 lie within 400 m of each other; P2 is 5 km away.
PARCELS = pd.DataFrame(
    {
        "parcel_id": ["P0", "P1", "P2", "P3"],
        "commune": ["Long Kiến", "Long Kiến", "Long Kiến", "Mỹ Hòa Hưng"],
        "x": [0.0, 100.0, 5000.0, 0.0],
        "y": [0.0, 0.0, 0.0, 100.0],
    }
)
FLOODED = {"ndvi": 0.2, "evi": 0.2, "ndre": 0.1, "lswi": 0.3}


def obs(
    parcel: str,
    acquired: str,
    values: dict[str, float],
    *,
    n_valid_px: int = 20,
    available: str | None = None,
) -> dict[str, Any]:
    """One parcel observation; acquired 10:30 local, available the same evening (UTC)."""
    acquired_utc = pd.Timestamp(f"{acquired} 03:30", tz="UTC")
    available_utc = (
        pd.Timestamp(available, tz="UTC") if available else acquired_utc + pd.Timedelta(hours=8)
    )
    return {
        "parcel_id": parcel,
        "scene_id": f"S2_{acquired}",
        "acquired_utc": acquired_utc,
        "available_utc": available_utc,
        "n_px": 30,
        "n_valid_px": n_valid_px,
        **{f"{name}_mean": np.float32(value) for name, value in values.items()},
        **{f"{name}_std": np.float32(0.01) for name in values},
    }


def crop(ndvi: float) -> dict[str, float]:
    return {"ndvi": ndvi, "evi": ndvi * 0.8, "ndre": ndvi * 0.5, "lswi": 0.1}


OBSERVATIONS = pd.DataFrame(
    [
        obs("P0", "2024-01-01", FLOODED),
        obs("P0", "2024-01-11", crop(0.4)),
        obs("P0", "2024-01-21", crop(0.6)),
        obs("P0", "2024-01-31", crop(0.7)),
        obs("P0", "2024-02-03", crop(0.1), n_valid_px=2),  # too few clear pixels
        obs("P1", "2024-01-21", FLOODED),
        obs("P3", "2024-01-31", FLOODED),
    ]
)


def weather(first: str = "2024-01-01", last: str = "2024-03-31") -> pd.DataFrame:
    days = pd.date_range(first, last, freq="D")
    frames = [
        pd.DataFrame(
            {
                "commune": commune,
                "date": days,
                "tmin_c": 22.0,
                "tmax_c": 32.0,
                "rh_mean_pct": 80.0,
                "rh_max_pct": 95.0,
                "rain_mm": 0.0,
            }
        )
        for commune in ("Long Kiến", "Mỹ Hòa Hưng")
    ]
    return pd.concat(frames, ignore_index=True)


# The last row only marks where the survey record ends (labels need the whole window surveyed).
SURVEYS = pd.DataFrame(
    {
        "parcel_id": ["P1", "P0", "P2"],
        "survey_date": pd.to_datetime(["2024-02-01", "2024-02-08", "2024-06-03"]),
        "report_date": pd.to_datetime(["2024-02-02", "2024-02-09", "2024-06-04"]),
        "pest": ["bph", "bph", "bph"],
        "severity": ["heavy", "light", "none"],
    }
)


def build(
    observations: pd.DataFrame = OBSERVATIONS,
    surveys: pd.DataFrame = SURVEYS,
    weather_table: pd.DataFrame | None = None,
    dates: Any = (T,),
) -> pd.DataFrame:
    return build_feature_table(
        observations,
        PARCELS,
        weather() if weather_table is None else weather_table,
        surveys,
        forecast_dates=list(dates),
    )


def row(table: pd.DataFrame, parcel: str, date: pd.Timestamp = T) -> pd.Series:
    selected = table[(table["parcel_id"] == parcel) & (table["forecast_date"] == date)]
    assert len(selected) == 1
    return selected.iloc[0]


def test_imagery_features_by_hand() -> None:
    p0 = row(build(), "P0")
    assert p0["ndvi_last"] == pytest.approx(0.7)
    assert p0["evi_last"] == pytest.approx(0.56)
    assert p0["days_since_clear_obs"] == 5  # 31 Jan; the 3 Feb scene has too few pixels
    assert p0["last_obs_valid_px"] == 20
    assert p0["ndvi_change_15d"] == pytest.approx(0.1)  # latest in [6 Jan, 21 Jan]: 0.6
    assert p0["ndvi_change_30d"] == pytest.approx(0.5)  # latest in [7 Dec, 6 Jan]: 0.2
    assert p0["days_since_flooding"] == 35
    assert p0["ndvi_max_crop"] == pytest.approx(0.7)
    assert p0["ndvi_drop_from_crop_max"] == pytest.approx(0.0)
    p2 = row(build(), "P2")
    assert p2[["ndvi_last", "days_since_clear_obs", "days_since_flooding"]].isna().all()


def test_neighbour_asynchrony_by_hand() -> None:
    table = build()
    p0, p1, p2 = row(table, "P0"), row(table, "P1"), row(table, "P2")
    # P0's neighbours P1 and P3 flooded 15 and 5 days ago; P1's are P0 (35) and P3 (5).
    assert p0["nbr_count"] == 2
    assert p2["nbr_count"] == 0
    assert p0["nbr_days_since_flooding_std"] == pytest.approx(5.0)
    assert p1["nbr_days_since_flooding_std"] == pytest.approx(15.0)
    assert p0["nbr_flooded_share_30d"] == pytest.approx(1.0)
    assert p1["nbr_flooded_share_30d"] == pytest.approx(0.5)
    assert np.isnan(p2["nbr_flooded_share_30d"])
    # Neighbours never seen clearly are unknown, not "not flooded".
    assert np.isnan(row(build(OBSERVATIONS.iloc[:0]), "P0")["nbr_flooded_share_30d"])


def test_weather_and_calendar_features_by_hand() -> None:
    p0 = row(build(), "P0")
    assert p0["season"] == "2024-WS"
    assert p0["days_into_season"] == 96  # 1 Nov 2023 → 5 Feb 2024
    assert p0["tmax_mean_7d"] == pytest.approx(32.0)
    assert p0["degree_days_14d"] == pytest.approx(14 * 17.0)  # mean 27 °C
    assert p0["blast_wet_days_7d"] == pytest.approx(7.0)
    assert p0["rain_sum_14d"] == pytest.approx(0.0)


def test_survey_features_and_labels_by_hand() -> None:
    table = build()
    p0, p1 = row(table, "P0"), row(table, "P1")
    assert p1["last_severity_bph"] == 3
    assert p1["days_since_survey_bph"] == 4
    assert np.isnan(p0["last_severity_bph"])
    assert p0["nbr_infested_share_bph"] == pytest.approx(1.0)
    assert p0["commune_infested_share_bph"] == pytest.approx(1.0)
    assert p0["label_bph_h7"] == 1.0
    assert np.isnan(p1["label_bph_h7"])
    assert np.isnan(p0["label_blast_h14"])


# --- leakage: each of these fails if the rule "only what is available at t" is broken -------


def features_of(table: pd.DataFrame, date: pd.Timestamp = T) -> pd.DataFrame:
    return table.loc[table["forecast_date"] == date, feature_columns(table)].reset_index(drop=True)


def test_scene_available_the_day_after_t_does_not_change_row_t() -> None:
    # Acquired on t, published 18:00 UTC on t = 01:00 local on t + 1.
    late = obs("P0", "2024-02-05", FLOODED, available="2024-02-05 18:00")
    dates = (T, T + pd.Timedelta(days=7))
    with_late = build(pd.concat([OBSERVATIONS, pd.DataFrame([late])]), dates=dates)
    without = build(dates=dates)
    pd.testing.assert_frame_equal(features_of(with_late), features_of(without))
    next_week = T + pd.Timedelta(days=7)
    assert row(with_late, "P0", next_week)["days_since_flooding"] == 7  # seen a week later


def test_scene_published_after_t_counts_from_its_publication_day() -> None:
    # Acquired 3 days before t but published on t + 1 (e.g. reprocessed): invisible at t.
    late = obs("P0", "2024-02-02", crop(0.0), available="2024-02-06 02:00")
    dates = (T, T + pd.Timedelta(days=7))
    with_late = build(pd.concat([OBSERVATIONS, pd.DataFrame([late])]), dates=dates)
    pd.testing.assert_frame_equal(features_of(with_late), features_of(build(dates=dates)))
    later = row(with_late, "P0", dates[1])
    assert later["ndvi_last"] == pytest.approx(0.0)
    assert later["days_since_clear_obs"] == 10  # age from acquisition, not publication
    assert later["ndvi_change_15d"] == pytest.approx(-0.6)  # against 21 Jan


def test_survey_reported_after_t_does_not_change_features_at_t() -> None:
    reported_late = pd.DataFrame(
        [
            {
                "parcel_id": "P2",
                "survey_date": T,
                "report_date": T + pd.Timedelta(days=1),
                "pest": "bph",
                "severity": "heavy",
            }
        ]
    )
    late = build(surveys=pd.concat([SURVEYS, reported_late], ignore_index=True))
    pd.testing.assert_frame_equal(features_of(late), features_of(build()))
    on_time = reported_late.assign(report_date=T)
    now = build(surveys=pd.concat([SURVEYS, on_time], ignore_index=True))
    assert row(now, "P2")["last_severity_bph"] == 3  # the same survey reported on t is used


def test_survey_three_days_ahead_sets_the_label_not_the_features() -> None:
    ahead = pd.DataFrame(
        [
            {
                "parcel_id": "P2",
                "survey_date": T + pd.Timedelta(days=3),
                "report_date": T + pd.Timedelta(days=3),
                "pest": "blast",
                "severity": "medium",
            }
        ]
    )
    table = build(surveys=pd.concat([SURVEYS, ahead], ignore_index=True))
    pd.testing.assert_frame_equal(features_of(table), features_of(build()))
    assert row(table, "P2")["label_blast_h7"] == 1.0
    assert np.isnan(row(build(), "P2")["label_blast_h7"])


def test_labels_of_windows_past_the_survey_record_are_unknown() -> None:
    record_ends = SURVEYS.loc[SURVEYS["survey_date"] <= T + pd.Timedelta(days=3)]
    table = build(surveys=record_ends)  # last survey 8 Feb, t = 5 Feb
    assert np.isnan(row(table, "P0")["label_bph_h7"])
    assert np.isnan(row(table, "P0")["label_bph_h14"])
    assert row(build(), "P0")["label_bph_h7"] == 1.0


def test_weather_of_the_forecast_day_is_not_used() -> None:
    stormy = weather()
    stormy.loc[stormy["date"] >= T, ["rain_mm", "tmax_c", "rh_max_pct"]] = [80.0, 39.0, 50.0]
    pd.testing.assert_frame_equal(features_of(build(weather_table=stormy)), features_of(build()))
    stormy.loc[stormy["date"] == T - pd.Timedelta(days=1), "rain_mm"] = 80.0
    assert row(build(weather_table=stormy), "P0")["rain_sum_7d"] == pytest.approx(80.0)


# --- table shape, determinism, helpers and errors ---------------------------------------------


def test_shape_keys_order_and_determinism() -> None:
    dates = weekly_forecast_dates("2024-01-08", "2024-03-04")
    first, second = build(dates=dates), build(dates=dates)
    pd.testing.assert_frame_equal(first, second)
    assert len(first) == len(dates) * len(PARCELS)
    assert list(first.columns[:4]) == ["parcel_id", "commune", "forecast_date", "season"]
    assert first["parcel_id"].tolist()[:4] == ["P0", "P1", "P2", "P3"]
    assert not first.duplicated(["parcel_id", "forecast_date"]).any()
    assert first["forecast_date"].dtype == "datetime64[ns]"
    labels = [c for c in first.columns if c.startswith("label_")]
    assert labels == ["label_bph_h7", "label_bph_h14", "label_blast_h7", "label_blast_h14"]
    features = feature_columns(first)
    assert "last_severity_bph" in features
    assert not set(features) & {*labels, "season"}
    assert all(first[c].dtype == np.float32 for c in features)


def test_weekly_forecast_dates() -> None:
    mondays = weekly_forecast_dates("2024-01-03", "2024-01-29")
    assert [d.strftime("%Y-%m-%d") for d in mondays] == [
        "2024-01-08",
        "2024-01-15",
        "2024-01-22",
        "2024-01-29",
    ]
    fridays = weekly_forecast_dates(pd.Timestamp("2024-01-05").date(), "2024-01-12", weekday=4)
    assert list(fridays) == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-12")]
    with pytest.raises(DataError, match="weekday"):
        weekly_forecast_dates("2024-01-01", "2024-02-01", weekday=7)


def test_input_errors_name_what_to_fix() -> None:
    with pytest.raises(DataError, match="Mỹ Hòa Hưng"):
        build(weather_table=weather().query("commune != 'Mỹ Hòa Hưng'"))
    with pytest.raises(DataError, match="lswi_mean"):
        build(observations=OBSERVATIONS.drop(columns="lswi_mean"))
    with pytest.raises(DataError, match="no forecast dates"):
        build(dates=())
    with pytest.raises(ParcelError, match="P1"):
        build_feature_table(
            OBSERVATIONS, PARCELS.replace("P0", "P1"), weather(), SURVEYS, forecast_dates=[T]
        )
