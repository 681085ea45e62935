"""Publish parcel tables as RFC 7946 GeoJSON, written atomically, and the ``latest`` link.

GDAL's own GeoJSON writer (through pyogrio, ``RFC7946=YES``) serializes the map: [lon, lat] in
WGS 84, no ``crs`` member, outer rings counter-clockwise and holes clockwise, geometries crossing
the antimeridian split, ``precision`` decimals (6 ≈ 10 cm), NaN/None as ``null`` and Vietnamese
text as UTF-8, not ``\\u`` escapes. It replaced a hand-written json serializer because, on the
same tables, it gives the same features, properties and coordinates, valid output, and is faster:
1.7–2.0× on 20,000 parcels, about even on 100, where fixed costs dominate
(``bench/geojson_writer.py``). GDAL's own marks: a ``bbox`` on every feature too, an
``xy_coordinate_resolution`` member, float32 values to 8 significant digits, date-times to the
millisecond with ``Z`` for UTC. Around the writer, four things GDAL does not do for us:

- Geometries are snapped to the 10^-precision degree grid with shapely first: GDAL's
  ``COORDINATE_PRECISION`` only rounds the printed numbers, so it would leave the repeated points
  and collapsed rings that rounding creates.
- Properties are checked first: pyogrio writes object columns as ``str(value)``, so lists, dicts,
  numbers or other objects there would silently become text; they are refused, naming the column.
  ±inf becomes ``null`` (GDAL would drop the member).
- GDAL writes a temporary file that replaces the published one only once its last bytes are the
  collection's closing ``]`` and ``}``: GDAL does not report a failed write when the file is
  closed (a file-size limit hit near the end of the file truncated it without an error), and it
  writes sequentially, so a file that lost any bytes ends early. (Writing into memory instead
  cost four copies of the file: 3.4 GB for a province's 810 MB map, ``bench/results/scale.md``.)
- The layer is always named :data:`LAYER` and the name is not written (``WRITE_NAME=NO``), so the
  bytes do not depend on the (temporary) path; GDAL writes no timestamps, so the same table gives
  the same bytes. Text that looks like JSON stays text (``AUTODETECT_JSON_STRINGS=NO``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors

from pestcast.core.atomic import atomic_path, replace_symlink_atomic
from pestcast.core.errors import ConfigError, PublishError

__all__ = ["LATEST_LINK", "update_latest_link", "write_geojson_rfc7946"]

LATEST_LINK = "latest"
"""Name of the symlink in an output root that points at the newest dated folder."""

WGS84 = "EPSG:4326"
LAYER = "risk_map"
"""GDAL layer name of every published map (not written into the file)."""

_GDAL_ERRORS = (
    pyogrio.errors.CRSError,
    pyogrio.errors.DataLayerError,
    pyogrio.errors.DataSourceError,
    pyogrio.errors.GeometryError,
)
_COLLECTION_END = b"\n]\n}\n"
"""The last bytes of every FeatureCollection GDAL's GeoJSON writer writes (empty or not)."""
_OBJECT_KINDS = frozenset({"string", "empty", "date", "time", "datetime"})
"""``pandas.api.types.infer_dtype`` results of object columns that GDAL writes faithfully."""


def write_geojson_rfc7946(
    gdf: gpd.GeoDataFrame, path: Path, *, precision: int = 6, bbox: bool = True
) -> Path:
    """Write ``gdf`` (any CRS) to ``path`` as an RFC 7946 FeatureCollection; returns ``path``.

    Every non-geometry column becomes a feature property, in column order; the index is not
    written. ``bbox`` adds [west, south, east, north] to the collection and to each feature. The
    file is replaced atomically: readers never see a partial file, and a failed write leaves
    the previous one intact.
    """
    with atomic_path(path) as temporary:
        _write_with_gdal(gdf, temporary, path, precision=precision, bbox=bbox)
        _check_complete(temporary, path)
    return Path(path)


