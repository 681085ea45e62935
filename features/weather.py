"""Weather drivers of pest risk per commune, over the days before a forecast date.

A day's weather is known the next morning, so the features for forecast date ``t`` use the days
``t − w … t − 1`` (``date < t``) of a ``w``-day window; the forecast day itself is never used.

===========================  ========  ============================================================
feature (``w`` = 7, 14)      unit      meaning
===========================  ========  ============================================================
``tmin_mean_<w>d``           °C        mean daily minimum temperature
``tmax_mean_<w>d``           °C        mean daily maximum temperature
``rh_mean_<w>d``             %         mean daily mean relative humidity
``rh_max_mean_<w>d``         %         mean daily maximum relative humidity
``rain_sum_<w>d``            mm        rain total
``rainy_days_<w>d``          days      days with rain ≥ 1 mm (WMO rain day)
``degree_days_<w>d``         °C·day    growing degree-days above 10 °C, from the daily mean
                                       (tmin + tmax) / 2 (McMaster & Wilhelm 1997, Agric. For.
                                       Meteorol. 87:291; 10 °C is rice's base temperature, Gilmore
                                       & Rogers 1958, Agron. J. 50:611): crop and insect
                                       development speed
``hot_days_<w>d``            days      days with a maximum ≥ 35 °C: above the critical thermal
                                       maximum of brown planthopper nymphs, 34.9 °C (Piyaphongkul
                                       et al. 2012, PLoS ONE 7:e29409)
``blast_wet_days_<w>d``      days      blast wetness days: RH max ≥ 90 % or rain ≥ 5 mm (EPIRICE,
                                       Savary et al. 2012)
``blast_rct_mean_<w>d``      0–1       mean EPIRICE blast temperature modifier RcT(daily mean T)
``humid_days_in_a_row``      days      consecutive days up to ``t − 1`` with RH max ≥ 90 %
                                       (EPIRICE's wetness threshold), counted up to the longest
                                       window: how long leaves have stayed wet
===========================  ========  ============================================================

Missing days: means use the days present (at least half the window); sums and day counts are the
mean scaled to the full window. With fewer days present a feature is NaN. A missing day ends a
run of humid days.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from pestcast.core.errors import DataError
from pestcast.features.columns import require_columns
from pestcast.features.settings import DEFAULT_FEATURE_SETTINGS

FloatArray = npt.NDArray[np.float64]

__all__ = [
    "BLAST_RCT_KNOTS",
    "WEATHER_COLUMNS",
    "blast_rct",
    "blast_wet_day",
    "degree_days",
    "weather_features",
]

WEATHER_COLUMNS = ("commune", "date", "tmin_c", "tmax_c", "rh_mean_pct", "rh_max_pct", "rain_mm")

DEGREE_DAY_BASE_C = 10.0
"""Base temperature of rice development (Gilmore & Rogers 1958)."""
HOT_DAY_C = 35.0
"""Daily maximum above the critical thermal maximum of BPH nymphs, 34.9 °C (Piyaphongkul 2012)."""

BLAST_RCT_KNOTS = (
    (10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0),
    (0.0, 0.5, 1.0, 0.6, 0.2, 0.05, 0.01, 0.0),
)
"""EPIRICE leaf-blast RcT table (Savary et al. 2012, optimum corrected to 20 °C as in epicrop)."""

BLAST_WET_RH_PCT = 90.0
BLAST_WET_RAIN_MM = 5.0
RAINY_DAY_MM = 1.0
"""WMO convention for a rain day."""

_DAILY_MEANS = {
    "tmin_mean": "tmin_c",
    "tmax_mean": "tmax_c",
    "rh_mean": "rh_mean_pct",
    "rh_max_mean": "rh_max_pct",
    "blast_rct_mean": "blast_rct",
}
_DAILY_SUMS = {
    "rain_sum": "rain_mm",
    "rainy_days": "rainy",
    "degree_days": "degree_days",
    "hot_days": "hot",
    "blast_wet_days": "blast_wet",
}


def degree_days(tmean_c: npt.ArrayLike, *, base_c: float = DEGREE_DAY_BASE_C) -> FloatArray:
    """Daily degree-days (°C·day) above ``base_c`` from the daily mean temperature; NaN kept."""
    return np.clip(np.asarray(tmean_c, dtype=np.float64) - base_c, 0.0, None)


def blast_rct(tmean_c: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """EPIRICE blast temperature modifier RcT (0–1), linear between the table knots, NaN kept."""
    temperature = np.asarray(tmean_c, dtype=np.float64)
    knots_c, modifier = BLAST_RCT_KNOTS
    return np.where(
        np.isnan(temperature), np.nan, np.interp(temperature, knots_c, modifier, left=0, right=0)
    )


def blast_wet_day(rh_max_pct: npt.ArrayLike, rain_mm: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """1.0 on a blast wetness day (RH max ≥ 90 % or rain ≥ 5 mm), 0.0 if not, NaN if unknown."""
    humidity = np.asarray(rh_max_pct, dtype=np.float64)
    rain = np.asarray(rain_mm, dtype=np.float64)
    wet = (humidity >= BLAST_WET_RH_PCT) | (rain >= BLAST_WET_RAIN_MM)
    unknown = ~wet & (np.isnan(humidity) | np.isnan(rain))
    return np.where(unknown, np.nan, wet.astype(np.float64))


def weather_features(
    weather: pd.DataFrame,
    forecast_dates: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    *,
    windows: Sequence[int] = DEFAULT_FEATURE_SETTINGS.weather_windows_days,
) -> pd.DataFrame:
    """One row per commune × forecast date with the window features of the module table.

    ``weather`` has the columns of :data:`WEATHER_COLUMNS`, one row per commune and day.
    """
    dates = pd.DatetimeIndex(list(forecast_dates)).normalize()
    if dates.empty or not windows or min(windows) < 1:
        raise DataError(
            f"weather features need forecast dates and windows of ≥ 1 day; got {len(dates)} "
            f"dates and windows {tuple(windows)}"
        )
    daily = _daily_drivers(weather)
    longest = max(windows)
    days = pd.date_range(dates.min() - pd.Timedelta(days=longest), dates.max(), freq="D")
    previous_days = dates - pd.Timedelta(days=1)
    frames = {}
    for column in sorted({*_DAILY_MEANS.values(), *_DAILY_SUMS.values()}):
        table = daily.pivot_table(
            index="date", columns="commune", values=column, aggfunc="first", dropna=False
        ).reindex(days)
        for window in windows:
            mean = table.rolling(window, min_periods=(window + 1) // 2).mean()
            frames[(column, window)] = mean.reindex(previous_days)
    table = _long_table(frames, dates, windows)
    humid_run = _humid_run(daily, days).clip(upper=longest).reindex(previous_days)
    table["humid_days_in_a_row"] = humid_run.to_numpy().ravel()
    return table


def _daily_drivers(weather: pd.DataFrame) -> pd.DataFrame:
    require_columns(weather, WEATHER_COLUMNS, "weather table")
    daily = weather.loc[:, list(WEATHER_COLUMNS)].copy()
    daily["date"] = pd.to_datetime(daily["date"]).dt.normalize().astype("datetime64[ns]")
    repeated = daily.duplicated(["commune", "date"])
    if repeated.any():
        first = daily.loc[repeated].iloc[0]
        raise DataError(
            f"weather has more than one row for commune {first['commune']!r} on "
            f"{first['date']:%Y-%m-%d}; keep one row per commune and day"
        )
    tmean = (daily["tmin_c"].to_numpy(float) + daily["tmax_c"].to_numpy(float)) / 2.0
    rain = daily["rain_mm"].to_numpy(float)
    tmax = daily["tmax_c"].to_numpy(float)
    daily["degree_days"] = degree_days(tmean)
    daily["hot"] = np.where(np.isnan(tmax), np.nan, tmax >= HOT_DAY_C)
    daily["blast_rct"] = blast_rct(tmean)
    daily["blast_wet"] = blast_wet_day(daily["rh_max_pct"].to_numpy(float), rain)
    daily["rainy"] = np.where(np.isnan(rain), np.nan, rain >= RAINY_DAY_MM)
    return daily


def _humid_run(daily: pd.DataFrame, days: pd.DatetimeIndex) -> pd.DataFrame:
    """(day × commune) count of consecutive days up to that day with RH max ≥ 90 %."""
    rh_max = daily.pivot_table(
        index="date", columns="commune", values="rh_max_pct", aggfunc="first", dropna=False
    ).reindex(days)
    humid = (rh_max.to_numpy() >= BLAST_WET_RH_PCT).astype(np.float64)  # missing: not humid
    humid_so_far = np.cumsum(humid, axis=0)
    at_last_dry_day = np.maximum.accumulate(np.where(humid == 0, humid_so_far, 0.0), axis=0)
    return pd.DataFrame(humid_so_far - at_last_dry_day, index=rh_max.index, columns=rh_max.columns)


def _long_table(
    frames: dict[tuple[str, int], pd.DataFrame],
    dates: pd.DatetimeIndex,
    windows: Sequence[int],
) -> pd.DataFrame:
    """Stack the (date × commune) window tables into rows keyed by commune and forecast date."""
    communes = next(iter(frames.values())).columns
    table = pd.DataFrame(
        {
            "commune": np.tile(np.asarray(communes, dtype=object), len(dates)),
            "forecast_date": np.repeat(dates.as_unit("ns").to_numpy(), len(communes)),
        }
    )
    for window in windows:
        for name, column in _DAILY_MEANS.items():
            table[f"{name}_{window}d"] = frames[(column, window)].to_numpy().ravel()
        for name, column in _DAILY_SUMS.items():
            table[f"{name}_{window}d"] = frames[(column, window)].to_numpy().ravel() * window
    return table
