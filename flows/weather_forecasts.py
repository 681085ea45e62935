"""Reader of past weather forecast runs per commune (CSV or Parquet): ``sources.weather_forecasts``.

One row per forecast run, commune and valid day::

    issued       the local calendar day the run became available (a timestamp with a time zone,
                 e.g. a 00 UTC run time, is converted to the region's time zone first)
    valid_date   the local day forecast (``date`` is read as ``valid_date``: the shape of
                 :func:`pestcast.flows.weather_sources.fetch_weather_forecast`'s answer)
    lead_days    valid_date − issued, 1 … :data:`MAX_LEAD_DAYS`
    commune      as in the parcel table
    tmin_c tmax_c rain_mm             required; °C, °C, mm
    rh_mean_pct rh_max_pct            optional; %

Values must lie in the weather ranges (:data:`pestcast.flows.tables.WEATHER_RANGES`), with
``tmin_c ≤ tmax_c`` and ``rh_mean_pct ≤ rh_max_pct``; a blank value is allowed (missing). Every
commune of the parcels needs forecasts. Anything wrong stops the read with a :class:`DataError`
naming the file, the column, how many rows are wrong and the first (CSV: line number, header =
line 1; Parquet: row number, first = 1), and what to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from pestcast.core.errors import DataError, SourceError
from pestcast.features.columns import require_columns
from pestcast.flows.config import PestcastConfig
from pestcast.flows.tables import WEATHER_RANGES, check_rows, check_weather_values

__all__ = [
    "FORECAST_TABLE_COLUMNS",
    "MAX_LEAD_DAYS",
    "configured_weather_forecasts",
    "read_weather_forecasts",
]

FORECAST_TABLE_COLUMNS = (
    "issued",
    "valid_date",
    "lead_days",
    "commune",
    "tmin_c",
    "tmax_c",
    "rain_mm",
)
"""Columns every forecast table has; ``rh_mean_pct`` and ``rh_max_pct`` may follow."""
OPTIONAL_COLUMNS = ("rh_mean_pct", "rh_max_pct")
MAX_LEAD_DAYS = 16
"""Longest lead accepted: Open-Meteo's forecasts reach 16 days, ECMWF's ensemble 15."""
_KEY = "sources.weather_forecasts.path"


def configured_weather_forecasts(
    config: PestcastConfig, communes: Iterable[str]
) -> pd.DataFrame | None:
    """The config's forecast runs, checked to cover ``communes``; None when none is configured
    (the ``fcst_`` features are then NaN)."""
    source = config.sources.weather_forecasts
    if source is None:
        return None
    return read_weather_forecasts(
        source.path, known_communes=communes, timezone=config.region.timezone
    )


def read_weather_forecasts(
    path: Path,
    *,
    known_communes: Iterable[str] | None = None,
    timezone: str = "Asia/Ho_Chi_Minh",
) -> pd.DataFrame:
    """The checked forecast table of the module contract, sorted by issue date, commune, lead.

    ``known_communes`` (the parcels' communes) must each have forecasts; ``timezone`` turns
    zoned timestamps into local days.
    """
    path = Path(path)
    table = _read_table(path).rename(columns={"date": "valid_date"})
    require_columns(table, FORECAST_TABLE_COLUMNS, str(path))
    table["commune"] = _text(table, "commune", path)
    for column in ("issued", "valid_date"):
        table[column] = _days(table, column, path, timezone)
    table["lead_days"] = _leads(table, path)
    _check_values(table, path)
    _require_one_row_per_lead(table, path)
    if known_communes is not None:
        _require_communes(table, {str(c).strip() for c in known_communes}, path)
    columns = [*FORECAST_TABLE_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in table)]
    ordered = table.loc[:, columns].sort_values(["issued", "commune", "lead_days"])
    return ordered.reset_index(drop=True)


def _read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise SourceError(f"{path} does not exist; check {_KEY} in the config")
    try:
        if path.suffix.lower() == ".parquet" or path.is_dir():
            table = pd.read_parquet(path)
        else:
            table = pd.read_csv(path, encoding="utf-8-sig")
    except Exception as error:
        raise SourceError(f"cannot read {path}: {error}; is it a CSV or Parquet table?") from error
    return table.reset_index(drop=True)


def _text(table: pd.DataFrame, column: str, path: Path) -> pd.Series:
    text = table[column].astype(str).str.strip()
    check_rows(
        path, table, table[column].isna() | (text == ""), column, "is empty; fill or drop it"
    )
    return text


def _days(table: pd.DataFrame, column: str, path: Path, timezone: str) -> pd.Series:
    """Local calendar days; zoned timestamps are converted to ``timezone`` first."""
    try:
        stamps = pd.to_datetime(table[column], errors="coerce")
    except (ValueError, TypeError):  # e.g. a mix of time zones
        stamps = pd.Series(pd.NaT, index=table.index, dtype="datetime64[ns]")
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_convert(timezone).dt.tz_localize(None)
    check_rows(path, table, stamps.isna(), column, "is not a date; write dates as YYYY-MM-DD")
    return stamps.dt.normalize().astype("datetime64[ns]")


def _leads(table: pd.DataFrame, path: Path) -> pd.Series:
    lead = pd.to_numeric(table["lead_days"], errors="coerce")
    check_rows(
        path, table, lead.isna() | (lead % 1 != 0), "lead_days", "is not a whole number of days"
    )
    days = (table["valid_date"] - table["issued"]).dt.days
    check_rows(
        path,
        table,
        lead != days,
        "lead_days",
        "is not valid_date − issued in days; check that the date columns are not swapped",
    )
    check_rows(
        path,
        table,
        (lead < 1) | (lead > MAX_LEAD_DAYS),
        "lead_days",
        f"is outside 1…{MAX_LEAD_DAYS} days; keep the days after each issue date (drop lead 0, "
        "the issue day itself) up to the forecast's end",
    )
    return lead.astype(np.int64)


def _check_values(table: pd.DataFrame, path: Path) -> None:
    check_weather_values(table, path, WEATHER_RANGES, hint=_check_the_unit)


def _check_the_unit(_column: str, _wrong: pd.Series, unit: str) -> str:
    return f"; check the unit ({unit} expected)"


def _require_one_row_per_lead(table: pd.DataFrame, path: Path) -> None:
    repeated = table.duplicated(["issued", "commune", "lead_days"])
    check_rows(
        path,
        table,
        repeated,
        "lead_days",
        "repeats a row of the same run (issued) and commune; keep one row per run, commune "
        "and lead",
    )


def _require_communes(table: pd.DataFrame, communes: set[str], path: Path) -> None:
    missing = sorted(communes - set(table["commune"]))
    if missing:
        raise DataError(
            f"{path}: column commune: no forecasts for {len(missing)} commune(s) of the "
            f"parcels, e.g. {', '.join(map(repr, missing[:5]))}; add their forecast runs "
            "(communes named as in the parcel table), or remove sources.weather_forecasts from "
            "the config to leave the fcst_ features empty"
        )
