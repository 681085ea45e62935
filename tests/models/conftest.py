"""Seeded synthetic feature tables whose risk signal is known, and one model shared by the tests."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from pestcast.features.seasons import rice_season
from pestcast.models import (
    Backtest,
    BacktestSettings,
    RiskModelSpec,
    TrainedRiskModel,
    fit_risk_model,
    run_backtest,
)

FEATURES = ("ndvi_mean", "rh_mean_7d", "last_severity_bph", "noise_a", "noise_b")
PARAMS = {"learning_rate": 0.1, "num_leaves": 15, "min_data_in_leaf": 40, "lambda_l2": 1.0}
SETTINGS = BacktestSettings(replicates=20)
"""Few bootstrap replicates: the tests check the intervals' logic, not their precision."""
FALLOW_SHARE = 0.05
"""Share of parcel × season pairs the imagery shows out of crop (``in_crop`` 0)."""
_TYPE_EFFECT = {"WS": -0.6, "SA": 0.5, "AW": 0.0}


def _in_crop(table: pd.DataFrame, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """1.0, or 0.0 for every row of a few parcel × season pairs (fallow that season)."""
    pairs = table.groupby(["parcel_id", "season"], sort=False).ngroup().to_numpy()
    fallow = rng.random(pairs.max() + 1) < FALLOW_SHARE
    return np.where(fallow[pairs], 0.0, 1.0)


def synthetic_table(
    *, seed: int = 0, n_parcels: int = 200, start: str = "2022-03-16", end: str = "2024-10-31"
) -> pd.DataFrame:
    """Parcel × weekly rows; P(label) rises with humidity, canopy and the parcel's susceptibility.

    About 30 % of rows are unsurveyed (NaN label), the last horizon of days has no labels, and
    about 5 % of parcel × season pairs are out of crop (their labels are kept: scores and the
    refit must ignore them).
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
    table["season"] = rice_season(table["forecast_date"]).to_numpy()
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
    table["in_crop"] = _in_crop(table, rng)
    return table


def spec(horizon_days: int = 7, **changes: object) -> RiskModelSpec:
    """A small, fast model spec for the synthetic tables."""
    options: dict[str, object] = {
        "pest": "bph",
        "horizon_days": horizon_days,
        "features": FEATURES,
        "params": PARAMS,
        "num_boost_round": 50,
        "seed": 3,
    }
    options.update(changes)
    return RiskModelSpec(**options)  # type: ignore[arg-type]


@pytest.fixture(scope="package")
def table() -> pd.DataFrame:
    return synthetic_table()


@pytest.fixture(scope="package")
def backtest(table: pd.DataFrame) -> Backtest:
    """Every season of the synthetic table forecast out of fold (model ``spec()``)."""
    return run_backtest(table, spec(), SETTINGS)


@pytest.fixture(scope="package")
def model(table: pd.DataFrame, backtest: Backtest) -> TrainedRiskModel:
    """``spec()`` fitted on the synthetic table, reusing the shared backtest."""
    return fit_risk_model(table, spec(), backtest=SETTINGS, precomputed=backtest)
