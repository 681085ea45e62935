"""Reader of nightly brown-planthopper light-trap counts (CSV or Parquet) and their stations.

A count table has one row per station and night: ``station_id``, ``date``, ``bph_count`` (adults
caught that night, an integer ≥ 0) and ``district`` (or a station table that gives it). A blank
count is a night the trap did not run and is dropped; anything else that is wrong stops the read
with a :class:`DataError` naming the file, the column and the row (CSV: the line number, header
= line 1; Parquet: the row number, first = 1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from pestcast.core.errors import DataError, SourceError
from pestcast.features.columns import require_columns
from pestcast.features.sowing import LIGHT_TRAP_COLUMNS

__all__ = ["STATION_COLUMNS", "read_light_trap_stations", "read_light_traps"]

STATION_COLUMNS = ("station_id", "district", "commune", "lon", "lat")


def read_light_traps(
    path: Path,
    *,
    stations: Path | None = None,
    known_districts: Iterable[str] | None = None,
    window: tuple[dt.date, dt.date] | None = None,
) -> pd.DataFrame:
    """Validated counts: ``station_id``, ``district``, ``date`` (day), ``bph_count`` (int64).

    ``stations`` (a station table) makes every ``station_id`` known and supplies the district;
    ``known_districts`` restricts districts; ``window`` (first, last day, inclusive) bounds dates.
    """
    table = _read_table(Path(path), "sources.light_traps.path")
    needed = [c for c in LIGHT_TRAP_COLUMNS if c != "district" or stations is None]
    require_columns(table, needed, str(path))
    table["station_id"] = _text(table, "station_id", path)
    if stations is not None:
        table = _with_station_districts(table, read_light_trap_stations(Path(stations)), path)
    table["district"] = _text(table, "district", path)
    if known_districts is not None:
        _require_known(table, "district", set(known_districts), path)
    table["date"] = _days(table, path)
    if window is not None:
        _require_within(table, window, path)
    table = _counts(table, path)
    _require_one_per_night(table, path)
    columns = list(LIGHT_TRAP_COLUMNS)
    return table[columns].sort_values(["station_id", "date"]).reset_index(drop=True)


def read_light_trap_stations(path: Path) -> pd.DataFrame:
    """Station table: unique ``station_id``, ``district``, ``commune``, ``lon``/``lat`` (WGS84)."""
    table = _read_table(Path(path), "sources.light_traps.stations")
    require_columns(table, STATION_COLUMNS, str(path))
    for column in ("station_id", "district", "commune"):
        table[column] = _text(table, column, path)
    repeated = table["station_id"].duplicated()
    if repeated.any():
        _fail(path, table, repeated, "station_id", "is listed twice; keep one row per station")
    for column, limit in (("lon", 180.0), ("lat", 90.0)):
        values = pd.to_numeric(table[column], errors="coerce")
        _check(path, table, values.isna() | (values.abs() > limit), column,
               f"must be a WGS84 coordinate within ±{limit:g}°")  # fmt: skip
        table[column] = values
    return table.reset_index(drop=True)


def _read_table(path: Path, key: str) -> pd.DataFrame:
    if not path.exists():
        raise SourceError(f"{path} does not exist; check {key} in the config")
    try:
        if path.suffix.lower() == ".parquet":
            table = pd.read_parquet(path)
        else:
            table = pd.read_csv(path, dtype={"station_id": str}, encoding="utf-8-sig")
    except Exception as error:
        raise SourceError(f"cannot read {path}: {error}; is it a CSV or Parquet table?") from error
    return table.reset_index(drop=True)


def _row(path: Path, index: int) -> str:
    """Where a row is, as a person opening the file would find it."""
    if Path(path).suffix.lower() == ".parquet":
        return f"row {index + 1}"
    return f"line {index + 2}"


def _fail(path: Path, table: pd.DataFrame, bad: pd.Series, column: str, problem: str) -> None:
    rows = np.flatnonzero(bad.to_numpy())
    first = rows[0]
    more = f" (and {len(rows) - 1} more rows)" if len(rows) > 1 else ""
    value = table[column].iloc[first]
    raise DataError(f"{path}, {_row(path, first)}: {column} '{value}' {problem}{more}")


def _check(path: Path, table: pd.DataFrame, bad: pd.Series, column: str, problem: str) -> None:
    if bad.any():
        _fail(path, table, bad, column, problem)


def _text(table: pd.DataFrame, column: str, path: Path) -> pd.Series:
    values = table[column]
    _check(path, table, values.isna() | (values.astype(str).str.strip() == ""), column,
           "is empty; fill it in")  # fmt: skip
    return values.astype(str).str.strip()


def _with_station_districts(
    table: pd.DataFrame, stations: pd.DataFrame, path: Path
) -> pd.DataFrame:
    known = stations.set_index("station_id")["district"]
    _check(path, table, ~table["station_id"].isin(known.index), "station_id",
           "is not in the station table; add the station or fix the id")  # fmt: skip
    listed = table["station_id"].map(known)
    if "district" in table.columns:
        given = table["district"].astype(str).str.strip()
        _check(path, table, given != listed, "district",
               "differs from the station table's district for that station")  # fmt: skip
    return table.assign(district=listed)


def _require_known(table: pd.DataFrame, column: str, known: set[str], path: Path) -> None:
    allowed = ", ".join(sorted(known))
    _check(path, table, ~table[column].isin(known), column,
           f"is not a known district ({allowed})")  # fmt: skip


def _days(table: pd.DataFrame, path: Path) -> pd.Series:
    days = pd.to_datetime(table["date"], errors="coerce", format="mixed").dt.normalize()
    _check(path, table, days.isna(), "date", "is not a date (use YYYY-MM-DD)")
    return days


def _require_within(table: pd.DataFrame, window: tuple[dt.date, dt.date], path: Path) -> None:
    first, last = (pd.Timestamp(day) for day in window)
    outside = ~table["date"].between(first, last)
    _check(path, table.assign(date=table["date"].dt.strftime("%Y-%m-%d")), outside, "date",
           f"is outside the expected {first:%Y-%m-%d} – {last:%Y-%m-%d}")  # fmt: skip


def _counts(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Counts as int64; blanks (nights the trap did not run) are dropped."""
    raw = table["bph_count"]
    blank = raw.isna() | (raw.astype(str).str.strip() == "")
    values = pd.to_numeric(raw.where(~blank), errors="coerce")
    _check(path, table, ~blank & values.isna(), "bph_count", "is not a number")
    _check(path, table, values < 0, "bph_count", "is negative; counts are adults caught (≥ 0)")
    _check(path, table, values.notna() & (values != np.floor(values)), "bph_count",
           "is not a whole number of insects")  # fmt: skip
    return table.assign(bph_count=values)[~blank].astype({"bph_count": "int64"})


def _require_one_per_night(table: pd.DataFrame, path: Path) -> None:
    keys = table[["station_id", "date"]]
    duplicate = keys.duplicated(keep="first").to_numpy()
    if duplicate.any():
        second = table.index[duplicate][0]
        station, day = str(keys.loc[second, "station_id"]), pd.Timestamp(keys.loc[second, "date"])
        same = ((keys["station_id"] == station) & (keys["date"] == day)).to_numpy()
        first = table.index[same][0]
        raise DataError(
            f"{path}, {_row(path, second)}: station {station} has a second count for "
            f"{day:%Y-%m-%d} (first at {_row(path, first)}); keep one count per station and night"
        )
