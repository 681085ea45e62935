"""Parcel warnings for plant-protection officers, exported from a published risk map.

The risk map (``docs/DESIGN.md``, "The risk map") holds one feature per parcel with wide
properties ``risk_<p>_h<h>``, ``class_<p>_h<h>``, …; an export holds one row per parcel × pest ×
horizon (long format: what officers filter and sort), most urgent first: class high → medium →
low → no_data → not_in_crop (:data:`pestcast.models.RISK_CLASSES`), then risk descending, then
parcel id. A ``not_in_crop`` row (the imagery shows the parcel fallow or flooded off-season) has
no risk and no reasons, like a ``no_data`` row, but its own class name and colour. The columns
(:data:`COLUMNS`) keep their machine names in every format that allows them; dates stay ISO text
``YYYY-MM-DD`` as in the map (they sort correctly as text). Per format:

- ``gpkg``: layer ``warnings``, parcel polygons in WGS 84.
- ``geojson``: RFC 7946 through :func:`pestcast.flows.publish.write_geojson_rfc7946`, 6 decimals.
  An empty export is a FeatureCollection without features; GeoJSON has no schema, so GDAL opens
  it as a layer without fields.
- ``csv``: UTF-8 with a byte-order mark (Excel then shows Vietnamese correctly), CRLF line ends,
  empty cells for missing values, no geometry but ``lat``/``lon``: each parcel's centroid in
  WGS 84 with 6 decimals (≈ 10 cm), computed in the parcels' UTM zone.
- ``kml``: GDAL's LIBKML driver. One folder per pest × horizon (their polygons coincide), shown
  one at a time (a radio folder list; the first is visible); placemark name = parcel id,
  description = the warning in English and Vietnamese (HTML; a not-in-crop row says why it has
  no risk), polygons filled with the class colour (:data:`CLASS_COLOURS`) through each
  feature's style string (an ``OGR_STYLE`` field, which LIBKML also copies into the placemark's
  ExtendedData with the other columns).
- ``shp``: one ``.zip`` holding ``warnings.shp/.shx/.dbf/.prj/.cpg``, text in UTF-8 (``.cpg``),
  field names cut to the 10 characters dBASE allows as :data:`SHAPEFILE_FIELDS` says; text
  longer than dBASE's 254 bytes is cut at a character boundary and ends in "…".
- ``xlsx``: sheet "Warnings – Cảnh báo" with every row under two header rows (English, then
  Vietnamese), headers and parcel ids frozen, an autofilter, class cells in the class colour,
  ``lat``/``lon`` as in the CSV; sheet "About – Thông tin" names the risk map, the forecast
  date, the model, the filters, and each class's colour and rows.

Arguments are checked and the risk map is read before anything is written; the file appears
whole or not at all (written beside the target, then renamed).
"""

from __future__ import annotations

import html
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
import pyogrio.errors
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from pestcast.core.atomic import atomic_path
from pestcast.core.errors import ConfigError, DataError, PublishError
from pestcast.flows.labels import CLASS_NAMES, PEST_NAMES
from pestcast.flows.publish import write_geojson_rfc7946
from pestcast.models import NO_DATA, NOT_IN_CROP, RISK_CLASSES

__all__ = [
    "CLASS_COLOURS",
    "CLASS_OUTLINES",
    "COLUMNS",
    "FORMATS",
    "LAYER",
    "NOT_IN_CROP_NOTE",
    "SHAPEFILE_FIELDS",
    "ExportSummary",
    "export_warnings",
]

LAYER = "warnings"
"""Layer name in GeoPackage and shapefile exports (``warnings.shp`` inside the zip)."""

FORMATS: dict[str, tuple[str, ...]] = {
    "gpkg": (".gpkg",),
    "geojson": (".geojson", ".json"),
    "csv": (".csv",),
    "kml": (".kml",),
    "shp": (".zip",),
    "xlsx": (".xlsx",),
}
"""Export format → the file name suffixes it accepts (the first is the usual one)."""

COLUMNS = (
    "parcel_id",
    "commune",
    "district",
    "area_ha",
    "forecast_date",
    "pest",
    "pest_name_en",
    "pest_name_vi",
    "horizon_days",
    "risk",
    "risk_low",
    "risk_high",
    "risk_class",
    "risk_class_vi",
    "reasons_en",
    "reasons_vi",
    "last_clear_obs_date",
    "model_version",
)
"""Columns of every export, in order (CSV and XLSX add ``lat``, ``lon``)."""

