"""Readers for the tabular inputs: parcels, daily weather and pest surveys.

Each reader checks what the pipeline relies on — columns, physical ranges and units, known codes,
plausible dates, a parcel CRS that matches the coordinates — and fails with a :class:`DataError`
naming the file, the column (or parcel id), how many rows are wrong, the first offending value and
where it is (CSV: line number, header = line 1; Parquet: row number, first = 1), and what to do.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from pestcast.core.errors import DataError, ParcelError, SourceError
from pestcast.features.columns import require_columns
from pestcast.features.surveys import SEVERITY_LEVELS, SURVEY_COLUMNS
from pestcast.features.weather import WEATHER_COLUMNS

__all__ = [
    "EARLIEST_SURVEY_DATE",
    "MAX_DAILY_RAIN_MM",
    "OTHER_RICE_PESTS",
    "WEATHER_RANGES",
    "check_rows",
    "check_weather_values",
    "read_parcels",
    "read_surveys",
    "read_weather",
]

LOGGER = logging.getLogger(__name__)

PARCEL_COLUMNS = ("parcel_id", "commune", "district")
SEVERITIES = tuple(SEVERITY_LEVELS)

MAX_DAILY_RAIN_MM = 500.0
"""Largest plausible daily rain (mm). Daily totals in the Mekong delta stay well below it (judgement
from gauge records of a few hundred mm at most); Central Vietnam has seen about 1,000 mm (Huế,
2 Nov 1999), so a region there would need a higher limit (``read_weather(max_daily_rain_mm=…)``)."""

WEATHER_RANGES: dict[str, tuple[float, float, str]] = {
    "tmin_c": (-10.0, 50.0, "°C"),
    "tmax_c": (-10.0, 50.0, "°C"),
    "rh_mean_pct": (0.0, 100.0, "%"),
    "rh_max_pct": (0.0, 100.0, "%"),
    "rain_mm": (0.0, MAX_DAILY_RAIN_MM, "mm"),
}
"""Physical range (inclusive) and unit of each daily weather column."""

EARLIEST_SURVEY_DATE = dt.date(2015, 1, 1)
"""No survey or report date may be earlier: imagery (Sentinel-2 L2A) starts in 2015, so an earlier
date can have no features and is a typo (e.g. 1999 for 2019)."""

OTHER_RICE_PESTS = ("bph", "blast", "stem_borer", "leaf_folder")
"""Pest codes a survey file may hold besides the modelled ones: the delta's main rice pests
(DOMAIN.md). Rows of these that are not modelled are left out (and counted in the log); any other
code is refused as a typo. ``read_surveys(other_pests=…)`` replaces this list."""

SURVEY_AMOUNTS: dict[str, tuple[float, float]] = {
    "density_per_m2": (0.0, math.inf),
    "incidence_pct": (0.0, 100.0),
}
"""Optional survey columns and their range (inclusive): insects (or egg masses) per m², share of
tillers or leaves affected in percent."""


def read_parcels(path: Path, *, layer: str | None, crs: str) -> gpd.GeoDataFrame:
    """Parcels in ``crs`` (reprojected if needed) with repaired, polygonal geometry.

    Invalid polygons are repaired with ``make_valid(method="structure")`` keeping polygonal parts
    (``buffer(0)`` silently drops parts); multipolygons stay one parcel. A file without parcels,
    or whose coordinates do not fit its CRS label (degrees in a metric CRS, metres in a
    geographic one, or far outside where the CRS is used), is refused.
    """
    parcels = _read_vector(path, layer)
    if parcels.empty:
        raise ParcelError(
            f"{path} (layer {layer!r}) holds no parcels; check sources.parcels.path and "
            "sources.parcels.layer"
        )
    require_columns(parcels, PARCEL_COLUMNS, str(path))
    parcels["parcel_id"] = parcels["parcel_id"].astype(str)
    _require_unique_ids(parcels["parcel_id"], path)
    if parcels.crs is None:
        raise ParcelError(f"{path} has no CRS; set one (e.g. EPSG:32648) in the file")
    _require_plausible_crs(parcels, path, target=crs)
    parcels = parcels.to_crs(crs)
    parcels["geometry"] = _polygonal(parcels.geometry.to_numpy(), parcels["parcel_id"], path)
    return parcels.reset_index(drop=True)


def _read_vector(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    if not path.exists():
        raise SourceError(f"parcel file {path} does not exist; check sources.parcels.path")
    try:
        return gpd.read_file(path, layer=layer)
    except Exception as error:
        raise SourceError(f"cannot read parcels from {path} (layer {layer!r}): {error}") from error


def _require_unique_ids(ids: pd.Series, path: Path) -> None:
    duplicated = ids[ids.duplicated()].unique()
    if len(duplicated):
        raise ParcelError(
            f"{path}: parcel_id values must be unique; repeated: {', '.join(duplicated[:5])}"
        )


# --- parcel CRS ------------------------------------------------------------------------------

MAX_KM_OUTSIDE_CRS_AREA = 500.0
"""How far (km) parcels may lie outside the area of use of their CRS or of the region's CRS before
the CRS label is called wrong: UTM is usable a little beyond its zone, never thousands of km."""


def _require_plausible_crs(parcels: gpd.GeoDataFrame, path: Path, *, target: str) -> None:
    """Refuse coordinates that cannot be in the CRS the file is labelled with."""
    label = parcels.crs.to_string()
    west, south, east, north = (float(v) for v in parcels.total_bounds)
    if not all(map(math.isfinite, (west, south, east, north))):
        raise ParcelError(f"{path}: the parcels have no usable coordinates; fix the geometry")
    looks_like_degrees = max(abs(west), abs(east)) <= 180 and max(abs(south), abs(north)) <= 90
    if parcels.crs.is_projected and looks_like_degrees:
        raise ParcelError(
            f"{path}: the parcel coordinates ({west:.4f}, {south:.4f} … {east:.4f}, {north:.4f}) "
            f"look like longitude/latitude degrees but the file is labelled {label}; the CRS "
            "label is probably wrong: relabel the file as EPSG:4326 (e.g. "
            "`ogr2ogr -a_srs EPSG:4326 fixed.gpkg parcels.gpkg`), do not reproject it"
        )
    if parcels.crs.is_geographic and not looks_like_degrees:
        raise ParcelError(
            f"{path}: the parcel coordinates ({west:.0f}, {south:.0f} …) are not degrees but the "
            f"file is labelled {label}; the CRS label is probably wrong: relabel the file with "
            "its metric CRS (e.g. EPSG:32648 for UTM 48N, `ogr2ogr -a_srs EPSG:32648 …`)"
        )
    lonlat = parcels.to_crs("EPSG:4326").total_bounds
    for crs, whose in ((parcels.crs, "its own CRS"), (target, "the region's CRS (region.crs)")):
        _require_near_area_of_use(lonlat, crs, path, label=label, whose=whose)


def _require_near_area_of_use(
    lonlat: np.ndarray, crs: object, path: Path, *, label: str, whose: str
) -> None:
    try:
        area = CRS.from_user_input(crs).area_of_use
    except CRSError as error:
        raise DataError(f"{crs!r} is not a CRS ({error}); check region.crs") from error
    if area is None:
        return
    distance = _km_outside(tuple(float(v) for v in lonlat), area.bounds)
    if not math.isfinite(distance) or distance > MAX_KM_OUTSIDE_CRS_AREA:
        where = ", ".join(f"{v:.2f}" for v in lonlat)
        raise ParcelError(
            f"{path}: the parcels (lon/lat bounds {where}) lie {distance:.0f} km outside the area "
            f"where {whose} {CRS.from_user_input(crs).to_string()} is used ({area.name}); the "
            f"file's CRS label ({label}) is probably wrong, or region.crs is not this region's: "
            "relabel the file with the CRS its coordinates are in"
        )


def _km_outside(bounds: tuple[float, ...], area: tuple[float, float, float, float]) -> float:
    """Approximate distance (km) from the box ``bounds`` to the box ``area`` (both lon/lat)."""
    west, south, east, north = bounds
    a_west, a_south, a_east, a_north = area
    if a_west > a_east:  # the area crosses the antimeridian
        a_east += 360.0
    d_lon = max(a_west - east, west - a_east, 0.0)
    d_lat = max(a_south - north, south - a_north, 0.0)
    latitude = math.radians(min(abs(south), abs(north), 89.0))
    return 111.2 * math.hypot(d_lon * math.cos(latitude), d_lat)


def _polygonal(
    geometries: shapely.geometry.base.BaseGeometry, ids: pd.Series, path: Path
) -> list[shapely.geometry.base.BaseGeometry]:
    repaired = shapely.make_valid(geometries, method="structure", keep_collapsed=False)
    polygons = [_polygonal_part(geometry) for geometry in repaired]
    empty = [pid for pid, geometry in zip(ids, polygons, strict=True) if geometry.is_empty]
    if empty:
        raise ParcelError(
            f"{path}: parcels without any area after repair: {', '.join(empty[:5])}; "
            "fix or remove them"
        )
    return polygons


def _polygonal_part(
    geometry: shapely.geometry.base.BaseGeometry,
) -> shapely.geometry.base.BaseGeometry:
    if geometry is None:
        return shapely.Polygon()
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    parts = [
        part
        for part in getattr(geometry, "geoms", [geometry])
        if part.geom_type in ("Polygon", "MultiPolygon")
    ]
    return shapely.union_all(parts) if parts else shapely.Polygon()


# --- weather ---------------------------------------------------------------------------------


def read_weather(path: Path, *, max_daily_rain_mm: float = MAX_DAILY_RAIN_MM) -> pd.DataFrame:
    """Daily weather per commune: ``commune``, ``date``, temperatures (°C), RH (%), rain (mm).

    Values must lie in :data:`WEATHER_RANGES` (rain up to ``max_daily_rain_mm``), with
    ``tmin_c ≤ tmax_c`` and ``rh_mean_pct ≤ rh_max_pct``; a missing value (blank, NaN) is allowed.
    """
    weather = _read_table(path, "sources.weather.path")
    require_columns(weather, WEATHER_COLUMNS, str(path))
    weather["commune"] = _text(weather, "commune", path)
    weather["date"] = _dates(weather, "date", path)
    check_weather_values(
        weather, path, WEATHER_RANGES | {"rain_mm": (0.0, max_daily_rain_mm, "mm")}
    )
    repeated = weather.duplicated(["commune", "date"])
    if repeated.any():
        first = weather.loc[repeated].iloc[0]
        raise DataError(
            f"{path}: {int(repeated.sum())} extra rows for one commune and day, first for commune "
            f"{first['commune']!r} on {first['date']:%Y-%m-%d}; keep one row per commune and day"
        )
    return weather.sort_values(["commune", "date"]).reset_index(drop=True)


UnitHint = Callable[[str, "pd.Series[Any]", str], str]
"""``hint(column, wrong_values, unit)``: what to say after a value outside its range."""


def _unit_hint(column: str, wrong: pd.Series, _unit: str) -> str:
    """What a temperature out of range probably is, so the user knows how to convert it."""
    first = float(wrong.iloc[0])
    if column.endswith("_c") and 50 < first <= 130:
        return f"; it looks like °F ({first:g} °F = {(first - 32) / 1.8:.1f} °C): convert to °C"
    if column.endswith("_c") and 250 < first < 340:
        return f"; it looks like kelvin ({first:g} K = {first - 273.15:.1f} °C): convert to °C"
    if column == "rain_mm" and first < 0:
        return "; rain cannot be negative: a missing value must be blank, not a code like -99"
    return "; fix the value or leave it blank if unknown"


def check_weather_values(
    table: pd.DataFrame,
    path: Path,
    ranges: Mapping[str, tuple[float, float, str]],
    *,
    hint: UnitHint = _unit_hint,
) -> None:
    """Turn each column of ``ranges`` that ``table`` has into float (blank: NaN) and refuse, naming
    the rows of ``path``: text, ±inf, percent written as a fraction, values outside the range
    (``hint`` says what to do), ``tmin_c > tmax_c`` and ``rh_mean_pct > rh_max_pct``."""
    for column, (low, high, unit) in ranges.items():
        if column in table:
            table[column] = _numbers(table, column, path)
            _check_range(table, column, path, low=low, high=high, unit=unit, hint=hint)
    for lower, upper in (("tmin_c", "tmax_c"), ("rh_mean_pct", "rh_max_pct")):
        if lower in table and upper in table:
            check_rows(
                path,
                table,
                table[lower] > table[upper],
                lower,
                f"is above {upper} of the same row; check that the columns are not swapped",
            )


def _check_range(
    table: pd.DataFrame,
    column: str,
    path: Path,
    *,
    low: float,
    high: float,
    unit: str,
    hint: UnitHint,
) -> None:
    values = table[column]
    if column.endswith("_pct") and values.notna().any() and values.max() <= 1:
        problem = "and every other value are ≤ 1: a fraction, not percent; multiply by 100"
        check_rows(path, table, values.notna(), column, problem)
    bad = (values < low) | (values > high)
    if bad.any():
        said = hint(column, values[bad], unit)
        check_rows(path, table, bad, column, f"is outside {low:g}…{high:g} {unit}{said}")


# --- surveys ---------------------------------------------------------------------------------


def read_surveys(
    path: Path,
    *,
    known_parcels: Iterable[str],
    pests: Iterable[str],
    other_pests: Iterable[str] = OTHER_RICE_PESTS,
    as_of: dt.date | None = None,
) -> pd.DataFrame:
    """Pest survey records of the modelled ``pests`` (codes compared case-insensitively).

    Rows of ``other_pests`` (surveyed pests that are not modelled) are left out and counted in
    the log; any other pest code, unknown parcel id or severity, a negative ``density_per_m2``, an
    ``incidence_pct`` outside 0–100, a report before its survey, or a date before
    :data:`EARLIEST_SURVEY_DATE` or after ``as_of`` (default: today) is an error.
    """
    surveys = _read_table(path, "sources.surveys.path")
    require_columns(surveys, SURVEY_COLUMNS, str(path))
    surveys["parcel_id"] = _text(surveys, "parcel_id", path)
    surveys["pest"] = _text(surveys, "pest", path).str.lower()
    _require_values(surveys, "severity", SEVERITIES, path)
    for column in ("survey_date", "report_date"):
        surveys[column] = _dates(surveys, column, path)
        _check_plausible_dates(surveys, column, path, as_of=as_of or dt.date.today())
    check_rows(
        path,
        surveys,
        surveys["report_date"] < surveys["survey_date"],
        "report_date",
        "is before the row's survey_date; a survey is reported after it is made",
    )
    for column, (low, high) in SURVEY_AMOUNTS.items():
        if column in surveys:
            surveys[column] = _numbers(surveys, column, path)
            check_rows(
                path,
                surveys,
                (surveys[column] < low) | (surveys[column] > high),
                column,
                f"is outside {low:g}…{high:g}; fix the value or leave it blank",
            )
    surveys = _modelled_pests(surveys, path, pests=pests, other_pests=other_pests)
    _require_known_parcels(surveys, path, set(known_parcels))
    return surveys.sort_values(["report_date", "parcel_id"]).reset_index(drop=True)


def _modelled_pests(
    surveys: pd.DataFrame, path: Path, *, pests: Iterable[str], other_pests: Iterable[str]
) -> pd.DataFrame:
    modelled = [str(p).strip().lower() for p in pests]
    others = [str(p).strip().lower() for p in other_pests if str(p).strip().lower() not in modelled]
    known = f"{', '.join(modelled)} (modelled)" + (
        f", {', '.join(others)} (not modelled, left out)" if others else ""
    )
    check_rows(
        path,
        surveys,
        ~surveys["pest"].isin([*modelled, *others]),
        "pest",
        f"is not a known pest code; known: {known}. Fix the code, or if it is another pest "
        "that pestcast does not model, add it to other_pests (sources.surveys.other_pests)",
    )
    kept = surveys["pest"].isin(modelled)
    if not kept.all():
        counts = surveys.loc[~kept, "pest"].value_counts()
        LOGGER.info("%s: left out %s survey rows of pests not modelled", path, dict(counts))
    return surveys.loc[kept].copy()


def _check_plausible_dates(table: pd.DataFrame, column: str, path: Path, *, as_of: dt.date) -> None:
    check_rows(
        path,
        table,
        table[column] < pd.Timestamp(EARLIEST_SURVEY_DATE),
        column,
        f"is before {EARLIEST_SURVEY_DATE} (the start of Sentinel-2 L2A imagery); "
        "probably a typo in the year",
    )
    check_rows(
        path,
        table,
        table[column] > pd.Timestamp(as_of),
        column,
        f"is after {as_of} (today, or the as_of date); a survey cannot come from the future: "
        "probably a typo in the year",
    )


def _require_known_parcels(surveys: pd.DataFrame, path: Path, known: set[str]) -> None:
    unknown = sorted(set(surveys["parcel_id"]) - known)
    if unknown:
        raise DataError(
            f"{path}: {len(unknown)} survey parcel ids are not in the parcel file, e.g. "
            f"{', '.join(unknown[:5])}; fix the ids or add the parcels"
        )


# --- columns ---------------------------------------------------------------------------------


def _dates(table: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """A column as calendar days (naive); empty or unparseable values are named with the row."""
    values = table[column]
    check_rows(path, table, values.isna(), column, "is empty; fill or drop the row")
    try:
        days = pd.to_datetime(values.astype(str), errors="coerce", format="mixed")
        if getattr(days.dt, "tz", None) is not None:
            days = days.dt.tz_localize(None)
    except (ValueError, TypeError, OverflowError):
        days = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    check_rows(path, table, days.isna(), column, "is not a date; write dates as YYYY-MM-DD")
    return days.dt.normalize().astype("datetime64[ns]")


def _numbers(table: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """A numeric column as float; blanks become NaN, anything else that is not a number fails."""
    values = pd.to_numeric(table[column], errors="coerce").astype(float)
    check_rows(
        path,
        table,
        values.isna() & table[column].notna(),
        column,
        "is not a number; write plain numbers (no units, decimal point '.')",
    )
    check_rows(
        path,
        table,
        values.abs() == math.inf,
        column,
        "is infinite; write a finite number or leave it blank",
    )
    return values


def _text(table: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """A text key column, stripped; empty values fail."""
    check_rows(path, table, table[column].isna(), column, "is empty; fill or drop the row")
    text = table[column].astype(str).str.strip()
    check_rows(path, table, text == "", column, "is empty; fill or drop the row")
    return text


def _read_table(path: Path, key: str) -> pd.DataFrame:
    if not path.is_file():
        raise SourceError(f"{path} does not exist or is not a file; check {key} in the config")
    try:
        if path.suffix.lower() == ".parquet":
            table = pd.read_parquet(path)
        else:
            table = pd.read_csv(path, encoding="utf-8-sig")
    except Exception as error:
        raise SourceError(f"cannot read {path}: {error}; is it a CSV or Parquet table?") from error
    return table.reset_index(drop=True)


def _require_values(table: pd.DataFrame, column: str, allowed: tuple[str, ...], path: Path) -> None:
    check_rows(
        path,
        table,
        ~table[column].astype(str).isin(allowed),
        column,
        f"is not one of {', '.join(allowed)}",
    )


def check_rows(path: Path, table: pd.DataFrame, bad: pd.Series, column: str, problem: str) -> None:
    """Raise a DataError naming the file, column, number of bad rows and the first one."""
    rows = np.flatnonzero(bad.fillna(False).to_numpy(dtype=bool))
    if not len(rows):
        return
    first = rows[0]
    where = f"row {first + 1}" if path.suffix.lower() == ".parquet" else f"line {first + 2}"
    value = table[column].iloc[first]
    shown = f"{value:%Y-%m-%d}" if isinstance(value, pd.Timestamp) else repr(_plain(value))
    raise DataError(
        f"{path}: column {column}: {len(rows)} of {len(table)} rows wrong, first at {where}: "
        f"{shown} {problem}"
    )


def _plain(value: object) -> object:
    """NumPy scalars shown as Python values (``90.0``, not ``np.float64(90.0)``)."""
    return value.item() if isinstance(value, np.generic) else value
