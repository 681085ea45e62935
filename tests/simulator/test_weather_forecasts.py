"""Simulated weather forecasts: skill that fades with lead like a real NWP product, errors shared
between leads, runs and communes, and a random stream of their own (no other file changes)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pestcast.core.errors import ConfigError
from pestcast.simulator import (
    DemoSettings,
    generate_demo_region,
    simulate as simulate_module,
    simulate_world,
)
from pestcast.simulator.weather import DailyWeather, daily_normals, simulate_weather
from pestcast.simulator.weather_forecasts import (
    FORECAST_LEADS_DAYS,
    FORECAST_SKILL,
    FORECAST_VARIABLES,
    simulate_weather_forecasts,
)

COMMUNES = ["A", "B", "C", "D", "E", "F"]
FIRST = dt.date(2021, 1, 1)
LAST_ISSUE = dt.date(2023, 12, 31)
TINY = DemoSettings(seed=5, n_parcels=30, start=dt.date(2022, 1, 10), end=dt.date(2022, 2, 20))


@pytest.fixture(scope="module")
def weather() -> DailyWeather:
    n_days = (LAST_ISSUE - FIRST).days + FORECAST_LEADS_DAYS + 1
    return simulate_weather(FIRST, n_days, len(COMMUNES), np.random.default_rng([7, 3]))


@pytest.fixture(scope="module")
def forecasts(weather: DailyWeather) -> pd.DataFrame:
    return simulate_weather_forecasts(
        weather, COMMUNES, last_issue=LAST_ISSUE, rng=np.random.default_rng(1)
    )


@pytest.fixture(scope="module")
def verified(weather: DailyWeather, forecasts: pd.DataFrame) -> pd.DataFrame:
    """Each forecast beside the realised (unrounded) weather of its commune and valid day."""
    day = ((forecasts["valid_date"] - pd.Timestamp(FIRST)).dt.days).to_numpy()
    commune = pd.Index(COMMUNES).get_indexer(forecasts["commune"])
    truth = {f"{name}_true": getattr(weather, name)[day, commune] for name in FORECAST_VARIABLES}
    return forecasts.assign(**truth)


def by_lead(verified: pd.DataFrame, score: str, name: str) -> pd.Series:
    grouped = verified.groupby("lead_days")
    if score == "rmse":
        return grouped.apply(lambda g: np.sqrt(((g[name] - g[f"{name}_true"]) ** 2).mean()))
    if score == "bias":
        return grouped.apply(lambda g: (g[name] - g[f"{name}_true"]).mean())
    return grouped.apply(lambda g: np.corrcoef(g[name], g[f"{name}_true"])[0, 1])


def test_table_contract(forecasts: pd.DataFrame) -> None:
    assert list(forecasts.columns) == [
        "issued",
        "valid_date",
        "lead_days",
        "commune",
        *FORECAST_VARIABLES,
    ]
    assert set(forecasts["lead_days"]) == set(range(1, FORECAST_LEADS_DAYS + 1))
    lead = (forecasts["valid_date"] - forecasts["issued"]).dt.days
    assert (lead == forecasts["lead_days"]).all()
    assert not forecasts.duplicated(["issued", "commune", "lead_days"]).any()
    issued = pd.DatetimeIndex(forecasts["issued"].unique())
    assert issued.equals(pd.date_range(FIRST, LAST_ISSUE, freq="D").as_unit("ns"))
    assert set(forecasts["commune"]) == set(COMMUNES)
    assert (forecasts["tmin_c"] <= forecasts["tmax_c"]).all()
    assert (forecasts["rh_mean_pct"] <= forecasts["rh_max_pct"]).all()
    assert forecasts["rh_max_pct"].max() <= 100.0
    assert forecasts["rain_mm"].min() >= 0.0
    assert forecasts[list(FORECAST_VARIABLES)].notna().all().all()


def test_temperature_error_grows_with_lead_from_close_to_the_truth(
    weather: DailyWeather, verified: pd.DataFrame
) -> None:
    normals = daily_normals(weather.dates())
    for name in ("tmin_c", "tmax_c"):
        rmse = by_lead(verified, "rmse", name).to_numpy()
        climatology = np.sqrt(((getattr(weather, name) - normals[name][:, None]) ** 2).mean())
        assert rmse[0] < 0.8 * climatology, name  # day 1 clearly beats climatology
        assert rmse[-1] > 1.5 * rmse[0], name  # the error grows …
        assert (np.diff(rmse) > -0.03).all(), (name, rmse)  # … lead after lead
        assert rmse[-1] > climatology, name  # and a single run ends worse than climatology
        bias = by_lead(verified, "bias", name)
        assert bias.abs().max() < 0.5, name
        assert np.sign(bias.mean()) == np.sign(FORECAST_SKILL[name].bias), name


def test_rain_skill_collapses_towards_climatology(verified: pd.DataFrame) -> None:
    correlation = by_lead(verified, "correlation", "rain_mm")
    assert correlation[1] > 0.35
    assert correlation[7] < correlation[1] - 0.12
    assert correlation.loc[10:].mean() < 0.2  # what is left is the season's, not the day's
    assert (correlation.diff().loc[2:8] < 0.03).all()
    total = verified[["rain_mm", "rain_mm_true"]].mean()
    assert total["rain_mm"] == pytest.approx(total["rain_mm_true"], rel=0.15)  # unbiased
    wet = (verified[["rain_mm", "rain_mm_true"]] >= 1.0).mean()
    assert wet["rain_mm_true"] <= wet["rain_mm"] < wet["rain_mm_true"] + 0.1  # grid-box drizzle


def test_errors_are_shared_between_communes_leads_and_runs(verified: pd.DataFrame) -> None:
    error = verified.assign(error=verified["tmax_c"] - verified["tmax_c_true"])
    communes = error[error["lead_days"] == 7].pivot_table(
        index="issued", columns="commune", values="error"
    )
    pairs = np.corrcoef(communes.to_numpy().T)[np.triu_indices(len(COMMUNES), 1)]
    assert pairs.min() > 0.6
    one = error[error["commune"] == "A"].pivot_table(
        index="issued", columns="lead_days", values="error"
    )
    assert np.corrcoef(one[5], one[6])[0, 1] > 0.4
    same_valid_day = np.corrcoef(one[6].to_numpy()[1:], one[7].to_numpy()[:-1])[0, 1]
    assert same_valid_day > 0.7  # run-to-run consistency


def test_same_seed_same_forecasts_other_seed_others(weather: DailyWeather) -> None:
    def run(seed: int) -> pd.DataFrame:
        return simulate_weather_forecasts(
            weather, COMMUNES, last_issue=dt.date(2021, 3, 1), rng=np.random.default_rng(seed)
        )

    pd.testing.assert_frame_equal(run(3), run(3))
    assert not run(3).equals(run(4))


def test_forecasts_need_the_weather_of_every_valid_day(weather: DailyWeather) -> None:
    too_late = FIRST + dt.timedelta(days=weather.n_days - FORECAST_LEADS_DAYS)
    with pytest.raises(ConfigError, match="simulate a longer period"):
        simulate_weather_forecasts(
            weather, COMMUNES, last_issue=too_late, rng=np.random.default_rng(0)
        )


def digests(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_region_file_and_no_other_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate_demo_region(tmp_path / "with", TINY, max_workers=1)
    written = pd.read_parquet(tmp_path / "with" / "weather_forecasts.parquet")
    manifest = json.loads((tmp_path / "with" / "MANIFEST.json").read_text(encoding="utf-8"))
    assert manifest["files"]["weather_forecasts"] == "weather_forecasts.parquet"
    realised = pd.read_parquet(tmp_path / "with" / "weather.parquet")
    assert written["issued"].min() == realised["date"].min()
    assert written["issued"].max() == pd.Timestamp(TINY.end)
    assert set(written["commune"]) == set(realised["commune"])
    pd.testing.assert_frame_equal(
        written, simulate_module.weather_forecast_table(simulate_world(TINY))
    )

    empty = written.iloc[:0]
    monkeypatch.setattr(simulate_module, "weather_forecast_table", lambda _world: empty)
    generate_demo_region(tmp_path / "without", TINY, max_workers=1)
    with_forecasts, without = digests(tmp_path / "with"), digests(tmp_path / "without")
    changed = {name for name in with_forecasts if with_forecasts[name] != without.get(name)}
    assert changed == {"weather_forecasts.parquet"}
    streams = simulate_module._STREAMS
    assert len(set(streams.values())) == len(streams)