SHAPEFILE_FIELDS = {
    "parcel_id": "parcel_id",
    "commune": "commune",
    "district": "district",
    "area_ha": "area_ha",
    "forecast_date": "fcst_date",
    "pest": "pest",
    "pest_name_en": "pest_en",
    "pest_name_vi": "pest_vi",
    "horizon_days": "horizon_d",
    "risk": "risk",
    "risk_low": "risk_low",
    "risk_high": "risk_high",
    "risk_class": "class",
    "risk_class_vi": "class_vi",
    "reasons_en": "reasons_en",
    "reasons_vi": "reasons_vi",
    "last_clear_obs_date": "clear_obs",
    "model_version": "model_ver",
}
"""Column → shapefile field name (dBASE allows 10 characters)."""

CLASS_COLOURS = {
    "high": "#D7191C",
    "medium": "#FD8D3C",
    "low": "#C2E699",
    NO_DATA: "#D9D9D9",
    NOT_IN_CROP: "#EFE6D0",
}
"""Risk class → fill colour (#RRGGBB) in KML and XLSX exports, the map page and the bulletin.

``not_in_crop`` is a light beige: neutral like ``no_data``'s grey, yet told apart from it."""
CLASS_OUTLINES = {
    "high": "#7F0000",
    "medium": "#8C4500",
    "low": "#5B7F3A",
    NO_DATA: "#555555",
    NOT_IN_CROP: "#C9BC9C",
}
"""Risk class → parcel outline colour in KML exports and the map page; ``not_in_crop``'s is a
faint tan, so that fallow and off-season parcels draw no attention."""

NOT_IN_CROP_NOTE = (
    "no rice crop on the satellite images (fallow or flooded off-season), so no risk is forecast",
    "ảnh vệ tinh không thấy lúa (ruộng bỏ trống hoặc ngập nước giữa hai vụ), nên không dự báo "
    "nguy cơ",
)
"""(English, Vietnamese) why a ``not_in_crop`` parcel has no risk: said where officers read it."""

_COLOUR_NAMES = {
    "high": ("red", "đỏ"),
    "medium": ("orange", "cam"),
    "low": ("green", "xanh lá"),
    NO_DATA: ("grey", "xám"),
    NOT_IN_CROP: ("light beige", "be nhạt"),
}
_UNRANKED = frozenset({NO_DATA, NOT_IN_CROP})
"""Classes that say nothing about risk: never a ``min_class``, dropped by any ``min_class``."""
_KML_FILL_ALPHA = "99"
"""60 % opaque fills: the imagery under a parcel stays visible in Google Earth."""
_DBF_TEXT_BYTES = 254
_MAP_COLUMNS = (
    "parcel_id",
    "commune",
    "district",
    "area_ha",
    "forecast_date",
    "model_version",
    "last_clear_obs_date",
)
_PER_KEY = ("class_{}", "class_vi_{}", "reasons_{}", "reasons_vi_{}")
_RISK_PROPERTY = re.compile(r"^risk_(?!low_|high_)(?P<pest>.+)_h(?P<horizon>\d+)$")
_WGS84 = "EPSG:4326"
_GDAL_ERRORS = (
    pyogrio.errors.CRSError,
    pyogrio.errors.DataLayerError,
    pyogrio.errors.DataSourceError,
    pyogrio.errors.FieldError,
    pyogrio.errors.GeometryError,
)


@dataclass(frozen=True)
class ExportSummary:
    """What :func:`export_warnings` wrote."""

    path: Path
    """The file written."""
    rows: int
    """Rows (parcel × pest × horizon) that passed the filters; 0 when none did."""
    parcels: int
    """Distinct parcels among those rows."""
    format: str
    """The export format, a key of :data:`FORMATS`."""


@dataclass(frozen=True)
class _Context:
    """What the writers need besides the rows."""

    source: Path
    geometry_type: str
    forecast_dates: str
    model_versions: str
    filters: str
    class_names_vi: dict[str, str]
    keys: tuple[tuple[str, int], ...]


