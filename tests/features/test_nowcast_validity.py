"""The nowcast columns through ``build_feature_table``: the as-of rule and the wiring.

Each as-of test fails if a column of row ``t`` (model inputs, quality columns and ``in_crop``
alike) changes when a survey reported after ``t``, a scene available after ``t`` or a trap night
read after ``t`` is added.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pestcast.features.timeseries import build_feature_table, feature_columns
from tests.features.nowcast_data import FLOODED, T, days_before, green, obs

# P0–P3 lie within 300 m of each other; P4 is 5 km away and in another district.
PARCELS = pd.DataFrame(
    {
        "parcel_id": ["P0", "P1", "P2", "P3", "P4"],
        "commune": ["Vĩnh Trạch"] * 4 + ["Vĩnh Hanh"],
        "district": ["Thoại Sơn"] * 4 + ["Châu Thành"],
        "x": [0.0, 100.0, 200.0, 0.0, 5000.0],
        "y": [0.0, 0.0, 0.0, 100.0, 0.0],
    }
)
OBSERVATIONS = pd.DataFrame(
    [obs(p, days_before(45), FLOODED) for p in PARCELS["parcel_id"]]
    + [obs(p, days_before(20), green(0.6, ndre=0.30)) for p in ("P0", "P1", "P2", "P3")]
    + [obs(p, days_before(10), green(0.7, ndre=0.35)) for p in ("P0", "P1", "P2", "P3")]
    + [
        obs(p, days_before(3), green(0.7, ndre=v))
        for p, v in zip(["P0", "P1", "P2", "P3"], (0.2, 0.4, 0.41, 0.42), strict=True)
    ]
)
SURVEYS = pd.DataFrame(
    {
        "parcel_id": ["P1", "P2", "P4", "P0"],
        "survey_date": [days_before(9), days_before(2), days_before(2), T + pd.Timedelta(days=60)],
        "report_date": [days_before(8), days_before(1), days_before(1), T + pd.Timedelta(days=61)],
        "pest": ["bph", "blast", "bph", "bph"],
        "severity": ["medium", "light", "none", "none"],  # the last only marks the record's end
    }
)
TRAPS = pd.DataFrame(
    {
        "station_id": "S1",
        "district": "Thoại Sơn",
        "date": pd.date_range(days_before(20), days_before(1), freq="D"),
        "bph_count": np.arange(20) * 10,
    }
)


def weather() -> pd.DataFrame:
    days = pd.date_range("2023-12-01", "2024-03-31", freq="D")
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "commune": commune,
                    "date": days,
                    "tmin_c": 23.0,
                    "tmax_c": 32.0,
                    "rh_mean_pct": 82.0,
                    "rh_max_pct": 96.0,
                    "rain_mm": 1.0,
                }
            )
            for commune in ("Vĩnh Trạch", "Vĩnh Hanh")
        ],
        ignore_index=True,
    )


def build(
    observations: pd.DataFrame = OBSERVATIONS,
    surveys: pd.DataFrame = SURVEYS,
    traps: pd.DataFrame | None = TRAPS,
    dates: tuple[pd.Timestamp, ...] = (T,),
) -> pd.DataFrame:
    return build_feature_table(
        observations, PARCELS, weather(), surveys, forecast_dates=list(dates), light_traps=traps
    )


def at(table: pd.DataFrame, date: pd.Timestamp = T) -> pd.DataFrame:
    """Every column of row ``date`` but the labels (they look ahead on purpose)."""
    rows = table.loc[table["forecast_date"] == date]
    return rows.loc[:, ~rows.columns.str.startswith("label_")].reset_index(drop=True)


def test_new_columns_are_in_the_table_and_in_crop_is_no_model_input() -> None:
    table = build()
    p0 = table.set_index("parcel_id").loc["P0"]
    assert p0["ndre_vs_nbr"] == pytest.approx(0.2 - 0.41)
    assert p0["ndre_vs_trend"] == pytest.approx(0.2 - 0.385, abs=1e-6)  # 0.30 → 0.35 in 10 days
    assert p0["in_crop"] == 1.0
    assert p0["survey_field_bph"] > 0
    assert p0["trap_bph_log_7d"] == pytest.approx(np.log1p(np.mean(np.arange(13, 20) * 10)))
    assert np.isfinite(table.set_index("parcel_id").loc["P4"]["trap_bph_log_7d"])  # fallback
    inputs = feature_columns(table)
    assert "in_crop" not in feature_columns(table, include_quality=True)
    assert "survey_field_weight_bph" not in inputs
    assert {"ndre_vs_trend", "ndre_vs_nbr", "ndre_std_last", "survey_field_blast"} <= set(inputs)


def test_without_light_traps_or_districts_the_trap_columns_are_nan() -> None:
    table = build(traps=None)
    assert table["trap_bph_log_7d"].isna().all()
    no_districts = build_feature_table(
        OBSERVATIONS,
        PARCELS.drop(columns="district"),
        weather(),
        SURVEYS,
        forecast_dates=[T],
        light_traps=TRAPS,
    )
    assert no_districts["trap_bph_log_7d"].notna().all()  # every parcel reads all the traps


def test_survey_reported_after_t_changes_nothing_at_t() -> None:
    late = pd.DataFrame(
        {
            "parcel_id": ["P3", "P4"],
            "survey_date": [T, days_before(1)],
            "report_date": [T + pd.Timedelta(days=1), T + pd.Timedelta(days=2)],
            "pest": ["bph", "blast"],
            "severity": ["heavy", "heavy"],
        }
    )
    with_late = build(surveys=pd.concat([SURVEYS, late], ignore_index=True))
    pd.testing.assert_frame_equal(at(with_late), at(build()))
    on_time = build(surveys=pd.concat([SURVEYS, late.assign(report_date=T)], ignore_index=True))
    assert not at(on_time)["survey_field_weight_bph"].equals(at(build())["survey_field_weight_bph"])


def test_scene_available_after_t_changes_nothing_at_t() -> None:
    # A neighbour's scene of the same day as P0's latest, published after t (reprocessed), and a
    # new scene acquired on t but published after local midnight.
    late = pd.DataFrame(
        [
            obs("P0", days_before(1), green(0.2, ndre=0.05), available="2024-02-05 18:00"),
            obs("P1", T, FLOODED, available="2024-02-05 17:30"),
        ]
    )
    with_late = build(
        pd.concat([OBSERVATIONS, late], ignore_index=True), dates=(T, T + pd.Timedelta(days=7))
    )
    without = build(dates=(T, T + pd.Timedelta(days=7)))
    pd.testing.assert_frame_equal(at(with_late), at(without))
    later = at(with_late, T + pd.Timedelta(days=7)).set_index("parcel_id")
    assert later.loc["P0"]["ndre_vs_trend"] < -0.1  # seen a week later


def test_trap_night_read_after_t_changes_nothing_at_t() -> None:
    tonight = pd.DataFrame(
        {"station_id": ["S1"], "district": ["Thoại Sơn"], "date": [T], "bph_count": [50_000]}
    )
    with_tonight = build(traps=pd.concat([TRAPS, tonight], ignore_index=True))
    pd.testing.assert_frame_equal(at(with_tonight), at(build()))
