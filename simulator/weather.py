"""Daily weather per commune from An Giang climatology (EPIDEMIOLOGY.md, "Weather").

Monthly normals: mean 27.5 °C (January 26.0, May 28.5), daily highs of 35–37 °C in April–May,
lows of 20–21 °C in December–January, mean RH 77–80 % in the dry season and 80–84 % in the wet
season, 1,400–1,500 mm of rain a year with ~90 % in May–November, rainy days per month as in
Ho Chi Minh City. Daily maximum RH normals (dew and morning fog in the dry season) are [A].

Day-to-day weather is region-wide (all communes share rain events and temperature/humidity
anomalies: AR(1) series) plus small per-commune noise; convective rain amounts vary by commune
(lognormal factor, some communes stay dry on a rainy day) [A]. Each year gets a rain factor
(lognormal, σ 0.12) for wetter and drier years [A].
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["MONTHLY_NORMALS", "DailyWeather", "daily_normals", "simulate_weather"]

MONTHLY_NORMALS = pd.DataFrame(
    {
        "tmax_c": [30.4, 31.5, 33.2, 34.4, 32.8, 31.6, 31.2, 31.1, 31.0, 30.8, 30.5, 29.9],
        "tmin_c": [21.6, 22.0, 23.2, 24.6, 24.8, 24.5, 24.2, 24.2, 24.2, 24.0, 23.6, 22.1],
        "rh_mean_pct": [78.0, 77.0, 77.0, 78.0, 81.0, 83.0, 83.0, 84.0, 84.0, 84.0, 82.0, 80.0],
        "rh_max_pct": [92.0, 90.0, 88.0, 88.0, 93.0, 95.0, 96.0, 96.0, 96.0, 96.0, 95.0, 93.0],
        "rain_mm": [10, 3, 12, 45, 150, 185, 195, 200, 230, 250, 110, 45],
        "rainy_days": [2, 1, 2, 5, 18, 19, 23, 22, 23, 21, 12, 7],
    },
    index=pd.RangeIndex(1, 13, name="month"),
)
"""Monthly normals of An Giang (rainy days: Ho Chi Minh City proxy)."""

RAIN_PERSISTENCE = 0.35
"""Markov persistence of rain occurrence (0 = independent days) [A]."""
WET_DAY_MM = 1.0
LOCAL_DRY_SHARE = 0.12
"""Share of communes that stay dry on a region-wide rainy day [A]."""


@dataclass(frozen=True)
class DailyWeather:
    """Daily weather of each commune: arrays of shape (day, commune)."""

    first_day: dt.date
    tmin_c: npt.NDArray[np.float64]
    tmax_c: npt.NDArray[np.float64]
    rh_mean_pct: npt.NDArray[np.float64]
    rh_max_pct: npt.NDArray[np.float64]
    rain_mm: npt.NDArray[np.float64]

    @property
    def n_days(self) -> int:
        return int(self.tmin_c.shape[0])

    @property
    def humidity_anomaly_pct(self) -> npt.NDArray[np.float64]:
        """Region-mean daily RH minus its normal for the date, percentage points."""
        normal = daily_normals(self.dates())["rh_mean_pct"]
        return self.rh_mean_pct.mean(axis=1) - normal  # type: ignore[no-any-return]

    @property
    def tmean_c(self) -> npt.NDArray[np.float64]:
        return 0.5 * (self.tmin_c + self.tmax_c)

    def dates(self) -> pd.DatetimeIndex:
        return pd.date_range(self.first_day, periods=self.n_days, freq="D")

    def table(self, communes: list[str], last_day: dt.date) -> pd.DataFrame:
        """Long table (commune, date, tmin_c, tmax_c, rh_mean_pct, rh_max_pct, rain_mm)."""
        n_days = (last_day - self.first_day).days + 1
        dates = self.dates()[:n_days]
        columns = {
            "tmin_c": self.tmin_c,
            "tmax_c": self.tmax_c,
            "rh_mean_pct": self.rh_mean_pct,
            "rh_max_pct": self.rh_max_pct,
            "rain_mm": self.rain_mm,
        }
        return pd.DataFrame(
            {
                "commune": np.repeat(np.asarray(communes, dtype=object), n_days),
                "date": np.tile(dates.to_numpy("datetime64[ns]"), len(communes)),
                **{name: values[:n_days].T.ravel().round(1) for name, values in columns.items()},
            }
        )


def simulate_weather(
    first_day: dt.date, n_days: int, n_communes: int, rng: np.random.Generator
) -> DailyWeather:
    """Simulate ``n_days`` of daily weather for ``n_communes`` communes."""
    dates = pd.date_range(first_day, periods=n_days, freq="D")
    normals = daily_normals(dates)
    wet_region = _rain_occurrence(dates, rng)
    rain = _rain_amounts(dates, wet_region, n_communes, rng)
    rainy_share = (MONTHLY_NORMALS["rainy_days"].to_numpy(float) / 30.4)[dates.month - 1]
    wet = (rain >= WET_DAY_MM) - rainy_share[:, None]  # centred: normals stay the normals
    temperature = _ar1(n_days, phi=0.75, sd=0.8, rng=rng)[:, None]
    humidity = _ar1(n_days, phi=0.6, sd=2.0, rng=rng)[:, None]
    commune_noise = rng.normal(0.0, 1.0, size=(4, n_days, n_communes))
    tmax = normals["tmax_c"][:, None] + temperature - 1.8 * wet + 0.3 * commune_noise[0]
    tmin = normals["tmin_c"][:, None] + 0.5 * temperature + 0.3 * wet + 0.25 * commune_noise[1]
    rh_mean = normals["rh_mean_pct"][:, None] + humidity + 4.0 * wet + 0.8 * commune_noise[2]
    rh_max = normals["rh_max_pct"][:, None] + 0.6 * humidity + 2.0 * wet + 2.5 * commune_noise[3]
    rh_mean = np.clip(rh_mean, 55.0, 98.0)
    return DailyWeather(
        first_day=first_day,
        tmin_c=np.minimum(tmin, tmax - 3.0),
        tmax_c=tmax,
        rh_mean_pct=rh_mean,
        rh_max_pct=np.clip(np.maximum(rh_max, rh_mean + 5.0), None, 100.0),
        rain_mm=rain,
    )


def daily_normals(dates: pd.DatetimeIndex) -> dict[str, npt.NDArray[np.float64]]:
    """Monthly normals interpolated linearly between mid-months (periodic over the year)."""
    mid_month = np.array([pd.Timestamp(2001, m, 15).day_of_year for m in range(1, 13)], float)
    doy = dates.day_of_year.to_numpy().astype(float)
    return {
        column: np.interp(doy, mid_month, MONTHLY_NORMALS[column].to_numpy(float), period=365)
        for column in ("tmax_c", "tmin_c", "rh_mean_pct", "rh_max_pct")
    }


def _rain_occurrence(dates: pd.DatetimeIndex, rng: np.random.Generator) -> npt.NDArray[np.bool_]:
    """Region-wide rainy days: a two-state Markov chain; with local dry spots, each commune
    keeps the month's rainy-day share."""
    month = dates.month.to_numpy()
    per_commune = MONTHLY_NORMALS["rainy_days"].to_numpy(float) / 30.4
    p_wet = (per_commune / (1.0 - LOCAL_DRY_SHARE))[month - 1]
    draws = rng.random(len(dates))
    wet = np.zeros(len(dates), dtype=bool)
    previous = False
    for day, p in enumerate(p_wet):
        threshold = p + RAIN_PERSISTENCE * (1 - p) if previous else p * (1 - RAIN_PERSISTENCE)
        previous = bool(draws[day] < threshold)
        wet[day] = previous
    return wet