def export_warnings(
    risk_map: Path,
    out: Path,
    *,
    fmt: str,
    pests: Sequence[str] | None = None,
    horizons: Sequence[int] | None = None,
    min_class: str | None = None,
    communes: Sequence[str] | None = None,
    districts: Sequence[str] | None = None,
    overwrite: bool = False,
) -> ExportSummary:
    """Write the parcel warnings of the published ``risk_map`` to ``out`` as ``fmt``.

    ``fmt`` is a key of :data:`FORMATS` and ``out`` must end in one of its suffixes. Filters
    (None or empty: keep all) keep the given pest codes, horizons (days), classes at or above
    ``min_class`` (low < medium < high; no_data and not_in_crop rows are dropped), communes and
    districts; names match whatever their case and Unicode normalisation (NFC or NFD). A filter
    that matches nothing is not an error: the file is written without rows.

    Raises :class:`ConfigError` for an unknown format or filter value (listing the valid ones
    as the risk map spells them), a suffix that does not fit ``fmt``, or an existing ``out``
    without ``overwrite``; :class:`DataError` when ``risk_map`` is missing, unreadable or not a
    risk map; :class:`PublishError` when the file cannot be written.
    """
    risk_map, out, fmt = Path(risk_map), Path(out), fmt.strip().lower()
    _check_target(out, fmt, risk_map=risk_map, overwrite=overwrite)
    floor = _min_class_rank(min_class)
    parcels = _read_risk_map(risk_map)
    keys = pd.DataFrame(_risk_keys(parcels), columns=["pest", "horizon_days"])
    wanted_keys = _matching(keys["pest"], pests, what="pest", source=risk_map) & (
        _matching_horizons(keys["horizon_days"], horizons, source=risk_map)
    )
    in_area = _matching(parcels["commune"], communes, what="commune", source=risk_map) & (
        _matching(parcels["district"], districts, what="district", source=risk_map)
    )
    # Filtered before the rows are built: a province's every parcel × pest × horizon row
    # (3 million) held 1.7 GB to export the 440,000 medium and high ones.
    selected = _warning_rows(
        parcels,
        risk_map,
        keys=list(keys[wanted_keys].itertuples(index=False, name=None)),
        in_area=in_area,
        floor=floor,
    )
    filters = _describe_filters(pests, horizons, min_class, communes, districts)
    _WRITERS[fmt](selected, out, _context(parcels, risk_map, filters))
    parcel_count = int(selected["parcel_id"].nunique())
    return ExportSummary(path=out, rows=len(selected), parcels=parcel_count, format=fmt)


# --- arguments and input ----------------------------------------------------------------------


def _check_target(out: Path, fmt: str, *, risk_map: Path, overwrite: bool) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if out.suffix.lower() not in FORMATS[fmt]:
        raise ConfigError(_suffix_advice(out, fmt))
    if out.is_dir():
        raise ConfigError(f"{out} is a folder; give the path of the {fmt} file to write")
    if out.exists() and risk_map.exists() and out.samefile(risk_map):
        raise ConfigError(f"{out} is the risk map being exported; choose another output path")
    if (out.exists() or out.is_symlink()) and not overwrite:
        raise ConfigError(
            f"{out} already exists; pass --overwrite to replace it or choose another path"
        )


def _suffix_advice(out: Path, fmt: str) -> str:
    usual = out.with_suffix(FORMATS[fmt][0]).name
    if fmt == "shp":
        return (
            f"{out.name}: a shapefile export is one .zip archive (.shp, .shx, .dbf, .prj, .cpg "
            f"inside); name it {usual}"
        )
    suffix = out.suffix or "no suffix"
    others = [name for name, suffixes in FORMATS.items() if out.suffix.lower() in suffixes]
    instead = f" or pass --format {others[0]}" if others else ""
    return f"{out.name} has {suffix}, which does not fit the {fmt} format; name it {usual}{instead}"


def _min_class_rank(min_class: str | None) -> int | None:
    """Rank in ``RISK_CLASSES`` (0 = most urgent) of the lowest class to keep."""
    if min_class is None or not min_class.strip():
        return None
    valid = [name for name in RISK_CLASSES if name not in _UNRANKED]
    ranks = {_key(name): RISK_CLASSES.index(name) for name in valid}
    rank = ranks.get(_key(min_class))
    if rank is None:
        raise ConfigError(f"unknown risk class {min_class!r}; choose one of: {', '.join(valid)}")
    return rank


def _read_risk_map(path: Path) -> gpd.GeoDataFrame:
    advice = "run `pestcast forecast` first to publish the risk map"
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise DataError(f"risk map {path} {what}; {advice} (risk_map.geojson)")
    try:
        # Dates stay the text the map holds; GDAL would otherwise guess date columns.
        parcels = pyogrio.read_dataframe(path, use_arrow=True, DATE_AS_STRING="YES")
    except _GDAL_ERRORS as error:
        raise DataError(f"cannot read the risk map {path}: {error}; {advice}") from error
    _check_risk_map(parcels, path)
    return parcels


