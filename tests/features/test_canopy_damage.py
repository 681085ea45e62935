"""Damage seen in the imagery: trend residuals, same-age neighbour contrasts, NDRE spread."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from pestcast.features.canopy_damage import grouped_median
from pestcast.features.settings import FeatureSettings
from pestcast.features.timeseries import imagery_features, neighbour_matrix
from tests.features.nowcast_data import FLOODED, T, days_before, green, obs

# P0–P4 lie within 300 m of each other; P5 is 5 km away.
PARCEL_IDS = pd.Index(["P0", "P1", "P2", "P3", "P4", "P5"])
X = [0.0, 100.0, 200.0, 0.0, 100.0, 5000.0]
Y = [0.0, 0.0, 0.0, 100.0, 100.0, 0.0]
NEIGHBOURS = neighbour_matrix(X, Y, radius_m=500.0)


def features(rows: list[dict[str, Any]], settings: FeatureSettings | None = None) -> pd.DataFrame:
    """The imagery features at ``T`` as a (parcel × feature) frame."""
    grids = imagery_features(
        pd.DataFrame(rows),
        parcel_ids=PARCEL_IDS,
        forecast_dates=pd.DatetimeIndex([T]),
        settings=settings or FeatureSettings(),
        neighbours=NEIGHBOURS,
    )
    return pd.DataFrame({name: grid[0] for name, grid in grids.items()}, index=PARCEL_IDS)


def test_trend_residual_is_the_latest_value_minus_the_line_of_the_previous_ones() -> None:
    rows = [
        obs("P5", days_before(45), FLOODED),
        obs("P5", days_before(20), green(0.5, ndre=0.30, evi=0.40)),
        obs("P5", days_before(10), green(0.6, ndre=0.40, evi=0.50)),
        obs("P5", T, green(0.6, ndre=0.35, evi=0.50)),
    ]
    p5 = features(rows).loc["P5"]
    assert p5["ndre_vs_trend"] == pytest.approx(0.35 - 0.50)  # line: 0.30 → 0.40 → 0.50
    assert p5["ndvi_vs_trend"] == pytest.approx(0.6 - 0.7)
    assert p5["evi_vs_trend"] == pytest.approx(0.5 - 0.6)


def test_trend_uses_least_squares_over_the_window_of_the_same_crop_only() -> None:
    rows = [
        obs("P5", days_before(29), green(0.8, ndre=0.60)),  # the previous crop, in the window
        obs("P5", days_before(25), FLOODED),  # this crop starts (NDRE 0.1)
        obs("P5", days_before(15), green(0.4, ndre=0.20)),
        obs("P5", days_before(5), green(0.5, ndre=0.30)),
        obs("P5", T, green(0.5, ndre=0.30)),
    ]
    x, y = np.array([-25.0, -15.0, -5.0]), np.array([0.1, 0.2, 0.3])
    slope, intercept = np.polyfit(x, y, 1)
    assert features(rows).loc["P5"]["ndre_vs_trend"] == pytest.approx(0.30 - intercept)
    assert slope == pytest.approx(0.01)


def test_trend_needs_two_earlier_observations_in_the_window() -> None:
    rows = [
        obs("P5", days_before(40), green(0.5)),  # outside the 30-day window before the latest
        obs("P5", days_before(10), green(0.6)),
        obs("P5", T, green(0.6)),
    ]
    assert np.isnan(features(rows).loc["P5"]["ndre_vs_trend"])


def test_trend_window_setting_widens_the_line() -> None:
    rows = [
        obs("P5", days_before(40), green(0.5)),
        obs("P5", days_before(10), green(0.6)),
        obs("P5", T, green(0.6)),
    ]
    wide = features(rows, FeatureSettings(damage_trend_days=45)).loc["P5"]
    # NDVI line through (−40, 0.5) and (−10, 0.6) reaches 0.6333 at the latest day.
    assert wide["ndvi_vs_trend"] == pytest.approx(0.6 - (0.6 + 0.1 / 3), abs=1e-6)


def same_age_scene(values: dict[str, float]) -> list[dict[str, Any]]:
    """Everyone flooded 40 days ago except P4 (20 days later); one scene two days before t."""
    rows = [obs(p, days_before(40 if p != "P4" else 20), FLOODED) for p in PARCEL_IDS[:5]]
    return rows + [obs(p, days_before(2), green(0.7, ndre=value)) for p, value in values.items()]


def test_neighbour_contrast_is_against_the_median_of_same_age_neighbours_seen_that_day() -> None:
    rows = same_age_scene({"P0": 0.20, "P1": 0.40, "P2": 0.44, "P3": 0.46, "P4": 0.10})
    table = features(rows)
    assert table.loc["P0"]["ndre_vs_nbr"] == pytest.approx(0.20 - 0.44)  # P4 is 20 days younger
    assert table.loc["P1"]["ndre_vs_nbr"] == pytest.approx(0.40 - 0.44)  # median(.20, .44, .46)
    assert np.isnan(table.loc["P4"]["ndre_vs_nbr"])  # no neighbour of its age
    assert np.isnan(table.loc["P5"]["ndre_vs_nbr"])  # never seen
    assert table.loc["P0"]["ndvi_vs_nbr"] == pytest.approx(0.0, abs=1e-6)


def test_neighbour_contrast_needs_enough_neighbours_seen_the_same_day() -> None:
    rows = same_age_scene({"P0": 0.20, "P1": 0.40, "P2": 0.44})
    rows.append(obs("P3", days_before(3), green(0.7, ndre=0.46)))  # the day before: not used
    assert np.isnan(features(rows).loc["P0"]["ndre_vs_nbr"])  # two neighbours, three needed
    relaxed = features(rows, FeatureSettings(nbr_contrast_min_parcels=2))
    assert relaxed.loc["P0"]["ndre_vs_nbr"] == pytest.approx(0.20 - 0.42)


def test_neighbour_age_tolerance_is_a_setting() -> None:
    rows = same_age_scene({"P0": 0.20, "P1": 0.40, "P2": 0.44, "P4": 0.10})
    assert np.isnan(features(rows).loc["P0"]["ndre_vs_nbr"])
    wide = features(rows, FeatureSettings(nbr_crop_age_tolerance_days=20))
    assert wide.loc["P0"]["ndre_vs_nbr"] == pytest.approx(0.20 - 0.40)  # median(.40, .44, .10)


def test_ndre_spread_and_its_change() -> None:
    rows = [
        obs("P5", days_before(20), green(0.7), ndre_std=0.03),
        obs("P5", days_before(8), green(0.7), ndre_std=0.02),
        obs("P5", days_before(1), green(0.6), ndre_std=0.09),
    ]
    p5 = features(rows).loc["P5"]
    assert p5["ndre_std_last"] == pytest.approx(0.09)
    assert p5["ndre_std_change"] == pytest.approx(0.07)


def test_observation_tables_without_ndre_std_give_nan_spread() -> None:
    rows = pd.DataFrame([obs("P5", days_before(1), green(0.6))]).drop(columns="ndre_std")
    table = features([{str(k): v for k, v in row.items()} for row in rows.to_dict("records")])
    assert np.isnan(table.loc["P5"]["ndre_std_last"])
    assert table.loc["P5"]["ndvi_last"] == pytest.approx(0.6)


def test_grouped_median_matches_numpy() -> None:
    rng = np.random.default_rng(7)
    groups = rng.integers(0, 40, 500)
    values = rng.normal(size=500)
    result = grouped_median(groups, values, 45, min_count=3)
    for group in range(45):
        members = values[groups == group]
        expected = np.median(members) if len(members) >= 3 else np.nan
        np.testing.assert_allclose(result[group], expected, err_msg=str(group))
