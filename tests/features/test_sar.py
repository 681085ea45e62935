"""Sentinel-1 features: linear means then dB, as-of availability, the change lag, and the table."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pestcast.core.errors import DataError
from pestcast.features.sar import (
    SAR_OBSERVATION_COLUMNS,
    linear_to_db,
    parcel_backscatter,
    sar_feature_names,
    sar_features,
)
from pestcast.features.settings import DEFAULT_FEATURE_SETTINGS
from pestcast.features.timeseries import build_feature_table, feature_columns
from tests.features.test_timeseries import OBSERVATIONS, PARCELS, SURVEYS, T, row, weather

ZONE = "Asia/Ho_Chi_Minh"
PARCEL_IDS = pd.Index(["A", "B"])


def radar(
    parcel: str,
    acquired: str,
    vv: float,
    vh: float,
    *,
    available: str | None = None,
    n_valid_px: int = 40,
) -> dict[str, Any]:
    """One parcel's scene, acquired 18:05 local (11:05 UTC), available a day later."""
    acquired_utc = pd.Timestamp(f"{acquired} 11:05", tz="UTC")
    available_utc = (
        pd.Timestamp(available, tz="UTC") if available else acquired_utc + pd.Timedelta(days=1)
    )
    return {
        "parcel_id": parcel,
        "scene_id": f"S1A_{acquired}",
        "acquired_utc": acquired_utc,
        "available_utc": available_utc,
        "n_valid_px": n_valid_px,
        "vv_linear_mean": vv,
        "vh_linear_mean": vh,
        "vv_db": float(linear_to_db(vv)),
        "vh_db": float(linear_to_db(vh)),
    }


def features(
    table: pd.DataFrame | None, *dates: str, **settings: Any
) -> dict[str, np.ndarray[Any, Any]]:
    return sar_features(
        table,
        parcel_ids=PARCEL_IDS,
        forecast_dates=pd.DatetimeIndex(list(dates)),
        settings=replace(DEFAULT_FEATURE_SETTINGS, **settings),
        timezone=ZONE,
    )


def test_linear_power_to_db() -> None:
    np.testing.assert_allclose(linear_to_db([0.01, 1.0, 0.5]), [-20.0, 0.0, -3.0103], atol=1e-4)
    assert np.isnan(linear_to_db([0.0, -1.0, np.nan, np.inf])).all()


def test_parcel_means_average_linear_power_never_db() -> None:
    labels = np.array([[1, 1, 2, 0], [1, 1, 2, 2]], dtype=np.int32)
    vv = np.array([[0.1, 0.001, 0.02, 9.0], [0.1, 0.001, 0.02, 0.0]], dtype=np.float32)
    vh = np.array([[0.01, 0.0001, 0.002, 9.0], [0.01, 0.0001, 0.002, 0.002]], dtype=np.float32)

    table = parcel_backscatter({"vv": vv, "vh": vh}, labels, n_parcels=3)

    # parcel 1: the dB of the mean power (−12.97 dB), not the mean of dB (−20 dB)
    assert table["n_valid_px"].tolist() == [4, 2, 0]  # VV 0 (nodata) drops a pixel of parcel 2
    assert table["vv_linear_mean"][0] == pytest.approx(0.0505, rel=1e-6)
    assert table["vv_db"][0] == pytest.approx(10 * np.log10(0.0505), abs=1e-6)
    assert table["vh_db"][1] == pytest.approx(10 * np.log10(0.002), abs=1e-5)
    assert np.isnan(table.loc[2, ["vv_linear_mean", "vh_linear_mean", "vv_db", "vh_db"]]).all()


def test_a_scene_available_after_the_forecast_date_is_not_used() -> None:
    table = pd.DataFrame(
        [
            radar("A", "2024-03-01", 0.10, 0.010),
            radar("A", "2024-03-09", 0.12, 0.020, available="2024-03-12 02:00"),  # 09:00 local
        ]
    )

    got = features(table, "2024-03-11", "2024-03-12")

    assert got["vh_db_last"][:, 0] == pytest.approx([-20.0, 10 * np.log10(0.02)])
    assert got["days_since_sar_obs"][:, 0].tolist() == [10.0, 3.0]
    assert got["vh_vv_db_last"][0, 0] == pytest.approx(-10.0)
    assert np.isnan(got["vh_db_last"][:, 1]).all()  # parcel B has no scene


def test_vh_change_is_against_the_scene_l_to_2l_days_before_the_latest() -> None:
    days = ["2024-03-01", "2024-03-13", "2024-03-25", "2024-04-06"]
    powers = [0.001, 0.002, 0.004, 0.008]
    table = pd.DataFrame([radar("A", day, 0.1, vh) for day, vh in zip(days, powers, strict=True)])

    default = features(table, "2024-04-10")
    one_revisit = features(table, "2024-04-10", sar_change_lag_days=12)
    too_far = features(table, "2024-04-10", sar_change_lag_days=40)

    assert default["vh_db_change_24d"][0, 0] == pytest.approx(10 * np.log10(4), abs=1e-9)
    assert one_revisit["vh_db_change_12d"][0, 0] == pytest.approx(10 * np.log10(2), abs=1e-9)
    assert np.isnan(too_far["vh_db_change_40d"][0, 0])  # no scene 40–80 days before


def test_scenes_with_few_valid_pixels_or_outside_the_lookback_are_not_used() -> None:
    table = pd.DataFrame(
        [
            radar("A", "2023-09-01", 0.1, 0.01),
            radar("B", "2024-03-01", 0.1, 0.01, n_valid_px=9),
        ]
    )

    got = features(table, "2024-03-04")

    assert np.isnan(got["vv_db_last"]).all()


def test_without_radar_every_radar_column_is_nan() -> None:
    got = features(None, "2024-03-04", "2024-03-11")

    assert tuple(got) == sar_feature_names(DEFAULT_FEATURE_SETTINGS)
    assert "vh_db_change_24d" in got
    assert all(values.shape == (2, 2) and np.isnan(values).all() for values in got.values())


def test_availability_before_acquisition_is_refused() -> None:
    table = pd.DataFrame([radar("A", "2024-03-01", 0.1, 0.01, available="2024-02-28")])

    with pytest.raises(DataError, match="available before they were acquired"):
        features(table, "2024-03-04")


def test_the_feature_table_carries_the_radar_columns() -> None:
    table = pd.DataFrame(
        [radar("P0", "2024-02-01", 0.1, 0.02), radar("P0", "2024-01-08", 0.1, 0.005)]
    )

    built = build_feature_table(
        OBSERVATIONS, PARCELS, weather(), SURVEYS, forecast_dates=[T], sar_observations=table
    )
    without = build_feature_table(OBSERVATIONS, PARCELS, weather(), SURVEYS, forecast_dates=[T])

    assert row(built, "P0")["vh_db_last"] == pytest.approx(10 * np.log10(0.02), abs=1e-5)
    assert row(built, "P0")["vh_db_change_24d"] == pytest.approx(6.0206, abs=1e-3)
    assert row(built, "P0")["days_since_sar_obs"] == 4
    assert np.isnan(row(built, "P1")["vh_db_last"])
    assert without[list(sar_feature_names())].isna().all().all()
    assert "vh_db_last" in feature_columns(built)
    assert "days_since_sar_obs" not in feature_columns(built)  # a data-quality column
    assert set(SAR_OBSERVATION_COLUMNS) == set(table.columns)