def _check_risk_map(parcels: gpd.GeoDataFrame, path: Path) -> None:
    columns = {str(name) for name in parcels.columns}
    keys = _risk_keys(parcels)
    needed = [*_MAP_COLUMNS, *(p.format(f"{pest}_h{h}") for pest, h in keys for p in _PER_KEY)]
    missing = [name for name in needed if name not in columns]
    advice = "run `pestcast forecast` to publish one"
    if parcels.empty:
        raise DataError(f"risk map {path} holds no parcels; {advice}")
    if not keys or missing:
        problem = f"lacks {', '.join(missing)}" if keys else "has no risk_<pest>_h<days> property"
        raise DataError(
            f"risk map {path} {problem}, so it is not a pestcast risk map (docs/DESIGN.md, "
            f"'The risk map'); {advice}"
        )


def _risk_keys(parcels: pd.DataFrame) -> list[tuple[str, int]]:
    """(pest, horizon days) of every ``risk_<pest>_h<days>`` property, in the map's order."""
    matches = (_RISK_PROPERTY.match(str(name)) for name in parcels.columns)
    return [(m["pest"], int(m["horizon"])) for m in matches if m]


# --- long rows ---------------------------------------------------------------------------------


def _warning_rows(
    parcels: gpd.GeoDataFrame,
    source: Path,
    *,
    keys: Sequence[tuple[str, int]],
    in_area: npt.NDArray[np.bool_],
    floor: int | None,
) -> gpd.GeoDataFrame:
    """One row per parcel × pest × horizon of ``keys`` for the parcels ``in_area`` whose class
    is at least ``floor``, most urgent first, with centroid ``lat``/``lon``."""
    lat, lon = _centroids_wgs84(parcels.geometry)
    parts, positions = [], []
    for pest, horizon in keys:
        classes = parcels[f"class_{pest}_h{horizon}"].astype(object)
        _check_classes(classes, parcels["parcel_id"], f"class_{pest}_h{horizon}", source)
        kept = np.flatnonzero(in_area & _at_least(classes, floor))
        parts.append(_rows_of(parcels.iloc[kept], pest, horizon))
        positions.append(kept)
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(COLUMNS))
    at = np.concatenate(positions) if positions else np.array([], dtype=np.intp)
    rows["lat"], rows["lon"] = lat[at], lon[at]
    rows["geometry"] = parcels.geometry.iloc[at].reset_index(drop=True)
    pest_order = {pest: i for i, pest in enumerate(dict.fromkeys(p for p, _ in keys))}
    order = rows.assign(
        _rank=rows["risk_class"].map(RISK_CLASSES.index), _pest=rows["pest"].map(pest_order)
    ).sort_values(
        ["_rank", "risk", "parcel_id", "_pest", "horizon_days"],
        ascending=[True, False, True, True, True],
        na_position="last",
        kind="stable",
    )
    return gpd.GeoDataFrame(
        rows.loc[order.index].reset_index(drop=True), geometry="geometry", crs=_WGS84
    )


def _optional_number(parcels: pd.DataFrame, column: str) -> pd.Series:
    """A numeric property that older risk maps lack (NaN then)."""
    if column not in parcels:
        return pd.Series(np.nan, index=parcels.index)
    return pd.to_numeric(parcels[column]).astype(np.float64)


def _rows_of(parcels: pd.DataFrame, pest: str, horizon: int) -> pd.DataFrame:
    key = f"{pest}_h{horizon}"
    name_en, name_vi = PEST_NAMES.get(pest, (pest, pest))
    return pd.DataFrame(
        {
            **{name: parcels[name] for name in _MAP_COLUMNS},
            "pest": pest,
            "pest_name_en": name_en,
            "pest_name_vi": name_vi,
            "horizon_days": np.int32(horizon),  # LIBKML writes 64-bit integers as text
            "risk": pd.to_numeric(parcels[f"risk_{key}"]).astype(np.float64),
            "risk_low": _optional_number(parcels, f"risk_low_{key}"),
            "risk_high": _optional_number(parcels, f"risk_high_{key}"),
            "risk_class": parcels[f"class_{key}"].astype(object),
            "risk_class_vi": parcels[f"class_vi_{key}"].fillna(""),
            "reasons_en": parcels[f"reasons_{key}"].fillna(""),
            "reasons_vi": parcels[f"reasons_vi_{key}"].fillna(""),
        }
    )[list(COLUMNS)]


def _check_classes(classes: pd.Series[Any], ids: pd.Series[Any], column: str, source: Path) -> None:
    unknown = ~classes.isin(RISK_CLASSES)
    if unknown.any():
        first = int(np.argmax(unknown.to_numpy()))
        raise DataError(
            f"risk map {source}: parcel {ids.iloc[first]} has {column} = {classes.iloc[first]!r}, "
            f"not one of {', '.join(RISK_CLASSES)}; publish the map again with `pestcast forecast`"
        )


