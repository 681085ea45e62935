"""Survey infestation field and light-trap catches, checked by hand and against dense math."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pestcast.core.errors import DataError
from pestcast.features.spatial_evidence import (
    gaussian_kernel_matrix,
    light_trap_features,
    survey_field_features,
    surveyed_parcels,
)
from tests.features.nowcast_data import T, days_before

PARCEL_IDS = pd.Index(["P0", "P1", "P2"])
X, Y = [0.0, 250.0, 2000.0], [0.0, 0.0, 0.0]  # P0–P1 one bandwidth apart; P2 beyond 3 bandwidths


def survey(
    parcel: str, surveyed: pd.Timestamp, reported: pd.Timestamp, severity: str
) -> dict[str, Any]:
    return {
        "parcel_id": parcel,
        "survey_date": surveyed,
        "report_date": reported,
        "pest": "bph",
        "severity": severity,
    }


SURVEYS = pd.DataFrame(
    [
        survey("P1", days_before(7), days_before(6), "light"),
        survey("P0", T, T, "none"),
        survey("P2", days_before(3), T + pd.Timedelta(days=1), "heavy"),  # reported after t
        survey("P0", days_before(25), days_before(24), "medium"),  # older than the window
    ]
)


def field(surveys: pd.DataFrame = SURVEYS) -> dict[str, np.ndarray]:
    grids = survey_field_features(
        surveys,
        parcel_ids=PARCEL_IDS,
        kernel=gaussian_kernel_matrix(X, Y, bandwidth_m=250.0),
        forecast_dates=pd.DatetimeIndex([T]),
        pests=("bph",),
        window_days=21,
        half_life_days=7.0,
    )
    return {name: grid[0] for name, grid in grids.items()}


def test_survey_field_by_hand() -> None:
    near = math.exp(-0.5)  # one bandwidth away
    result = field()
    # P0: its own survey today (none, weight 1) and P1's a week ago (light, weight ½ · near).
    assert result["survey_field_weight_bph"][0] == pytest.approx(1 + 0.5 * near)
    assert result["survey_field_bph"][0] == pytest.approx(0.5 * near / (1 + 0.5 * near))
    assert result["survey_field_bph"][1] == pytest.approx(0.5 / (0.5 + near))
    assert np.isnan(result["survey_field_bph"][2])  # the only survey near P2 is not reported yet
    assert result["survey_field_weight_bph"][2] == 0.0


def test_survey_reported_after_t_changes_nothing_and_counts_once_reported() -> None:
    before = field(SURVEYS.iloc[[0, 1, 3]])
    for name, values in field().items():
        np.testing.assert_array_equal(values, before[name], err_msg=name)
    on_time = SURVEYS.assign(
        report_date=SURVEYS["report_date"].where(SURVEYS["report_date"] <= T, T)
    )
    assert field(on_time)["survey_field_bph"][2] == pytest.approx(1.0)


def test_kernel_matches_dense_distances_and_stops_at_three_bandwidths() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0, 3000, 300), rng.uniform(0, 3000, 300)
    kernel = gaussian_kernel_matrix(x, y, bandwidth_m=200.0).toarray()
    distance = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    expected = np.where(distance <= 600.0, np.exp(-0.5 * (distance / 200.0) ** 2), 0.0)
    np.testing.assert_allclose(kernel, expected, rtol=1e-12, atol=1e-15)
    assert np.all(np.diag(kernel) == 1.0)


def trap_nights(station: str, district: str, first: int, last: int, count: int) -> pd.DataFrame:
    """One count per night from ``first`` to ``last`` days before ``T`` (inclusive)."""
    nights = pd.date_range(days_before(first), days_before(last), freq="D")
    return pd.DataFrame(
        {"station_id": station, "district": district, "date": nights, "bph_count": count}
    )


TRAPS = pd.concat(
    [
        trap_nights("S1", "Thoại Sơn", 7, 1, 9),
        trap_nights("S2", "Thoại Sơn", 7, 1, 19),
        trap_nights("S1", "Thoại Sơn", 14, 8, 4),
        trap_nights("S2", "Thoại Sơn", 14, 8, 4),
        trap_nights("S3", "Châu Thành", 7, 1, 0),
        trap_nights("S1", "Thoại Sơn", 0, 0, 10_000),  # the night of t: read on t + 1
    ],
    ignore_index=True,
)


def traps(
    table: pd.DataFrame | None = TRAPS, districts: list[str | None] | None = None
) -> dict[str, np.ndarray]:
    grids = light_trap_features(
        table,
        parcel_districts=districts or ["Thoại Sơn", "Tri Tôn", None],
        forecast_dates=pd.DatetimeIndex([T]),
        window_days=7,
    )
    return {name: grid[0] for name, grid in grids.items()}


def test_light_traps_by_hand_with_the_regional_fallback() -> None:
    result = traps()
    level, trend = result["trap_bph_log_7d"], result["trap_bph_log_trend_7d"]
    assert level[0] == pytest.approx(math.log(1 + 14))  # the district's two stations
    assert trend[0] == pytest.approx(math.log(15 / 5))
    everywhere = (7 * 9 + 7 * 19 + 7 * 0) / 21  # Tri Tôn has no trap: all traps of the table
    assert level[1] == pytest.approx(math.log1p(everywhere))
    assert level[2] == pytest.approx(math.log1p(everywhere))
    assert trend[1] == pytest.approx(math.log1p(everywhere) - math.log1p(4))


def test_light_trap_night_of_t_is_not_used_and_no_table_gives_nan() -> None:
    without_tonight, full = traps(TRAPS[TRAPS["bph_count"] < 10_000]), traps()
    for name, values in full.items():
        np.testing.assert_array_equal(values, without_tonight[name], err_msg=name)
    assert all(np.isnan(values).all() for values in traps(None).values())
    blank = TRAPS.astype({"bph_count": float}).assign(bph_count=np.nan)
    assert np.isnan(traps(blank)["trap_bph_log_7d"]).all()  # nights the traps did not run
    with pytest.raises(DataError, match="bph_count"):
        traps(TRAPS.drop(columns="bph_count"))


def test_kernel_rows_of_the_surveyed_parcels_give_the_same_field_as_the_whole_kernel() -> None:
    rng = np.random.default_rng(5)
    n = 400
    x, y = rng.uniform(0, 3000, n), rng.uniform(0, 3000, n)
    ids = pd.Index([f"P{i}" for i in range(n)])
    dates = pd.DatetimeIndex(["2024-06-03", "2024-06-10"])
    picked = rng.choice(n, 60)
    surveys = pd.DataFrame(
        {
            "parcel_id": ids[picked],
            "survey_date": pd.Timestamp("2024-06-09")
            - pd.to_timedelta(rng.integers(0, 60, 60), "D"),
            "pest": "bph",
            "severity": rng.choice(["none", "light", "medium", "heavy"], 60),
        }
    )
    surveys["report_date"] = surveys["survey_date"] + pd.Timedelta(days=1)
    options = {"forecast_dates": dates, "pests": ["bph"], "window_days": 21}
    whole = survey_field_features(
        surveys,
        parcel_ids=ids,
        kernel=gaussian_kernel_matrix(x, y, bandwidth_m=250.0),
        half_life_days=7.0,
        **options,
    )
    rows = surveyed_parcels(surveys, ids, **options)
    assert 0 < len(rows) < 60
    restricted = survey_field_features(
        surveys,
        parcel_ids=ids,
        kernel=gaussian_kernel_matrix(x, y, bandwidth_m=250.0, rows=rows),
        kernel_rows=rows,
        half_life_days=7.0,
        **options,
    )
    for name, grid in whole.items():
        np.testing.assert_allclose(restricted[name], grid, rtol=1e-12, equal_nan=True)
