"""Forecast weather per commune for the days after a forecast date, from the forecasts known then.

The row for forecast date ``t`` (a local calendar day) uses, per commune, the latest forecast run
issued on or before ``t``: ``issued`` is the local day the run became available, so a run issued
on ``t`` is known at ``t``, one issued on ``t + 1`` never is. The realised weather is never used.
The windows cover the valid days ``t + 1 … t + W``, the days the labels look ahead
(``t < survey_date ≤ t + h``); ``t`` itself is neither here nor in :mod:`features.weather`
(whose days end at ``t − 1``).

==============================  ======  ==========================================================
feature (``W`` = 7, 14)         unit    meaning
==============================  ======  ==========================================================
``fcst_rain_sum_<W>d``          mm      forecast rain total
``fcst_tmean_mean_<W>d``        °C      mean forecast daily mean temperature (tmin + tmax) / 2
``fcst_rh_mean_<W>d``           %       mean forecast daily mean relative humidity (NaN when the
                                        forecasts carry no ``rh_mean_pct``)
``fcst_wet_days_<W>d``          days    forecast days with rain ≥ 1 mm (WMO rain day)
``fcst_issue_age_days``         days    ``t`` − ``issued`` of the run used (0 on a normal day);
                                        NaN when no run was issued by ``t``
==============================  ======  ==========================================================

``W`` is ``FeatureSettings.forecast_weather_windows_days``. When the latest run is older than
``t`` (a missed day), valid day ``t + k`` is that run's lead ``t − issued + k`` and the days
beyond its last lead are missing. As in :mod:`features.weather`, means use the days present (at
least half the window) and sums and day counts are the mean scaled to the full window; with fewer
days, or without forecasts, a feature is NaN. ``fcst_issue_age_days`` is a data-quality column
(:data:`FORECAST_QUALITY_FEATURES`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from pestcast.core.errors import DataError
from pestcast.features.columns import require_columns
from pestcast.features.seasons import day_numbers
from pestcast.features.settings import DEFAULT_FEATURE_SETTINGS
from pestcast.features.surveys import FloatGrid
from pestcast.features.weather import RAINY_DAY_MM

__all__ = [
    "FORECAST_HUMIDITY_COLUMN",
    "FORECAST_QUALITY_FEATURES",
    "FORECAST_WEATHER_COLUMNS",
    "forecast_feature_names",
    "forecast_weather_features",
    "forecast_weather_grids",
]

FORECAST_WEATHER_COLUMNS = ("issued", "valid_date", "commune", "tmin_c", "tmax_c", "rain_mm")
"""Columns a forecast table must have: one row per run (``issued``), commune and valid day."""
FORECAST_HUMIDITY_COLUMN = "rh_mean_pct"
"""Optional forecast column (%): without it ``fcst_rh_mean_<W>d`` is NaN."""
FORECAST_QUALITY_FEATURES = ("fcst_issue_age_days",)

_FEATURES = {  # feature stem: (daily driver, summed over the window)
    "fcst_rain_sum": ("rain_mm", True),
    "fcst_tmean_mean": ("tmean_c", False),
    "fcst_rh_mean": ("rh_mean_pct", False),
    "fcst_wet_days": ("wet", True),
}


def forecast_feature_names(windows: Sequence[int]) -> list[str]:
    """Feature columns in table order: the window features of each window, then the age."""
    names = [f"{stem}_{window}d" for window in windows for stem in _FEATURES]
    return [*names, *FORECAST_QUALITY_FEATURES]


def forecast_weather_features(
    forecasts: pd.DataFrame | None,
    forecast_dates: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    communes: Sequence[str],
    *,
    windows: Sequence[int] = DEFAULT_FEATURE_SETTINGS.forecast_weather_windows_days,
) -> pd.DataFrame:
    """One row per forecast date × commune (dates ascending, communes in the given order) with
    ``commune``, ``forecast_date`` and the features of the module table."""
    dates = pd.DatetimeIndex(list(forecast_dates)).normalize()
    grids = _commune_grids(forecasts, dates, list(communes), windows)
    table = pd.DataFrame(
        {
            "commune": np.tile(np.asarray(communes, dtype=object), len(dates)),
            "forecast_date": np.repeat(dates.as_unit("ns").to_numpy(), len(communes)),
        }
    )
    for name, grid in grids.items():
        table[name] = grid.ravel()
    return table


def forecast_weather_grids(
    forecasts: pd.DataFrame | None,
    dates: pd.DatetimeIndex,
    communes: npt.NDArray[np.object_],
    commune_codes: npt.NDArray[np.intp],
    *,
    windows: Sequence[int],
) -> dict[str, FloatGrid]:
    """The features spread from communes to parcels (``commune_codes`` index ``communes``), each
    of shape (forecast dates, parcels); None or no run for a commune gives NaN."""
    grids = _commune_grids(forecasts, dates, [str(c) for c in communes], windows)
    return {name: grid[:, commune_codes] for name, grid in grids.items()}


def _commune_grids(
    forecasts: pd.DataFrame | None,
    dates: pd.DatetimeIndex,
    communes: list[str],
    windows: Sequence[int],
) -> dict[str, FloatGrid]:
    """Each feature as a (forecast dates, communes) grid."""
    if not windows or min(windows) < 1:
        raise DataError(f"forecast weather windows must be ≥ 1 day, got {tuple(windows)}")
    shape = (len(dates), len(communes))
    empty = {name: np.full(shape, np.nan) for name in forecast_feature_names(windows)}
    runs = None if forecasts is None else _RunCube.of(forecasts, communes)
    if runs is None or dates.empty:
        return empty
    days = day_numbers(dates)
    run, age = runs.latest(days)
    grids = {"fcst_issue_age_days": age.T}
    for window in windows:
        daily = runs.valid_days(run, age, window)
        for stem, (driver, summed) in _FEATURES.items():
            grids[f"{stem}_{window}d"] = _window_value(daily[driver], window, summed).T
    return {name: grids[name] for name in empty}


def _window_value(daily: FloatGrid, window: int, summed: bool) -> FloatGrid:
    """Mean over the days present (at least half the window), scaled to a sum if ``summed``."""
    present = np.isfinite(daily).sum(axis=-1)
    with np.errstate(invalid="ignore"):
        mean = np.nansum(daily, axis=-1) / present
    mean = np.where(present >= (window + 1) // 2, mean, np.nan)
    return mean * window if summed else mean


class _RunCube:
    """The forecast values of each commune, issue day and lead as dense arrays."""

    def __init__(self, values: dict[str, FloatGrid], has_run: npt.NDArray[np.bool_], first: int):
        self.values = values
        """Per daily driver, (commune, issue day − first, lead) with NaN where nothing is known."""
        self.has_run = has_run
        self.first = first

    @classmethod
    def of(cls, forecasts: pd.DataFrame, communes: list[str]) -> _RunCube | None:
        table = _checked(forecasts)
        commune = pd.Index(communes).get_indexer(pd.Index(table["commune"]))
        issued = day_numbers(table["issued"])
        lead = day_numbers(table["valid_date"]) - issued
        keep = (commune >= 0) & (lead >= 1)
        if not keep.any():
            return None
        commune, issued, lead, table = commune[keep], issued[keep], lead[keep], table.loc[keep]
        first = int(issued.min())
        n_issue_days = int(issued.max()) - first + 1
        shape = (len(communes), n_issue_days, int(lead.max()) + 1)
        values = {}
        for name, column in _daily_drivers(table).items():
            cube = np.full(shape, np.nan)
            cube[commune, issued - first, lead] = column
            values[name] = cube
        has_run = np.zeros(shape[:2], dtype=bool)
        has_run[commune, issued - first] = True
        return cls(values, has_run, first)

    def latest(self, days: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], FloatGrid]:
        """(run index or −1, age in days or NaN) of the latest run issued on or before each day,
        each of shape (commune, day)."""
        n_issue_days = self.has_run.shape[1]
        index = np.where(self.has_run, np.arange(n_issue_days), -1)
        latest_by_day = np.maximum.accumulate(index, axis=1)
        position = days - self.first
        run = np.where(position >= 0, latest_by_day[:, np.clip(position, 0, n_issue_days - 1)], -1)
        age = np.where(run >= 0, position[np.newaxis, :] - run, np.nan)
        return run, age

    def valid_days(
        self, run: npt.NDArray[np.int64], age: FloatGrid, window: int
    ) -> dict[str, FloatGrid]:
        """Per driver, (commune, day, k) values of valid day ``t + k``, k = 1 … ``window``."""
        max_lead = next(iter(self.values.values())).shape[2] - 1
        lead = np.nan_to_num(age, nan=-1.0).astype(np.int64)[..., np.newaxis]
        lead = lead + np.arange(1, window + 1)
        known = (run[..., np.newaxis] >= 0) & (lead <= max_lead)
        commune = np.arange(run.shape[0])[:, np.newaxis, np.newaxis]
        chosen = np.maximum(run, 0)[..., np.newaxis]
        return {
            name: np.where(known, cube[commune, chosen, np.clip(lead, 0, max_lead)], np.nan)
            for name, cube in self.values.items()
        }


def _checked(forecasts: pd.DataFrame) -> pd.DataFrame:
    """The forecast columns with day-normalised dates; one row per commune, run and valid day."""
    require_columns(forecasts, FORECAST_WEATHER_COLUMNS, "weather forecast table")
    optional = [FORECAST_HUMIDITY_COLUMN] if FORECAST_HUMIDITY_COLUMN in forecasts else []
    table = forecasts.loc[:, [*FORECAST_WEATHER_COLUMNS, *optional]].reset_index(drop=True)
    table["commune"] = table["commune"].astype(str)
    for column in ("issued", "valid_date"):
        table[column] = pd.to_datetime(table[column]).dt.normalize()
    repeated = table.duplicated(["commune", "issued", "valid_date"])
    if repeated.any():
        first = table.loc[repeated].iloc[0]
        raise DataError(
            f"weather forecasts have more than one row for commune {first['commune']!r}, run "
            f"issued {first['issued']:%Y-%m-%d}, valid {first['valid_date']:%Y-%m-%d}; keep one "
            "row per commune, issue date and valid day"
        )
    return table


def _daily_drivers(table: pd.DataFrame) -> dict[str, npt.NDArray[np.float64]]:
    rain = table["rain_mm"].to_numpy(np.float64)
    tmean = (table["tmin_c"].to_numpy(np.float64) + table["tmax_c"].to_numpy(np.float64)) / 2.0
    humidity = (
        table[FORECAST_HUMIDITY_COLUMN].to_numpy(np.float64)
        if FORECAST_HUMIDITY_COLUMN in table
        else np.full(len(table), np.nan)
    )
    wet = np.where(np.isnan(rain), np.nan, rain >= RAINY_DAY_MM)
    return {"rain_mm": rain, "tmean_c": tmean, "rh_mean_pct": humidity, "wet": wet}
