"""Readers for the tabular inputs: parcels, daily weather and pest surveys.

Each reader checks what the pipeline relies on and fails with a :class:`DataError` naming the file,
the column or the parcel id, and what to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from pestcast.core.errors import DataError, ParcelError, SourceError
from pestcast.features.columns import require_columns
from pestcast.features.surveys import SEVERITY_LEVELS, SURVEY_COLUMNS
from pestcast.features.weather import WEATHER_COLUMNS

__all__ = ["read_parcels", "read_surveys", "read_weather"]

PARCEL_COLUMNS = ("parcel_id", "commune", "district")
SEVERITIES = tuple(SEVERITY_LEVELS)


def read_parcels(path: Path, *, layer: str | None, crs: str) -> gpd.GeoDataFrame:
    """Parcels in ``crs`` (reprojected if needed) with repaired, polygonal geometry.

    Invalid polygons are repaired with ``make_valid(method="structure")`` keeping polygonal parts
    (``buffer(0)`` silently drops parts); multipolygons stay one parcel.
    """
    parcels = _read_vector(path, layer)
    require_columns(parcels, PARCEL_COLUMNS, str(path))
    parcels["parcel_id"] = parcels["parcel_id"].astype(str)
    _require_unique_ids(parcels["parcel_id"], path)
    if parcels.crs is None:
        raise ParcelError(f"{path} has no CRS; set one (e.g. EPSG:32648) in the file")
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


def read_weather(path: Path) -> pd.DataFrame:
    """Daily weather per commune: ``commune``, ``date``, temperatures (°C), RH (%), rain (mm)."""
    weather = _read_table(path, "sources.weather.path")
    require_columns(weather, WEATHER_COLUMNS, str(path))
    weather["date"] = _dates(weather, "date", path)
    repeated = weather.duplicated(["commune", "date"])
    if repeated.any():
        first = weather.loc[repeated].iloc[0]
        raise DataError(
            f"{path}: more than one row for commune {first['commune']!r} on "
            f"{first['date']:%Y-%m-%d}; keep one row per commune and day"
        )
    return weather.sort_values(["commune", "date"]).reset_index(drop=True)


def read_surveys(path: Path, *, known_parcels: Iterable[str], pests: Iterable[str]) -> pd.DataFrame:
    """Pest survey records of the modelled pests; unknown parcel ids are errors, not dropped."""
    surveys = _read_table(path, "sources.surveys.path")
    require_columns(surveys, SURVEY_COLUMNS, str(path))
    surveys["parcel_id"] = surveys["parcel_id"].astype(str)
    for column in ("survey_date", "report_date"):
        surveys[column] = _dates(surveys, column, path)
    _require_values(surveys, "severity", SEVERITIES, path)
    surveys = surveys[surveys["pest"].isin(list(pests))].copy()
    unknown = sorted(set(surveys["parcel_id"]) - set(known_parcels))
    if unknown:
        raise DataError(
            f"{path}: {len(unknown)} survey parcel ids are not in the parcel file, e.g. "
            f"{', '.join(unknown[:5])}; fix the ids or add the parcels"
        )
    late = surveys["report_date"] < surveys["survey_date"]
    if late.any():
        raise DataError(f"{path}: {int(late.sum())} rows report before the survey date")
    return surveys.sort_values(["report_date", "parcel_id"]).reset_index(drop=True)


def _dates(table: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """A column as calendar days; unparseable or missing values are named with the file."""
    try:
        days = pd.to_datetime(table[column]).dt.normalize()
    except (ValueError, TypeError) as error:
        raise DataError(
            f"{path}: column {column} holds values that are not dates ({error})"
        ) from None
    if days.isna().any():
        raise DataError(
            f"{path}: column {column} is empty in {int(days.isna().sum())} rows; fill or drop them"
        )
    return days


def _read_table(path: Path, key: str) -> pd.DataFrame:
    if not path.exists():
        raise SourceError(f"{path} does not exist; check {key} in the config")
    try:
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as error:
        raise SourceError(f"cannot read {path}: {error}") from error


def _require_values(table: pd.DataFrame, column: str, allowed: tuple[str, ...], path: Path) -> None:
    bad = sorted(set(table[column].astype(str)) - set(allowed))
    if bad:
        raise DataError(f"{path}: column {column} has values {bad}; allowed: {', '.join(allowed)}")