def _rain_amounts(
    dates: pd.DatetimeIndex,
    wet_region: npt.NDArray[np.bool_],
    n_communes: int,
    rng: np.random.Generator,
) -> npt.NDArray[np.float64]:
    """Rain (mm) per day and commune: gamma amounts around the month's mean per rainy day."""
    month = dates.month.to_numpy()
    per_rainy_day = (MONTHLY_NORMALS["rain_mm"] / MONTHLY_NORMALS["rainy_days"]).to_numpy(float)
    shape = 0.8
    years = dates.year.to_numpy()
    unique_years = np.unique(years)
    year_factor = dict(zip(unique_years, rng.lognormal(0.0, 0.12, len(unique_years)), strict=True))
    factor = np.array([year_factor[y] for y in years])
    region = rng.gamma(shape, per_rainy_day[month - 1] * factor / shape) * wet_region
    local = rng.lognormal(-0.06, 0.35, size=(len(dates), n_communes))
    dry_spot = rng.random((len(dates), n_communes)) < LOCAL_DRY_SHARE
    rain = region[:, None] * local * ~dry_spot
    return np.where(rain < 0.1, 0.0, rain)


def _ar1(n: int, *, phi: float, sd: float, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Zero-mean AR(1) series with innovation standard deviation ``sd``."""
    shocks = rng.normal(0.0, sd, n)
    series = np.empty(n)
    level = shocks[0] / np.sqrt(1 - phi**2)
    for day in range(n):
        level = phi * level + shocks[day] if day else level
        series[day] = level
    return series
