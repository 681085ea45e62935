"""Seeded synthetic feature tables whose risk signal is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pestcast.models import RiskModelSpec

FEATURES = ("ndvi_mean", "rh_mean_7d", "last_severity_bph", "noise_a", "noise_b")
PARAMS = {"learning_rate": 0.1, "num_leaves": 15, "min_data_in_leaf": 40, "lambda_l2": 1.0}
_TYPE_EFFECT = {"WS": -0.6, "SA": 0.5, "AW": 0.0}


def season_label(date: pd.Timestamp) -> str:
    """Test stand-in for features.seasons.rice_season (WS named by the year it starts)."""
    month_day = (date.month, date.day)
    if month_day >= (11, 1):
        return f"{date.year}-WS"
    if month_day <= (3, 15):
        return f"{date.year - 1}-WS"
    return f"{date.year}-SA" if month_day <= (7, 31) else f"{date.year}-AW"


def synthetic_table(
    *, seed: int = 0, n_parcels: int = 120, start: str = "2022-03-16", end: str = "2024-10-31"
) -> pd.DataFrame:
    """Parcel × weekly rows; P(label) rises with humidity, canopy and the parcel's susceptibility.

    About 30 % of rows are unsurveyed (NaN label) and the last horizon of days has no labels.
    """
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, end, freq="7D")
    parcel = np.repeat(np.arange(n_parcels), dates.size)
    date = np.tile(dates.to_numpy(), n_parcels)
    n = parcel.size
    table = pd.DataFrame(
        {
            "parcel_id": [f"AG-{p:05d}" for p in parcel],
            "commune": [f"C{p % 6}" for p in parcel],
            "forecast_date": pd.to_datetime(date),
        }
    )
    table["season"] = table["forecast_date"].map(season_label)
    kind_effect = table["season"].str[-2:].map(_TYPE_EFFECT).to_numpy()
    susceptibility = rng.normal(0.0, 1.0, n_parcels)[parcel]
    table["rh_mean_7d"] = rng.normal(80.0, 6.0, n)
    table["ndvi_mean"] = rng.uniform(0.1, 0.9, n)
    logit = (
        -1.4
        + 0.25 * (table["rh_mean_7d"].to_numpy() - 80.0)
        + 2.5 * (table["ndvi_mean"].to_numpy() - 0.5)
        + 0.8 * susceptibility
        + kind_effect
    )
    last_severity = np.clip(np.round(1.0 + 0.8 * susceptibility + rng.normal(0, 0.7, n)), 0, 3)
    table["last_severity_bph"] = np.where(rng.random(n) < 0.3, np.nan, last_severity)
    table["noise_a"] = rng.normal(size=n)
    table["noise_b"] = rng.uniform(size=n)
    surveyed = rng.random(n) > 0.3
    for horizon, shift in ((7, 0.0), (14, 0.5)):
        probability = 1.0 / (1.0 + np.exp(-(logit + shift)))
        label = (rng.random(n) < probability).astype(np.float64)
        beyond_data = table["forecast_date"] + pd.Timedelta(days=horizon) > pd.Timestamp(end)
        table[f"label_bph_h{horizon}"] = np.where(surveyed & ~beyond_data.to_numpy(), label, np.nan)
    return table


def spec(horizon_days: int = 7, **changes: object) -> RiskModelSpec:
    """A small, fast model spec for the synthetic tables."""
    options: dict[str, object] = {
        "pest": "bph",
        "horizon_days": horizon_days,
        "features": FEATURES,
        "params": PARAMS,
        "num_boost_round": 80,
        "seed": 3,
    }
    options.update(changes)
    return RiskModelSpec(**options)  # type: ignore[arg-type]


@pytest.fixture(scope="package")
def table() -> pd.DataFrame:
    return synthetic_table()