def _centroids_wgs84(
    geometry: gpd.GeoSeries,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Centroid latitude and longitude (degrees, 6 decimals), computed in metres (UTM)."""
    usable = geometry.notna() & ~geometry.is_empty
    lat = np.full(len(geometry), np.nan)
    lon = np.full(len(geometry), np.nan)
    if usable.any():
        wgs84 = geometry[usable].to_crs(_WGS84)
        points = wgs84.to_crs(wgs84.estimate_utm_crs()).centroid.to_crs(_WGS84)
        lat[usable.to_numpy()], lon[usable.to_numpy()] = points.y, points.x
    return np.round(lat, 6), np.round(lon, 6)


# --- filters -----------------------------------------------------------------------------------


def _key(text: str) -> str:
    """Matching key: the same for any case, NFC or NFD, and surrounding spaces."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).strip().casefold())


def _all(column: pd.Series[Any]) -> npt.NDArray[np.bool_]:
    return np.ones(len(column), dtype=bool)


def _matching(
    column: pd.Series[Any], wanted: Sequence[str] | None, *, what: str, source: Path
) -> npt.NDArray[np.bool_]:
    if not wanted:
        return _all(column)
    valid = sorted({str(v) for v in column.dropna()})
    known = {_key(v) for v in valid}
    unknown = [w for w in wanted if _key(w) not in known]
    if unknown:
        raise ConfigError(
            f"unknown {what} {', '.join(map(repr, unknown))}: the risk map {source} has "
            f"{', '.join(valid)}"
        )
    keys = {_key(w) for w in wanted}
    return column.map(lambda v: isinstance(v, str) and _key(v) in keys).to_numpy(dtype=bool)


def _matching_horizons(
    column: pd.Series[Any], wanted: Sequence[int] | None, *, source: Path
) -> npt.NDArray[np.bool_]:
    if not wanted:
        return _all(column)
    valid = sorted({int(v) for v in column})
    unknown = [h for h in wanted if h not in valid]
    if unknown:
        raise ConfigError(
            f"unknown horizon {', '.join(map(str, unknown))} days: the risk map {source} has "
            f"{', '.join(map(str, valid))} days"
        )
    return column.isin(list(wanted)).to_numpy(dtype=bool)


def _at_least(classes: pd.Series[Any], rank: int | None) -> npt.NDArray[np.bool_]:
    if rank is None:
        return _all(classes)
    kept = set(RISK_CLASSES[: rank + 1]) - _UNRANKED  # they rank last and are never a floor
    return classes.isin(kept).to_numpy(dtype=bool)


def _describe_filters(
    pests: Sequence[str] | None,
    horizons: Sequence[int] | None,
    min_class: str | None,
    communes: Sequence[str] | None,
    districts: Sequence[str] | None,
) -> str:
    given = {
        "pests": pests,
        "horizons (days)": [str(h) for h in horizons or ()],
        "min class": [min_class] if min_class else None,
        "communes": communes,
        "districts": districts,
    }
    parts = [f"{name}: {', '.join(values)}" for name, values in given.items() if values]
    return "; ".join(parts) or "none / không"


def _context(parcels: gpd.GeoDataFrame, source: Path, filters: str) -> _Context:
    kinds = set(parcels.geometry.dropna().geom_type)
    multi = "MultiPolygon" if kinds <= {"Polygon", "MultiPolygon"} else "Unknown"
    pairs = pd.concat(
        pd.DataFrame(
            {
                "risk_class": parcels[f"class_{pest}_h{horizon}"].astype(object),
                "risk_class_vi": parcels[f"class_vi_{pest}_h{horizon}"].fillna(""),
            }
        ).drop_duplicates("risk_class")
        for pest, horizon in _risk_keys(parcels)
    ).drop_duplicates("risk_class")
    return _Context(
        source=source,
        geometry_type="Polygon" if kinds <= {"Polygon"} else multi,
        forecast_dates=", ".join(sorted(set(parcels["forecast_date"].dropna().astype(str)))),
        model_versions=", ".join(sorted(set(parcels["model_version"].dropna().astype(str)))),
        filters=filters,
        class_names_vi=dict(zip(pairs["risk_class"], pairs["risk_class_vi"], strict=True)),
        keys=tuple(_risk_keys(parcels)),
    )


# --- writers -----------------------------------------------------------------------------------


def _write_layer(
    frame: gpd.GeoDataFrame, path: Path, *, target: Path, geometry_type: str, **options: Any
) -> None:
    """Write ``frame`` with GDAL to ``path`` (a temporary file or folder for ``target``)."""
    try:
        pyogrio.write_dataframe(
            frame,
            path,
            use_arrow=False,
            geometry_type=geometry_type,
            promote_to_multi=geometry_type == "MultiPolygon",
            **options,
        )
    except _GDAL_ERRORS as error:
        raise PublishError(f"GDAL cannot write {target}: {error}") from error


def _geo(rows: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows[[*COLUMNS, "geometry"]], geometry="geometry", crs=_WGS84)


def _write_gpkg(rows: gpd.GeoDataFrame, out: Path, context: _Context) -> None:
    with atomic_path(out) as temporary:
        _write_layer(
            _geo(rows),
            temporary,
            target=out,
            driver="GPKG",
            layer=LAYER,
            geometry_type=context.geometry_type,
        )


def _write_geojson(rows: gpd.GeoDataFrame, out: Path, _context: _Context) -> None:
    write_geojson_rfc7946(_geo(rows), out, precision=6)


def _tabular(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(rows[[*COLUMNS, "lat", "lon"]]).reset_index(drop=True)


def _write_csv(rows: gpd.GeoDataFrame, out: Path, _context: _Context) -> None:
    table = _tabular(rows)
    for name in ("lat", "lon"):
        table[name] = [f"{v:.6f}" if np.isfinite(v) else "" for v in table[name]]
    with atomic_path(out) as temporary:
        table.to_csv(temporary, index=False, encoding="utf-8-sig", lineterminator="\r\n", na_rep="")


def _dbf_text(text: str) -> str:
    """``text`` cut to dBASE's 254 bytes of UTF-8 at a character boundary, marked by "…"."""
    data = text.encode("utf-8")
    if len(data) <= _DBF_TEXT_BYTES:
        return text
    room = _DBF_TEXT_BYTES - len("…".encode())
    return data[:room].decode("utf-8", errors="ignore") + "…"


def _write_shp(rows: gpd.GeoDataFrame, out: Path, context: _Context) -> None:
    fields = _geo(rows).rename(columns=SHAPEFILE_FIELDS)
    for name in fields.columns[fields.dtypes.map(pd.api.types.is_string_dtype)]:
        fields[name] = fields[name].map(lambda v: _dbf_text(v) if isinstance(v, str) else v)
    with tempfile.TemporaryDirectory(prefix="pestcast-shp-") as folder:
        shapefile = Path(folder) / f"{LAYER}.shp"
        _write_layer(
            fields,
            shapefile,
            target=out,
            driver="ESRI Shapefile",
            encoding="UTF-8",
            geometry_type=context.geometry_type,
        )
        with atomic_path(out) as temporary, zipfile.ZipFile(temporary, "x") as archive:
            for part in sorted(Path(folder).iterdir()):
                archive.write(part, arcname=part.name, compress_type=zipfile.ZIP_DEFLATED)


# --- KML ---------------------------------------------------------------------------------------


def _kml_style(risk_class: str) -> str:
    """OGR feature style: the class colour as a translucent fill, and the class outline."""
    return (
        f"BRUSH(fc:{CLASS_COLOURS[risk_class]}{_KML_FILL_ALPHA});"
        f"PEN(c:{CLASS_OUTLINES[risk_class]}FF,w:2px)"
    )


def _kml_description(row: Any) -> str:
    """The warning of one row as HTML lines, English then Vietnamese."""
    v = {name: _html(getattr(row, name)) for name in COLUMNS}
    class_en = _html(CLASS_NAMES.get(row.risk_class, (row.risk_class,))[0])
    risk = "–" if pd.isna(row.risk) else f"{row.risk:.2f}"
    reasons_en, reasons_vi = v["reasons_en"], v["reasons_vi"]
    if row.risk_class == NOT_IN_CROP:  # not scored: say why instead of a missing risk
        risk = "not forecast / không dự báo"
        reasons_en, reasons_vi = (html.escape(text) for text in NOT_IN_CROP_NOTE)
    lines = [
        f"<b>{v['parcel_id']}</b> · {v['commune']}, {v['district']} · {row.area_ha:.2f} ha",
        f"{v['pest_name_en']} / {v['pest_name_vi']} · {row.horizon_days} days / "
        f"{row.horizon_days} ngày",
        f"Risk / Nguy cơ: {risk} · {class_en} / {v['risk_class_vi']}",
        f"Reasons: {reasons_en}",
        f"Lý do: {reasons_vi}",
        f"Forecast date / Ngày dự báo: {v['forecast_date']}",
        f"Last clear image / Ảnh rõ gần nhất: {v['last_clear_obs_date']}",
        f"Model / Mô hình: {v['model_version']}",
    ]
    return "<br/>".join(lines)


def _html(value: Any) -> str:
    """``value`` as HTML text; a dash when missing or empty."""
    if value is None or value == "" or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return html.escape(str(value), quote=False)


def _kml_frame(rows: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    frame = _geo(rows)
    frame.insert(0, "name", rows["parcel_id"].to_numpy())
    frame.insert(1, "description", [_kml_description(r) for r in rows.itertuples(index=False)])
    frame.insert(2, "OGR_STYLE", [_kml_style(c) for c in rows["risk_class"]])
    return frame


def _kml_folders(
    rows: gpd.GeoDataFrame, keys: Sequence[tuple[str, int]]
) -> list[tuple[str, str, gpd.GeoDataFrame]]:
    """(layer id, folder title, rows) per pest × horizon with rows, in the map's order."""
    folders = []
    for pest, horizon in keys:
        part = rows[(rows["pest"] == pest) & (rows["horizon_days"] == horizon)]
        if part.empty:
            continue
        en, vi = (str(part[name].iloc[0]).capitalize() for name in ("pest_name_en", "pest_name_vi"))
        title = f"{en} / {vi} – {horizon} days / {horizon} ngày"
        folders.append((f"{pest}_h{horizon}", title, part))
    if not folders:
        return [(LAYER, "No warnings match the filters / Không có cảnh báo phù hợp", rows)]
    return folders


def _class_name_vi(context: _Context, name: str) -> str:
    """The Vietnamese class name as the risk map spells it, else the house one."""
    return context.class_names_vi.get(name) or CLASS_NAMES[name][1]


def _kml_legend(context: _Context) -> str:
    entries = [
        f"{name} / {_class_name_vi(context, name)}: {en} / {vi}"
        for name, (en, vi) in _COLOUR_NAMES.items()
    ]
    return (
        f"Forecast date / Ngày dự báo: {context.forecast_dates}. "
        f"Filters / Bộ lọc: {context.filters}. Fill = risk class / Màu = mức nguy cơ: "
        + "; ".join(entries)
    )


def _write_kml(rows: gpd.GeoDataFrame, out: Path, context: _Context) -> None:
    if "LIBKML" not in pyogrio.list_drivers(write=True):
        raise PublishError(
            f"cannot write {out}: this GDAL has no LIBKML driver; install pyogrio from its PyPI "
            "wheels, which include it"
        )
    document = {
        "NAME": f"Pest warnings / Cảnh báo dịch hại {context.forecast_dates}",
        "DESCRIPTION": _kml_legend(context),
        "LISTSTYLE_TYPE": "radioFolder",
    }
    with atomic_path(out) as temporary:
        for index, (layer, title, part) in enumerate(_kml_folders(rows, context.keys)):
            _write_layer(
                _kml_frame(part),
                temporary,
                target=out,
                driver="LIBKML",
                layer=layer,
                append=index > 0,
                dataset_options=document if index == 0 else None,
                layer_options={"NAME": title, "FOLDER": "YES", "VISIBILITY": str(int(index == 0))},
                geometry_type=context.geometry_type,
            )


# --- XLSX --------------------------------------------------------------------------------------

_HEADERS: dict[str, tuple[str, str, int]] = {
    "parcel_id": ("Parcel", "Mã thửa", 12),
    "commune": ("Commune", "Xã", 18),
    "district": ("District", "Huyện", 16),
    "area_ha": ("Area (ha)", "Diện tích (ha)", 10),
    "forecast_date": ("Forecast date", "Ngày dự báo", 12),
    "pest": ("Pest code", "Mã dịch hại", 9),
    "pest_name_en": ("Pest", "Dịch hại (tiếng Anh)", 18),
    "pest_name_vi": ("Pest (Vietnamese)", "Dịch hại", 12),
    "horizon_days": ("Horizon (days)", "Thời hạn (ngày)", 9),
    "risk": ("Risk (0–1)", "Nguy cơ (0–1)", 9),
    "risk_low": ("Came true, at least", "Tỷ lệ đúng, thấp nhất", 10),
    "risk_high": ("Came true, at most", "Tỷ lệ đúng, cao nhất", 10),
    "risk_class": ("Risk class", "Mức nguy cơ (tiếng Anh)", 11),
    "risk_class_vi": ("Risk class (Vietnamese)", "Mức nguy cơ", 15),
    "reasons_en": ("Reasons", "Lý do (tiếng Anh)", 60),
    "reasons_vi": ("Reasons (Vietnamese)", "Lý do", 60),
    "last_clear_obs_date": ("Last clear satellite image", "Ảnh vệ tinh rõ gần nhất", 13),
    "model_version": ("Model version", "Phiên bản mô hình", 16),
    "lat": ("Latitude (WGS 84)", "Vĩ độ", 11),
    "lon": ("Longitude (WGS 84)", "Kinh độ", 11),
}
"""XLSX column → (English header, Vietnamese header, width in characters)."""
_NUMBER_FORMATS = {
    "area_ha": "0.00",
    "risk": "0.00",
    "risk_low": "0.00",
    "risk_high": "0.00",
    "lat": "0.000000",
    "lon": "0.000000",
}
_HEADER_FILL = PatternFill(fill_type="solid", fgColor="FFE0E0E0")
_DARK_CLASSES = frozenset({"high"})
"""Classes whose colour needs white text."""


def _class_fill(risk_class: str) -> PatternFill:
    return PatternFill(fill_type="solid", fgColor="FF" + CLASS_COLOURS[risk_class][1:])


def _class_font(risk_class: str) -> Font:
    return Font(bold=True, color="FFFFFFFF" if risk_class in _DARK_CLASSES else None)


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    if value is None or pd.isna(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _write_header(sheet: Worksheet, columns: Sequence[str]) -> None:
    sheet.append([_HEADERS[c][0] for c in columns])
    sheet.append([_HEADERS[c][1] for c in columns])
    for cells in sheet.iter_rows(min_row=1, max_row=2):
        for cell in cells:
            cell.font = Font(bold=True)
            cell.fill = _HEADER_FILL
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    for index, name in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = _HEADERS[name][2]
    sheet.freeze_panes = "B3"


def _fill_warnings(sheet: Worksheet, rows: pd.DataFrame) -> None:
    table = _tabular(rows)
    columns = list(table.columns)
    _write_header(sheet, columns)
    position = columns.index("risk_class")
    classed = [position + 1, columns.index("risk_class_vi") + 1]
    formats = {columns.index(c) + 1: f for c, f in _NUMBER_FORMATS.items()}
    styles = {name: (_class_fill(name), _class_font(name)) for name in CLASS_COLOURS}
    for row, values in enumerate(table.itertuples(index=False), start=3):
        sheet.append([_cell(v) for v in values])
        fill, font = styles[str(values[position])]
        for column in classed:
            cell = sheet.cell(row=row, column=column)
            cell.fill, cell.font = fill, font
        for column, number_format in formats.items():
            sheet.cell(row=row, column=column).number_format = number_format
    sheet.auto_filter.ref = f"A2:{get_column_letter(len(columns))}{len(table) + 2}"


def _fill_about(sheet: Worksheet, rows: pd.DataFrame, context: _Context) -> None:
    facts = [
        ("Risk map", "Bản đồ nguy cơ", str(context.source)),
        ("Forecast date", "Ngày dự báo", context.forecast_dates),
        ("Model version", "Phiên bản mô hình", context.model_versions),
        ("Filters", "Bộ lọc", context.filters),
        ("Rows", "Số dòng", len(rows)),
        ("Parcels", "Số thửa", int(rows["parcel_id"].nunique())),
    ]
    for fact in facts:
        sheet.append(list(fact))
    sheet.append([])
    sheet.append(["Risk class", "Mức nguy cơ", "Colour / Màu", "Rows / Số dòng"])
    counts = rows["risk_class"].value_counts()
    for name, (en, vi) in _COLOUR_NAMES.items():
        sheet.append(
            [name, _class_name_vi(context, name), f"{en} / {vi}", int(counts.get(name, 0))]
        )
        sheet.cell(row=sheet.max_row, column=3).fill = _class_fill(name)
    for letter, width in zip("ABCD", (16, 22, 60, 14), strict=True):
        sheet.column_dimensions[letter].width = width


def _write_xlsx(rows: gpd.GeoDataFrame, out: Path, context: _Context) -> None:
    book = Workbook()
    sheet = book.active
    assert isinstance(sheet, Worksheet)  # a new workbook has one worksheet
    sheet.title = "Warnings – Cảnh báo"
    _fill_warnings(sheet, rows)
    _fill_about(book.create_sheet("About – Thông tin"), rows, context)
    with atomic_path(out) as temporary:
        book.save(temporary)


_WRITERS: dict[str, Callable[[gpd.GeoDataFrame, Path, _Context], None]] = {
    "gpkg": _write_gpkg,
    "geojson": _write_geojson,
    "csv": _write_csv,
    "kml": _write_kml,
    "shp": _write_shp,
    "xlsx": _write_xlsx,
}