def _write_with_gdal(
    gdf: gpd.GeoDataFrame, target: Path, path: Path, *, precision: int, bbox: bool
) -> None:
    """``gdf`` checked and written by GDAL to ``target`` (``path``: for the messages)."""
    _check_arguments(gdf, path, precision)
    _check_properties(gdf)
    try:
        pyogrio.write_dataframe(
            _prepared(gdf, precision),
            target,
            layer=LAYER,
            driver="GeoJSON",
            use_arrow=False,  # the same path whatever PYOGRIO_USE_ARROW says
            layer_options=_layer_options(precision, bbox=bbox),
        )
    except _GDAL_ERRORS as error:
        raise PublishError(
            f"GDAL cannot write {path}: {error}; check the table's geometries and columns"
        ) from error


def _check_complete(written: Path, path: Path) -> None:
    """Refuse GDAL's output unless it ends as every FeatureCollection GDAL writes ends."""
    with written.open("rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(max(0, size - len(_COLLECTION_END)))
        end = handle.read()
    if end != _COLLECTION_END:
        raise PublishError(
            f"cannot write {path}: GDAL's output stops after {size} bytes, before the end of "
            "the feature collection; check the folder has free space and no file-size limit"
        )


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


def _layer_options(precision: int, *, bbox: bool) -> dict[str, str]:
    return {
        "RFC7946": "YES",
        "COORDINATE_PRECISION": str(precision),
        "WRITE_BBOX": "YES" if bbox else "NO",
        "WRITE_NAME": "NO",
        "AUTODETECT_JSON_STRINGS": "NO",
    }


def _prepared(gdf: gpd.GeoDataFrame, precision: int) -> gpd.GeoDataFrame:
    """A shallow copy in WGS 84 on the 10^-precision degree grid, ±inf as NaN, text names."""
    geometry = gdf.geometry.to_crs(WGS84) if gdf.crs is not None else gdf.geometry.set_crs(WGS84)
    # Snapping drops the repeated points and collapsed rings that rounding makes and keeps the
    # polygon valid; GDAL orients the rings after it.
    snapped = geometry.set_precision(10.0**-precision)
    snapped[snapped.is_empty] = None
    frame = gdf.copy(deep=False)
    frame[gdf.geometry.name] = snapped
    frame.columns = [str(c) for c in frame.columns]
    floats = [c for c, dtype in frame.dtypes.items() if dtype.kind == "f"]
    frame[floats] = frame[floats].replace([np.inf, -np.inf], np.nan)
    return frame


# --- properties ------------------------------------------------------------------------------


def _check_properties(gdf: gpd.GeoDataFrame) -> None:
    """Refuse columns GDAL would drop, garble or turn into text (names are written as text)."""
    columns = gdf.drop(columns=gdf.geometry.name)
    names = [str(c) for c in columns.columns]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise PublishError(f"property names repeat: {repeated}; rename the columns to publish")
    for name, (_, column) in zip(names, columns.items(), strict=True):
        if not _writable(column):
            raise PublishError(
                f"column {name!r} holds {_describe(column)}, which GDAL cannot write as a GeoJSON "
                "property; convert it to text or a number before publishing (e.g. .astype(str))"
            )


def _writable(column: pd.Series[Any]) -> bool:
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _writable(pd.Series(dtype.categories))
    if isinstance(dtype, pd.StringDtype):
        return True
    if pd.api.types.is_object_dtype(dtype):
        return pd.api.types.infer_dtype(column, skipna=True) in _OBJECT_KINDS
    # bool, signed int, float, datetime (naive or zoned); GDAL has no unsigned 64-bit integer
    return dtype.kind in "bifM" or (dtype.kind == "u" and str(dtype).lower() != "uint64")


def _describe(column: pd.Series[Any]) -> str:
    if isinstance(column.dtype, np.dtype) and not pd.api.types.is_object_dtype(column.dtype):
        return f"{column.dtype} values"
    plain = (str, dt.date, dt.time)
    culprit = next((v for v in column.dropna() if not isinstance(v, plain)), None)
    if culprit is None:
        return "a mix of text, dates and times"
    return f"a value of type {type(culprit).__name__} ({culprit!r:.60})"
