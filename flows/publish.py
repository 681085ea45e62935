"""Publish parcel tables as RFC 7946 GeoJSON, written atomically, and the ``latest`` link.

The serializer is our own (json + shapely mapping) so output is byte-for-byte deterministic:
[lon, lat] in WGS 84, no ``crs`` member, outer rings counter-clockwise and holes clockwise,
coordinates rounded to ``precision`` decimals (6 ≈ 10 cm) with the repeated points rounding
creates removed, properties made JSON-safe (NaN → null, numpy → Python, dates → ISO 8601) and
Vietnamese text written as UTF-8, not ``\\u`` escapes. Geometries crossing the antimeridian are
not split (the Mekong delta is far from it).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.geometry

from pestcast.core.atomic import replace_symlink_atomic, write_text_atomic
from pestcast.core.errors import ConfigError, PublishError

__all__ = ["LATEST_LINK", "update_latest_link", "write_geojson_rfc7946"]

LATEST_LINK = "latest"
"""Name of the symlink in an output root that points at the newest dated folder."""

WGS84 = "EPSG:4326"


def write_geojson_rfc7946(
    gdf: gpd.GeoDataFrame, path: Path, *, precision: int = 6, bbox: bool = True
) -> Path:
    """Write ``gdf`` (any CRS) to ``path`` as an RFC 7946 FeatureCollection; returns ``path``.

    Every non-geometry column becomes a feature property, in column order. ``bbox`` adds the
    collection's [west, south, east, north]. The file is replaced atomically: readers never see
    a partial file, and a failed write leaves the previous one intact.
    """
    _check_arguments(gdf, path, precision)
    in_wgs84 = gdf.geometry.to_crs(WGS84) if len(gdf) else gdf.geometry
    geometries = [_rfc7946_geometry(g, precision) for g in in_wgs84]
    collection: dict[str, Any] = {"type": "FeatureCollection"}
    if bbox and any(g is not None for g in geometries):
        collection["bbox"] = _bbox(geometries, precision)
    collection["features"] = [
        {"type": "Feature", "properties": properties, "geometry": geometry}
        for properties, geometry in zip(_properties(gdf), geometries, strict=True)
    ]
    text = json.dumps(collection, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    try:
        return write_text_atomic(path, text + "\n")
    except PublishError:
        raise
    except OSError as error:
        raise PublishError(
            f"cannot write {path}: {error}; check free space and permissions"
        ) from error


def update_latest_link(output_root: Path, dated_dir: Path) -> Path:
    """Point ``output_root/latest`` at ``dated_dir`` (a relative symlink, replaced atomically)."""
    return replace_symlink_atomic(Path(output_root) / LATEST_LINK, dated_dir)


def _check_arguments(gdf: gpd.GeoDataFrame, path: Path, precision: int) -> None:
    if not isinstance(precision, int) or not 0 <= precision <= 15:
        raise ConfigError(f"GeoJSON precision {precision!r} must be 0–15 decimals (6 ≈ 10 cm)")
    if gdf.crs is None and len(gdf):
        raise PublishError(
            f"cannot publish {path}: the table has no CRS, so it cannot be reprojected to "
            "WGS 84; set it (parcels are in the region's UTM zone, e.g. EPSG:32648)"
        )


# --- geometry --------------------------------------------------------------------------------


def _rfc7946_geometry(geometry: shapely.Geometry | None, precision: int) -> dict[str, Any] | None:
    """GeoJSON geometry dict with right-hand-rule rings on a 10^-precision degree grid."""
    if geometry is None or geometry.is_empty:
        return None
    # Snapping to the grid drops the repeated points and collapsed rings that rounding makes,
    # and keeps the polygon valid; orienting after it is final.
    snapped = shapely.set_precision(geometry, 10.0**-precision)
    if snapped.is_empty:
        return None
    oriented = shapely.orient_polygons(snapped, exterior_cw=False)
    return _rounded(shapely.geometry.mapping(oriented), precision)


def _rounded(mapping: Mapping[str, Any], precision: int) -> dict[str, Any]:
    if mapping["type"] == "GeometryCollection":
        return {
            "type": "GeometryCollection",
            "geometries": [_rounded(g, precision) for g in mapping["geometries"]],
        }
    return {
        "type": mapping["type"],
        "coordinates": _round_nested(mapping["coordinates"], precision),
    }


def _round_nested(coordinates: Any, precision: int) -> Any:
    if isinstance(coordinates, int | float):
        return round(float(coordinates), precision) + 0.0  # + 0.0 turns -0.0 into 0.0
    return [_round_nested(c, precision) for c in coordinates]


def _bbox(geometries: Iterable[dict[str, Any] | None], precision: int) -> list[float]:
    shapes = [shapely.geometry.shape(g) for g in geometries if g is not None]
    west, south, east, north = shapely.total_bounds(shapes)
    return [round(float(v), precision) for v in (west, south, east, north)]


# --- properties ------------------------------------------------------------------------------


def _properties(gdf: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    table = pd.DataFrame(gdf[columns])
    rows = table.itertuples(index=False, name=None)
    names = [str(c) for c in columns]
    return [
        {name: _json_value(value, name) for name, value in zip(names, row, strict=True)}
        for row in rows
    ]


def _finite_or_none(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _iso(value: Any) -> str:
    return (
        str(pd.Timestamp(value).isoformat())
        if isinstance(value, np.datetime64)
        else value.isoformat()
    )


_CONVERTERS: tuple[tuple[type | tuple[type, ...], Callable[[Any], Any]], ...] = (
    (str, str),
    ((bool, np.bool_), bool),
    ((int, np.integer), int),
    ((float, np.floating), _finite_or_none),
    ((dt.datetime, dt.date, dt.time, np.datetime64), _iso),  # pd.Timestamp is a datetime
    (pd.Timedelta, lambda v: v.isoformat()),
)


def _json_value(value: Any, column: str) -> Any:
    """A JSON-safe Python value for one property; missing values (None, NaN, NaT, NA) → None."""
    if isinstance(value, list | tuple | np.ndarray):
        return [_json_value(v, column) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v, column) for k, v in value.items()}
    if value is None or value is pd.NaT or value is pd.NA or _is_nan(value):
        return None
    for types, convert in _CONVERTERS:
        if isinstance(value, types):
            return convert(value)
    raise PublishError(
        f"column {column!r} holds a {type(value).__name__} ({value!r:.60}), which GeoJSON "
        "properties cannot carry; convert it to text or a number before publishing"
    )


def _is_nan(value: Any) -> bool:
    return isinstance(value, float | np.floating | np.datetime64) and bool(np.isnan(value))
