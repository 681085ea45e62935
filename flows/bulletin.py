"""The weekly pest bulletin: the tables and printable pages an office publishes each week.

Laid out like the weekly pest report of Circular 01/2020/TT-BNNPTNT, one table per pest with a
row per commune, a subtotal per district ("Cộng huyện") and a total ("Tổng cộng"). Columns
(:data:`COLUMNS`, in order; hectares):

- observed, from the surveys: the area of the parcels surveyed in the 7 days up to the forecast
  date (survey date in [t − 6, t], reported on or before t; a parcel surveyed twice counts once,
  by its latest survey) and, among them, the infested area in total and by severity (light,
  medium, heavy). These are sums over the surveyed parcels, not extrapolated to the region.
- forecast, from this week's risk map: the area of all parcels by risk class (high, medium, low,
  no_data, not_in_crop) for the pest's shortest horizon. Parcels not in crop (fallow or flooded
  off-season on the imagery) are not forecast: their area has its own column and the text says
  so, apart from low risk and from "not enough data".
- the change of the high + medium area against last week's map and against the mean of the same
  week's maps in earlier seasons; blank (NaN) when there is no map to compare with, or the row's
  commune or district is not in it.

Files (:func:`write_bulletin`): ``bulletin_<pest>.csv`` (UTF-8 with a byte-order mark, so Excel
shows Vietnamese; one header row "Vietnamese / English"), ``bulletin.xlsx`` (a sheet per pest
with a title row, grouped headers in Vietnamese and a row of English ones, and a notes sheet)
and ``bulletin.html``: one A4 page per pest, Vietnamese first with English under it, a map of
the parcels coloured by class (inline SVG), the week's trend in words, the most frequent first
reasons among the high-risk parcels and the table; it is self-contained (inline CSS, nothing
fetched). :func:`render_pdf` prints that page to ``bulletin.pdf`` in headless Chromium; it is a
separate step so a caller can skip it where no browser is installed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
import shapely
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from pestcast.core.atomic import atomic_path, write_text_atomic
from pestcast.core.errors import DataError, PublishError
from pestcast.features.surveys import SEVERITY_LEVELS
from pestcast.flows.export import CLASS_COLOURS, NOT_IN_CROP_NOTE
from pestcast.flows.labels import CLASS_NAMES, PEST_NAMES, number_vi
from pestcast.models import NOT_IN_CROP, RISK_CLASSES

if TYPE_CHECKING:
    from playwright.sync_api import FloatRect, Page, ViewportSize

__all__ = [
    "CHROMIUM",
    "COLUMNS",
    "SURVEY_WEEK_DAYS",
    "Column",
    "Reason",
    "bulletin_table",
    "forecast_hectares",
    "observed_hectares",
    "parcel_areas",
    "render_page_png",
    "render_pdf",
    "top_reasons",
    "week_surveys",
    "write_bulletin",
]

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's Chromium, which prints the PDF (``make browser`` installs it)."""
SURVEY_WEEK_DAYS = 7
"""The observed part covers surveys of the last 7 days up to and including the forecast date."""
KEYS = ("district", "commune")
"""Row keys of a bulletin table; "" marks a subtotal: (district, "") and ("", "") the total."""


@dataclass(frozen=True)
class Column:
    """A value column of the bulletin table and its headers."""

    name: str
    """Machine name in :func:`bulletin_table`."""
    vi: str
    """Vietnamese header, under its group header."""
    en: str
    """English header."""
    group: str
    """Key of :data:`_GROUPS`: the group header above the column."""


COLUMNS = (
    Column("surveyed_ha", "Trong tuần", "This week", "observed"),
    Column("infested_ha", "Tổng số", "Total", "infested"),
    Column("infested_light_ha", "Nhẹ", "Light", "infested"),
    Column("infested_medium_ha", "Trung bình", "Medium", "infested"),
    Column("infested_heavy_ha", "Nặng", "Heavy", "infested"),
    *(
        Column(
            f"risk_{name}_ha",
            CLASS_NAMES[name][1].capitalize(),
            CLASS_NAMES[name][0].capitalize(),
            "risk",
        )
        for name in RISK_CLASSES
    ),
    Column("change_vs_last_week_ha", "So với tuần trước", "vs last week", "change"),
    Column(
        "change_vs_same_week_ha",
        "So với cùng kỳ các vụ trước (TB)",
        "vs same week, earlier seasons (mean)",
        "change",
    ),
)
"""Value columns of every bulletin table, in order (hectares)."""

_GROUPS = {
    "observed": ("Diện tích điều tra (ha)", "Surveyed area (ha)"),
    "infested": ("Diện tích nhiễm (ha)", "Infested area (ha)"),
    "risk": ("Dự báo {h} ngày tới: diện tích theo mức nguy cơ (ha)", "Forecast area by risk (ha)"),
    "change": (
        "Diện tích nguy cơ cao + trung bình, tăng (+) giảm (−) (ha)",
        "High + medium risk area, change (ha)",
    ),
}
"""Group key → (Vietnamese, English) header; ``{h}`` is the horizon in days."""
_NAMES = {
    "district": ("Huyện", "District"),
    "commune": ("Xã", "Commune"),
    "subtotal": ("Cộng huyện", "District subtotal"),
    "total": ("Tổng cộng", "Total"),
}
_LEVELS = ("commune", "district", "province")
_INFESTED = tuple(name for name, level in SEVERITY_LEVELS.items() if level > 0)
_CLASS_COLUMN = re.compile(r"^class_(?!vi_)(?P<pest>.+)_h(?P<horizon>\d+)$")
"""``class_<pest>_h<days>``, not its Vietnamese twin ``class_vi_<pest>_h<days>``."""
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_UNKNOWN_PLACE = "(chưa rõ / unknown)"
_GDAL_ERRORS = (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError)
_MM = 96 / 25.4
"""CSS pixels per millimetre."""
_A4_MM = (210, 297)
_CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


# --- the public entry point --------------------------------------------------------------------


def write_bulletin(
    risk_map: Path,
    out_dir: Path,
    *,
    surveys: pd.DataFrame,
    parcels: gpd.GeoDataFrame,
    previous: Sequence[Path] = (),
    same_week_earlier: Sequence[Path] = (),
    region_name: str,
) -> list[Path]:
    """Write the week's bulletin of ``risk_map`` into ``out_dir``; returns the files written.

    ``surveys`` is the survey table (``read_surveys``), ``parcels`` the parcels with ``parcel_id``,
    ``commune``, ``district`` and polygons in any CRS with one (areas are measured in the UTM
    zone when it is geographic). ``previous`` are earlier risk maps of the season: the newest one
    before this week is "last week". ``same_week_earlier`` are the same week's maps of earlier
    seasons (their mean is compared). Every map is read before anything is written; each file is
    replaced atomically. Writes ``bulletin_<pest>.csv`` per pest, ``bulletin.xlsx`` and
    ``bulletin.html``; :func:`render_pdf` makes the PDF from the HTML.
    """
    now = _read_map(Path(risk_map), geometry=True)
    forecast_date = _forecast_date(now, Path(risk_map))
    horizons = _horizons(now, Path(risk_map))
    keys = {pest: days[0] for pest, days in horizons.items()}
    last, last_date = _last_week(previous, forecast_date, keys)
    earlier = [_read_checked(Path(p), keys, before=forecast_date) for p in same_week_earlier]
    areas = parcel_areas(parcels)
    context = _Context(
        region=region_name,
        forecast_date=forecast_date,
        last_week=last_date,
        same_week=tuple(
            _forecast_date(frame, Path(p))
            for frame, p in zip(earlier, same_week_earlier, strict=True)
        ),
        model_version=_distinct(now, "model_version"),
    )
    pages = [
        _pest_page(now, areas, surveys, pest, days, last=last, earlier=earlier, context=context)
        for pest, days in horizons.items()
    ]
    return _write_files(Path(out_dir), pages, context)


@dataclass(frozen=True)
class _Context:
    """What every page says besides its pest."""

    region: str
    forecast_date: dt.date
    last_week: dt.date | None
    same_week: tuple[dt.date, ...]
    model_version: str


@dataclass(frozen=True)
class _PestPage:
    """Everything the bulletin shows for one pest."""

    pest: str
    horizon: int
    table: pd.DataFrame
    trend: tuple[str, str]
    reasons: tuple[Reason, ...]
    svg: str


@dataclass(frozen=True)
class Reason:
    """A first reason shared by high-risk parcels (numbers shown as the range they span)."""

    vi: str
    """The reason in Vietnamese."""
    en: str
    """The reason in English."""
    parcels: int
    """High-risk parcels whose first reason it is."""


def _pest_page(
    now: gpd.GeoDataFrame,
    areas: pd.DataFrame,
    surveys: pd.DataFrame,
    pest: str,
    horizons: Sequence[int],
    *,
    last: pd.DataFrame | None,
    earlier: Sequence[pd.DataFrame],
    context: _Context,
) -> _PestPage:
    """The page of ``pest``: tables and map at its shortest horizon, outlook at every one."""
    horizon = horizons[0]
    observed = observed_hectares(surveys, areas, pest=pest, forecast_date=context.forecast_date)
    table = bulletin_table(
        observed,
        forecast_hectares(now, pest=pest, horizon=horizon),
        last_week=None if last is None else forecast_hectares(last, pest=pest, horizon=horizon),
        same_week=[forecast_hectares(frame, pest=pest, horizon=horizon) for frame in earlier],
    )
    classes = now[f"class_{pest}_h{horizon}"]
    return _PestPage(
        pest=pest,
        horizon=horizon,
        table=table,
        trend=_trend(table, pest, context, _outlook(now, pest, horizons)),
        reasons=tuple(top_reasons(now, pest=pest, horizon=horizon)),
        svg=_map_svg(now, classes),
    )


# --- reading risk maps ---------------------------------------------------------------------------


def _read_map(path: Path, *, geometry: bool) -> gpd.GeoDataFrame:
    """A published risk map; without ``geometry`` only its properties (faster)."""
    if not path.is_file():
        raise DataError(f"risk map {path} does not exist; publish it with `pestcast forecast`")
    try:
        frame = pyogrio.read_dataframe(
            path, read_geometry=geometry, use_arrow=False, DATE_AS_STRING="YES"
        )
    except _GDAL_ERRORS as error:
        raise DataError(f"cannot read the risk map {path}: {error}; publish it again") from error
    missing = [
        c
        for c in ("parcel_id", "commune", "district", "area_ha", "forecast_date")
        if c not in frame
    ]
    if missing or frame.empty:
        problem = f"lacks {', '.join(missing)}" if missing else "holds no parcels"
        raise DataError(
            f"risk map {path} {problem} (docs/DESIGN.md, 'The risk map'); publish it again"
        )
    for name in KEYS:
        frame[name] = frame[name].fillna("").astype(str).str.strip().replace("", _UNKNOWN_PLACE)
    return frame


def _forecast_date(frame: pd.DataFrame, path: Path) -> dt.date:
    dates = sorted(set(frame["forecast_date"].dropna().astype(str)))
    if len(dates) != 1:
        raise DataError(f"risk map {path} must hold one forecast_date, not {dates or 'none'}")
    return dt.date.fromisoformat(dates[0][:10])


def _horizons(frame: pd.DataFrame, path: Path) -> dict[str, list[int]]:
    """Pest → its horizons (days, shortest first), pests in the map's order."""
    horizons: dict[str, list[int]] = {}
    for match in (_CLASS_COLUMN.match(str(c)) for c in frame.columns):
        if match:
            horizons.setdefault(match["pest"], []).append(int(match["horizon"]))
    if not horizons:
        raise DataError(f"risk map {path} has no class_<pest>_h<days> property; publish it again")
    return {pest: sorted(days) for pest, days in horizons.items()}


def _read_checked(path: Path, keys: Mapping[str, int], *, before: dt.date) -> gpd.GeoDataFrame:
    """An earlier map, which must be dated before this week and hold this week's classes."""
    frame = _read_map(path, geometry=False)
    date = _forecast_date(frame, path)
    if date >= before:
        raise DataError(
            f"risk map {path} is dated {date}, not before this week's {before}; pass only "
            "earlier maps as previous or same-week maps"
        )
    missing = [f"class_{p}_h{h}" for p, h in keys.items() if f"class_{p}_h{h}" not in frame]
    if missing:
        raise DataError(f"risk map {path} lacks {', '.join(missing)}, so it cannot be compared")
    return frame


def _last_week(
    previous: Sequence[Path], forecast_date: dt.date, keys: Mapping[str, int]
) -> tuple[pd.DataFrame | None, dt.date | None]:
    """The newest of the previous maps and its date; (None, None) when there is none."""
    maps = [_read_checked(Path(p), keys, before=forecast_date) for p in previous]
    if not maps:
        return None, None
    dated = [
        (_forecast_date(frame, Path(p)), frame) for frame, p in zip(maps, previous, strict=True)
    ]
    date, frame = max(dated, key=lambda pair: pair[0])
    return frame, date


def _distinct(frame: pd.DataFrame, name: str) -> str:
    if name not in frame:
        return ""
    return ", ".join(sorted(set(frame[name].dropna().astype(str))))


# --- tables (pure) -------------------------------------------------------------------------------


def parcel_areas(parcels: gpd.GeoDataFrame) -> pd.DataFrame:
    """``parcel_id``, ``commune``, ``district`` and ``area_ha`` measured on the geometry.

    Areas are taken in the parcels' CRS when it is projected, else in their UTM zone.
    """
    if parcels.crs is None:
        raise DataError("the parcels have no CRS; read them with read_parcels(..., crs=...)")
    missing = [c for c in ("parcel_id", *KEYS) if c not in parcels]
    if missing:
        raise DataError(f"the parcels lack {', '.join(missing)}; read them with read_parcels")
    projected = parcels if parcels.crs.is_projected else parcels.to_crs(parcels.estimate_utm_crs())
    return pd.DataFrame(
        {
            "parcel_id": parcels["parcel_id"].astype(str).to_numpy(),
            **{
                k: parcels[k].fillna("").astype(str).replace("", _UNKNOWN_PLACE).to_numpy()
                for k in KEYS
            },
            "area_ha": projected.geometry.area.to_numpy() / 10_000,
        }
    )


def week_surveys(surveys: pd.DataFrame, *, pest: str, forecast_date: dt.date) -> pd.DataFrame:
    """Each parcel's latest survey of ``pest`` in the week up to ``forecast_date``.

    The week is the :data:`SURVEY_WEEK_DAYS` days ending on ``forecast_date``; a survey counts
    only if it was reported on or before that day (what the office knew).
    """
    end = pd.Timestamp(forecast_date)
    start = end - pd.Timedelta(days=SURVEY_WEEK_DAYS - 1)
    keep = (
        (surveys["pest"] == pest)
        & surveys["survey_date"].between(start, end)
        & (surveys["report_date"] <= end)
    )
    week = surveys.loc[keep].sort_values(["survey_date", "report_date"], kind="stable")
    return week.drop_duplicates("parcel_id", keep="last").reset_index(drop=True)


def observed_hectares(
    surveys: pd.DataFrame, areas: pd.DataFrame, *, pest: str, forecast_date: dt.date
) -> pd.DataFrame:
    """Per commune: surveyed hectares of the week and infested hectares by severity."""
    week = week_surveys(surveys, pest=pest, forecast_date=forecast_date)
    week = week.assign(parcel_id=week["parcel_id"].astype(str))
    unknown = sorted(set(week["parcel_id"]) - set(areas["parcel_id"]))
    if unknown:
        raise DataError(
            f"{len(unknown)} surveyed parcel ids are not among the parcels, e.g. "
            f"{', '.join(unknown[:5])}; fix the ids or add the parcels"
        )
    rows = week[["parcel_id", "severity"]].merge(areas, on="parcel_id", validate="one_to_one")
    area, severity = rows["area_ha"].astype(float), rows["severity"]
    columns = {
        "surveyed_ha": area,
        "infested_ha": area.where(severity.isin(_INFESTED), 0.0),
        **{f"infested_{s}_ha": area.where(severity == s, 0.0) for s in _INFESTED},
    }
    return _per_commune(rows, columns)


def forecast_hectares(risk_map: pd.DataFrame, *, pest: str, horizon: int) -> pd.DataFrame:
    """Per commune: hectares of the parcels in each risk class of ``pest`` at ``horizon`` days."""
    name = f"class_{pest}_h{horizon}"
    classes = risk_map[name]
    unknown = sorted(set(classes.dropna().astype(str)) - set(RISK_CLASSES)) or (
        ["null"] if classes.isna().any() else []
    )
    if unknown:
        raise DataError(f"{name} holds {unknown}, not one of {', '.join(RISK_CLASSES)}")
    area = pd.to_numeric(risk_map["area_ha"]).astype(float)
    columns = {f"risk_{c}_ha": area.where(classes == c, 0.0) for c in RISK_CLASSES}
    return _per_commune(risk_map, columns)


def _per_commune(rows: pd.DataFrame, columns: Mapping[str, pd.Series[Any]]) -> pd.DataFrame:
    frame = pd.DataFrame({**{k: rows[k].to_numpy() for k in KEYS}, **columns})
    return frame.groupby(list(KEYS), as_index=False, sort=False).sum()


def bulletin_table(
    observed: pd.DataFrame,
    forecast: pd.DataFrame,
    *,
    last_week: pd.DataFrame | None = None,
    same_week: Sequence[pd.DataFrame] = (),
) -> pd.DataFrame:
    """The bulletin table of one pest from per-commune tables, with subtotals and the total.

    ``observed`` comes from :func:`observed_hectares`, ``forecast``, ``last_week`` and each of
    ``same_week`` from :func:`forecast_hectares`. Indexed by (district, commune), "" marking a
    district subtotal and the total, communes first in each district (Vietnamese alphabetical
    order); ``level`` is commune / district / province, then :data:`COLUMNS`. A commune with no
    surveyed parcel has 0 observed hectares; a change is NaN without a map to compare with.
    """
    seen, now = _with_subtotals(observed), _with_subtotals(forecast)
    index = _ordered(seen.index.union(now.index))
    table = pd.concat([seen.reindex(index), now.reindex(index)], axis=1).fillna(0.0)
    alert = _alert(now).reindex(index).fillna(0.0)
    table["change_vs_last_week_ha"] = alert - (
        _alert(_with_subtotals(last_week)).reindex(index) if last_week is not None else np.nan
    )
    table["change_vs_same_week_ha"] = alert - _mean_alert(same_week, index)
    table.insert(0, "level", [_level(key) for key in index])
    return table[["level", *(c.name for c in COLUMNS)]]


def _with_subtotals(per_commune: pd.DataFrame) -> pd.DataFrame:
    values = per_commune.groupby(list(KEYS)).sum()
    districts = values.groupby(level="district").sum()
    districts.index = pd.MultiIndex.from_arrays(
        [districts.index, [""] * len(districts)], names=KEYS
    )
    total = values.sum().to_frame().T
    total.index = pd.MultiIndex.from_tuples([("", "")], names=KEYS)
    return pd.concat([values, districts, total])


def _alert(levels: pd.DataFrame) -> pd.Series[float]:
    return levels["risk_high_ha"] + levels["risk_medium_ha"]


def _mean_alert(maps: Sequence[pd.DataFrame], index: pd.MultiIndex) -> pd.Series[float] | float:
    if not maps:
        return np.nan
    alerts = [_alert(_with_subtotals(m)).reindex(index) for m in maps]
    return pd.concat(alerts, axis=1).mean(axis=1)


def _ordered(index: pd.Index[Any]) -> pd.MultiIndex:
    """Communes by name within each district, then its subtotal; the total last."""

    def key(pair: tuple[Any, ...]) -> tuple[bool, str, bool, str]:
        district, commune = str(pair[0]), str(pair[1])
        return (district == "", _vi_key(district), commune == "", _vi_key(commune))

    return pd.MultiIndex.from_tuples(sorted(index, key=key), names=KEYS)


def _vi_key(text: str) -> str:
    """Sort key in Vietnamese alphabetical order: tones ignored, đ right after d."""
    decomposed = unicodedata.normalize("NFD", text.casefold()).replace("đ", "d\uffff")
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _level(key: tuple[str, str]) -> str:
    district, commune = key
    return _LEVELS[2] if not district else _LEVELS[1] if not commune else _LEVELS[0]


# --- reasons and trend -------------------------------------------------------------------------


def top_reasons(risk_map: pd.DataFrame, *, pest: str, horizon: int, count: int = 3) -> list[Reason]:
    """The most frequent first reasons of the high-risk parcels, most frequent first.

    Reasons that differ only in their numbers ("crop about 38 / 43 days after sowing") count as
    one, shown with the range of the numbers ("38–43").
    """
    key = f"{pest}_h{horizon}"
    if f"reasons_vi_{key}" not in risk_map or f"reasons_{key}" not in risk_map:
        return []
    high = risk_map.loc[risk_map[f"class_{key}"] == "high"]
    pairs = pd.DataFrame(
        {
            "vi": high[f"reasons_vi_{key}"].fillna("").astype(str).str.split("; ").str[0],
            "en": high[f"reasons_{key}"].fillna("").astype(str).str.split("; ").str[0],
        }
    )
    pairs = pairs[pairs["vi"].str.strip() != ""]
    groups = pairs.groupby([pairs["vi"].map(_template), pairs["en"].map(_template)], sort=False)
    ranked = sorted(groups, key=lambda item: (-len(item[1]), item[0]))
    return [
        Reason(vi=_with_ranges(part["vi"]), en=_with_ranges(part["en"]), parcels=len(part))
        for _, part in ranked[:count]
    ]


def _template(text: str) -> str:
    return _NUMBER.sub("#", text)


def _with_ranges(texts: pd.Series[str]) -> str:
    """The first text with each number replaced by the range the group spans."""
    first = str(texts.iloc[0])
    numbers = [_NUMBER.findall(str(t)) for t in texts]
    if len({len(n) for n in numbers}) != 1 or not numbers[0]:
        return first
    spans = iter(_span([n[i] for n in numbers]) for i in range(len(numbers[0])))
    return _NUMBER.sub(lambda _: next(spans), first)


def _span(values: Sequence[str]) -> str:
    def number(value: str) -> float:
        return float(value.replace(",", "."))

    low, high = min(values, key=number), max(values, key=number)
    return low if number(low) == number(high) else f"{low}–{high}"


def _trend(
    table: pd.DataFrame, pest: str, context: _Context, outlook: Mapping[int, tuple[float, float]]
) -> tuple[str, str]:
    """The week in two short paragraphs, Vietnamese then English.

    ``outlook`` maps each horizon (days, shortest first) to its (high, medium) hectares.
    """
    total = _total(table)
    en_name, vi_name = PEST_NAMES.get(pest, (pest, pest))
    parts = [
        ([_observed_vi(total, vi_name)], [_observed_en(total, en_name)]),
        (_outlook_vi(outlook), _outlook_en(outlook)),
        _not_in_crop(total),
        ([_changes_vi(total, context)], [_changes_en(total, context)]),
        _top_commune(table),
    ]
    return " ".join(s for vi, _ in parts for s in vi), " ".join(s for _, en in parts for s in en)


def _top_commune(table: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The commune with the most high-risk area, in Vietnamese and English (none without any)."""
    communes = table[table["level"] == "commune"]
    if not len(communes) or not communes["risk_high_ha"].max() > 0:
        return [], []
    top = int(communes["risk_high_ha"].to_numpy().argmax())
    name = str(communes.index.get_level_values("commune")[top])
    area = float(communes["risk_high_ha"].iloc[top])
    return (
        [f"Xã có nhiều diện tích nguy cơ cao nhất: {name} ({_ha_vi(area)})."],
        [f"Most high-risk area: {name} ({_ha_en(area)})."],
    )


def _outlook(
    risk_map: pd.DataFrame, pest: str, horizons: Sequence[int]
) -> dict[int, tuple[float, float]]:
    """Horizon → (high, medium) hectares of the whole map."""
    area = pd.to_numeric(risk_map["area_ha"]).astype(float)
    outlook = {}
    for horizon in horizons:
        classes = risk_map[f"class_{pest}_h{horizon}"]
        outlook[horizon] = (
            float(area[classes == "high"].sum()),
            float(area[classes == "medium"].sum()),
        )
    return outlook


def _outlook_vi(outlook: Mapping[int, tuple[float, float]]) -> list[str]:
    return [
        f"Dự báo {h} ngày tới: {_ha_vi(high)} nguy cơ cao, {_ha_vi(medium)} nguy cơ trung bình."
        for h, (high, medium) in outlook.items()
    ]


def _outlook_en(outlook: Mapping[int, tuple[float, float]]) -> list[str]:
    return [
        f"Forecast, next {h} days: {_ha_en(high)} at high risk, {_ha_en(medium)} at medium risk."
        for h, (high, medium) in outlook.items()
    ]


def _not_in_crop(total: Mapping[str, float]) -> tuple[list[str], list[str]]:
    """The area not in crop and why it is not forecast, in Vietnamese and English (no sentence
    when there is none)."""
    area = total[f"risk_{NOT_IN_CROP}_ha"]
    if not area > 0:
        return [], []
    (en, vi), (why_en, why_vi) = CLASS_NAMES[NOT_IN_CROP], NOT_IN_CROP_NOTE
    return [f"{_ha_vi(area)} {vi}: {why_vi}."], [f"{_ha_en(area)} {en}: {why_en}."]


def _total(table: pd.DataFrame) -> dict[str, float]:
    """The values of the total row (NaN stays NaN)."""
    row = table[table["level"] == _LEVELS[2]]
    return {c.name: float(row[c.name].iloc[0]) for c in COLUMNS}


def _observed_vi(total: Mapping[str, float], name: str) -> str:
    if total["surveyed_ha"] == 0:
        return f"Trong tuần chưa có kết quả điều tra {name}."
    parts = ", ".join(
        f"{vi.lower()} {_ha_vi(total[f'infested_{s}_ha'])}"
        for s, vi in zip(_INFESTED, ("Nhẹ", "Trung bình", "Nặng"), strict=True)
    )
    return (
        f"Điều tra trong tuần {_ha_vi(total['surveyed_ha'])}: {name} gây hại "
        f"{_ha_vi(total['infested_ha'])} ({parts})."
    )


def _observed_en(total: Mapping[str, float], name: str) -> str:
    if total["surveyed_ha"] == 0:
        return f"No {name} survey was reported this week."
    parts = ", ".join(f"{s} {_ha_en(total[f'infested_{s}_ha'])}" for s in _INFESTED)
    return (
        f"Surveyed this week: {_ha_en(total['surveyed_ha'])}, {name} found on "
        f"{_ha_en(total['infested_ha'])} ({parts})."
    )


def _changes_vi(total: Mapping[str, float], context: _Context) -> str:
    last, same = total["change_vs_last_week_ha"], total["change_vs_same_week_ha"]
    if pd.isna(last):
        text = "Chưa có bản đồ tuần trước để so sánh"
    else:
        when = _date_vi(context.last_week)
        text = (
            f"So với tuần trước ({when}), diện tích nguy cơ cao + trung bình {_direction_vi(last)}"
        )
    if not pd.isna(same):
        seasons = len(context.same_week)
        text += f"; so với trung bình cùng kỳ {seasons} vụ trước, {_direction_vi(same)}"
    return text + "."


def _changes_en(total: Mapping[str, float], context: _Context) -> str:
    last, same = total["change_vs_last_week_ha"], total["change_vs_same_week_ha"]
    if pd.isna(last):
        text = "No map of last week to compare with"
    else:
        when = _date_en(context.last_week)
        text = f"High + medium area {_direction_en(last)} on last week ({when})"
    if not pd.isna(same):
        seasons = len(context.same_week)
        plural = "s" * (seasons > 1)
        text += f"; {_direction_en(same)} on the same week of {seasons} earlier season{plural}"
    return text + "."


def _direction_vi(change: float) -> str:
    if abs(change) < 0.05:
        return "không đổi"
    return f"{'tăng' if change > 0 else 'giảm'} {_ha_vi(abs(change))}"


def _direction_en(change: float) -> str:
    if abs(change) < 0.05:
        return "unchanged"
    return f"{'up' if change > 0 else 'down'} {_ha_en(abs(change))}"


def _ha_vi(value: float) -> str:
    return f"{number_vi(value)} ha"


def _ha_en(value: float) -> str:
    return f"{value:,.1f} ha"


def _date_vi(day: dt.date | None) -> str:
    return "" if day is None else f"{day:%d/%m/%Y}"


def _date_en(day: dt.date | None) -> str:
    return "" if day is None else f"{day.day} {day:%b %Y}"


# --- the map (inline SVG) ----------------------------------------------------------------------

_MAP_WIDTH = 1000.0
"""Width of the map's SVG coordinate system (user units)."""


def _map_svg(parcels: gpd.GeoDataFrame, classes: pd.Series[Any]) -> str:
    """Parcels filled by class, commune names, a scale bar and north; no script, no fetch."""
    geometry = parcels.geometry
    metric = (
        geometry.to_crs(geometry.estimate_utm_crs()) if geometry.crs.is_geographic else geometry
    )
    minx, miny, maxx, maxy = metric.total_bounds
    scale = _MAP_WIDTH / max(maxx - minx, maxy - miny, 1.0)
    width, height = (maxx - minx) * scale, (maxy - miny) * scale

    def to_svg(coords: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return np.column_stack([(coords[:, 0] - minx) * scale, (maxy - coords[:, 1]) * scale])

    layers = [
        f'<path fill="{CLASS_COLOURS[c]}" d="{_path_data(metric[mask], to_svg)}"/>'
        for c in reversed(RISK_CLASSES)
        for mask in [(classes == c).to_numpy()]
    ]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="-10 -10 {width + 20:.0f} '
        f'{height + 20:.0f}" role="img" aria-label="Bản đồ nguy cơ / Risk map">'
        f'<g stroke="#ffffff" stroke-width="0.4" fill-rule="evenodd">{"".join(layers)}</g>'
        f"{_commune_labels(parcels, metric, to_svg)}{_scale_bar(scale, height)}"
        f"{_north(width)}</svg>"
    )


def _path_data(geometries: gpd.GeoSeries, to_svg: Any) -> str:
    rings = []
    for polygon in shapely.get_parts(geometries.dropna().to_numpy()):
        for ring in (polygon.exterior, *polygon.interiors):
            points = to_svg(np.asarray(ring.coords)[:-1])
            rings.append("M" + "L".join(f"{x:.1f} {y:.1f}" for x, y in points) + "Z")
    return "".join(rings)


def _commune_labels(parcels: pd.DataFrame, metric: gpd.GeoSeries, to_svg: Any) -> str:
    """Each commune's name on its most central parcel (so it lies inside the commune)."""
    centroids = metric.centroid
    xy = np.column_stack([centroids.x, centroids.y])
    labels = []
    for commune, rows in pd.Series(np.arange(len(parcels))).groupby(parcels["commune"].to_numpy()):
        points = xy[rows.to_numpy()]
        central = points[np.argmin(((points - points.mean(axis=0)) ** 2).sum(axis=1))]
        x, y = to_svg(central[np.newaxis, :])[0]
        labels.append(f'<text x="{x:.0f}" y="{y:.0f}">{html.escape(str(commune))}</text>')
    return (
        '<g font-size="26" font-weight="bold" text-anchor="middle" fill="#1a1a1a" '
        'stroke="#ffffff" stroke-width="5" paint-order="stroke">' + "".join(labels) + "</g>"
    )


def _scale_bar(scale: float, height: float) -> str:
    """A bar of a round length near a fifth of the map's width, bottom left."""
    metres = max(
        (
            m
            for m in (50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000)
            if m * scale <= 220
        ),
        default=50,
    )
    length, y = metres * scale, height - 12
    label = f"{metres // 1000} km" if metres >= 1000 else f"{metres} m"
    return (
        f'<g font-size="22" stroke-width="5" paint-order="stroke" stroke="#ffffff">'
        f'<rect x="10" y="{y:.0f}" width="{length:.0f}" height="7" fill="#1a1a1a" stroke="none"/>'
        f'<text x="10" y="{y - 8:.0f}" fill="#1a1a1a">{label}</text></g>'
    )


def _north(width: float) -> str:
    x = width - 30
    return (
        f'<g fill="#1a1a1a" font-size="22" font-weight="bold" text-anchor="middle">'
        f'<path d="M{x:.0f} 12L{x + 12:.0f} 48L{x:.0f} 40L{x - 12:.0f} 48Z"/>'
        f'<text x="{x:.0f}" y="72">B / N</text></g>'
    )


# --- files -------------------------------------------------------------------------------------


def _write_files(out_dir: Path, pages: Sequence[_PestPage], context: _Context) -> list[Path]:
    written = [
        _write_csv(page.table, out_dir / f"bulletin_{page.pest}.csv", page.horizon)
        for page in pages
    ]
    written.append(_write_xlsx(pages, out_dir / "bulletin.xlsx", context))
    written.append(write_text_atomic(out_dir / "bulletin.html", _render_html(pages, context)))
    return written


def _headers(horizon: int) -> list[tuple[str, str, str, str]]:
    """(group vi, group en, column vi, column en) of every value column."""
    return [
        (*(_GROUPS[c.group][0].format(h=horizon), _GROUPS[c.group][1]), c.vi, c.en) for c in COLUMNS
    ]


def _labels(index: pd.Index[Any]) -> list[tuple[str, str]]:
    """(district cell, commune cell) of each row, subtotals and total named."""
    labels = []
    for district, commune in index:
        if not district:
            labels.append((_NAMES["total"][0], ""))
        else:
            labels.append((district, commune or _NAMES["subtotal"][0]))
    return labels


def _write_csv(table: pd.DataFrame, path: Path, horizon: int) -> Path:
    names = [f"{_NAMES[k][0]} / {_NAMES[k][1]}" for k in KEYS]
    names += [f"{gv}: {cv} / {ge}: {ce}" for gv, ge, cv, ce in _headers(horizon)]
    rows = [
        [*label, *(_csv_number(v) for v in values)]
        for label, values in zip(
            _labels(table.index), table[[c.name for c in COLUMNS]].to_numpy(), strict=True
        )
    ]
    frame = pd.DataFrame(rows, columns=names)
    with atomic_path(path) as temporary:
        frame.to_csv(temporary, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    return path


def _csv_number(value: float) -> str:
    return "" if pd.isna(value) else f"{value:.2f}"


# --- XLSX --------------------------------------------------------------------------------------

_HEADER_FILL = PatternFill(fill_type="solid", fgColor="FFE4EBE5")
_SUBTOTAL_FILL = PatternFill(fill_type="solid", fgColor="FFF3F3F3")
_TOTAL_FILL = PatternFill(fill_type="solid", fgColor="FFDDE6DE")
_THIN = Side(style="thin", color="FF777777")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_FIRST_DATA_ROW = 5
"""Rows 1–4: title, group headers, Vietnamese headers, English headers."""


def _write_xlsx(pages: Sequence[_PestPage], path: Path, context: _Context) -> Path:
    book = Workbook()
    first = book.active
    assert isinstance(first, Worksheet)  # a new workbook has one worksheet
    book.remove(first)
    for page in pages:
        _fill_sheet(book.create_sheet(_sheet_name(page.pest)), page, context)
    _fill_notes(book.create_sheet("Ghi chú – Notes"), context)
    with atomic_path(path) as temporary:
        book.save(temporary)
    return path


def _sheet_name(pest: str) -> str:
    """Excel allows 31 characters and none of []:*?/\\ in a sheet name."""
    vi = PEST_NAMES.get(pest, (pest, pest))[1].capitalize()
    return re.sub(r"[\[\]:*?/\\]", "-", f"{vi} ({pest})")[:31]


def _fill_sheet(sheet: Worksheet, page: _PestPage, context: _Context) -> None:
    en, vi = PEST_NAMES.get(page.pest, (page.pest, page.pest))
    sheet.append([f"{vi.capitalize()} / {en} – {context.region}: {_week_vi(context)}"])
    sheet["A1"].font = Font(bold=True, size=12)
    _xlsx_headers(sheet, page.horizon)
    levels = page.table["level"].tolist()
    values = page.table[[c.name for c in COLUMNS]].to_numpy()
    for label, row, level in zip(_labels(page.table.index), values, levels, strict=True):
        sheet.append([*label, *(None if pd.isna(v) else round(float(v), 2) for v in row)])
        _style_row(sheet, sheet.max_row, level)
    for letter, width in zip("AB", (18, 22), strict=True):
        sheet.column_dimensions[letter].width = width
    for index in range(3, len(COLUMNS) + 3):
        sheet.column_dimensions[get_column_letter(index)].width = 12
    sheet.freeze_panes = f"C{_FIRST_DATA_ROW}"


def _xlsx_headers(sheet: Worksheet, horizon: int) -> None:
    headers = _headers(horizon)
    sheet.append([_NAMES[k][0] for k in KEYS] + [f"{gv} / {ge}" for gv, ge, _, _ in headers])
    sheet.append(["", ""] + [cv for _, _, cv, _ in headers])
    sheet.append([_NAMES[k][1] for k in KEYS] + [ce for _, _, _, ce in headers])
    for column in (1, 2):
        sheet.merge_cells(start_row=2, start_column=column, end_row=3, end_column=column)
    for first, last in _runs([c.group for c in COLUMNS]):
        if last > first:
            sheet.merge_cells(start_row=2, start_column=first + 3, end_row=2, end_column=last + 3)
    for row, cells in enumerate(sheet.iter_rows(min_row=2, max_row=4, max_col=len(COLUMNS) + 2)):
        for cell in cells:
            cell.font = Font(bold=row < 2, italic=row == 2)
            cell.fill, cell.border = _HEADER_FILL, _BOX
            cell.alignment = Alignment(wrap_text=True, horizontal="center", vertical="center")
    sheet.row_dimensions[2].height = 45
    sheet.row_dimensions[3].height = 30


def _runs(groups: Sequence[str]) -> list[tuple[int, int]]:
    """(first, last) 0-based positions of each run of equal groups."""
    runs, start = [], 0
    for position in range(1, len(groups) + 1):
        if position == len(groups) or groups[position] != groups[start]:
            runs.append((start, position - 1))
            start = position
    return runs


def _style_row(sheet: Worksheet, row: int, level: str) -> None:
    fill = {"district": _SUBTOTAL_FILL, "province": _TOTAL_FILL}.get(level)
    for column, cell in enumerate(sheet[row], start=1):
        cell.border = _BOX
        if column > 2:
            cell.number_format = "0.00"
        if fill is not None:
            cell.fill, cell.font = fill, Font(bold=True)


def _fill_notes(sheet: Worksheet, context: _Context) -> None:
    for vi, en in _notes(context):
        sheet.append([vi])
        sheet.append([en])
        sheet.append([])
    sheet.column_dimensions["A"].width = 140


def _notes(context: _Context) -> list[tuple[str, str]]:
    """The bulletin's notes: what each part counts and which maps were compared."""
    day = context.forecast_date
    same_vi = ", ".join(_date_vi(d) for d in context.same_week) or "không có"
    same_en = ", ".join(_date_en(d) for d in context.same_week) or "none"
    return [
        (
            f"Điều tra: các thửa được điều tra trong {SURVEY_WEEK_DAYS} ngày đến {_date_vi(day)} "
            "và đã báo cáo; mỗi thửa tính theo lần điều tra gần nhất; chưa suy rộng ra toàn vùng.",
            f"Surveys: parcels surveyed in the {SURVEY_WEEK_DAYS} days up to {_date_en(day)} and "
            "reported by then, each by its latest survey; not extrapolated to the whole area.",
        ),
        (
            "Dự báo: diện tích mọi thửa theo mức nguy cơ của mô hình "
            f"{context.model_version}. So sánh diện tích nguy cơ cao + trung bình với tuần "
            f"trước ({_date_vi(context.last_week) or 'không có'}) và cùng kỳ ({same_vi}); "
            "để trống khi không có bản đồ để so sánh.",
            f"Forecast: area of every parcel by risk class, model {context.model_version}. "
            f"High + medium area compared with last week ({_date_en(context.last_week) or 'none'})"
            f" and the same week of earlier seasons ({same_en}); blank without a map to compare.",
        ),
        _not_in_crop_note(),
    ]


def _not_in_crop_note() -> tuple[str, str]:
    (en, vi), (why_en, why_vi) = CLASS_NAMES[NOT_IN_CROP], NOT_IN_CROP_NOTE
    return (
        f"{vi.capitalize()}: {why_vi}; diện tích này được tính riêng, không tính vào nguy cơ thấp "
        "hay chưa đủ dữ liệu.",
        f"{en.capitalize()}: {why_en}; this area is counted apart, neither as low risk nor as not "
        "enough data.",
    )


def _week_vi(context: _Context) -> str:
    start = context.forecast_date - dt.timedelta(days=SURVEY_WEEK_DAYS - 1)
    return f"tuần {_date_vi(start)} – {_date_vi(context.forecast_date)}"


# --- HTML --------------------------------------------------------------------------------------


def _render_html(pages: Sequence[_PestPage], context: _Context) -> str:
    title = f"Bản tin sâu bệnh hại lúa – {context.region} – {_date_vi(context.forecast_date)}"
    return Template(_asset("bulletin.html")).substitute(
        title=html.escape(title),
        css=_asset("bulletin.css"),
        pages="\n".join(_page_html(page, context) for page in pages),
    )


def _asset(name: str) -> str:
    """A file of ``web/`` as installed with the package."""
    try:
        return resources.files("pestcast.flows").joinpath("web", name).read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise PublishError(
            f"the bulletin file web/{name} is not installed with pestcast.flows; reinstall "
            "(make .venv/.installed-dev)"
        ) from error


def _page_html(page: _PestPage, context: _Context) -> str:
    en, vi = PEST_NAMES.get(page.pest, (page.pest, page.pest))
    notes = "".join(f'<p>{_e(v)} <span class="en">{_e(n)}</span></p>' for v, n in _notes(context))
    return f"""<section class="page" id="pest-{html.escape(page.pest)}">
{_masthead(context)}
<h1>{_e(vi.capitalize())} <span class="en">{_e(en.capitalize())}</span></h1>
<div class="top">
<figure class="map">{page.svg}
<figcaption><b>Mức nguy cơ {page.horizon} ngày tới</b>
<span class="en">Risk class, next {page.horizon} days</span>{_legend(page)}</figcaption></figure>
<div class="side">{_side(page)}</div>
</div>
{_table_html(page)}
<footer class="notes">{notes}</footer>
</section>"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _masthead(context: _Context) -> str:
    day = context.forecast_date
    start = day - dt.timedelta(days=SURVEY_WEEK_DAYS - 1)
    ahead = day + dt.timedelta(days=1)
    return f"""<header class="masthead">
<div class="office">{_e(context.region)}</div>
<div class="title">Bản tin sinh vật gây hại lúa hằng tuần
<span class="en">Weekly rice pest bulletin</span></div>
<div class="week">Kỳ điều tra: {_date_vi(start)} – {_date_vi(day)} · Dự báo từ {_date_vi(ahead)}
<span class="en">Survey week {_date_en(start)} – {_date_en(day)} · forecast from
{_date_en(ahead)}</span></div>
</header>"""


def _legend(page: _PestPage) -> str:
    total = _total(page.table)
    items = [
        f'<li><span class="swatch" style="background:{CLASS_COLOURS[c]}"></span>'
        f'{_e(CLASS_NAMES[c][1].capitalize())} <span class="en">{_e(CLASS_NAMES[c][0])}</span> '
        f'<span class="count">{number_vi(total[f"risk_{c}_ha"])} ha</span></li>'
        for c in RISK_CLASSES
    ]
    return f'<ul class="legend">{"".join(items)}</ul>'


def _side(page: _PestPage) -> str:
    vi, en = page.trend
    reasons = (
        "".join(
            f'<li>{_e(r.vi)} <span class="count">({r.parcels} thửa / parcels)</span>'
            f'<br><span class="en">{_e(r.en)}</span></li>'
            for r in page.reasons
        )
        or '<li>Không có thửa nguy cơ cao. <span class="en">No high-risk parcel.</span></li>'
    )
    return f"""<section><h2>Tình hình và xu hướng <span class="en">Situation and trend</span></h2>
<p>{_e(vi)}</p><p class="en">{_e(en)}</p></section>
<section><h2>Lý do chính ở các thửa nguy cơ cao
<span class="en">Top reasons at high-risk parcels</span></h2><ol>{reasons}</ol></section>"""


def _table_html(page: _PestPage) -> str:
    headers = _headers(page.horizon)
    runs = _runs([c.group for c in COLUMNS])
    groups = "".join(
        f'<th {"colspan" if last > first else "rowspan"}="{max(last - first + 1, 2)}">'
        f'{_e(headers[first][0])}<span class="en">{_e(headers[first][1])}</span></th>'
        for first, last in runs
    )
    singles = {first for first, last in runs if first == last}
    names = "".join(
        f'<th class="{_header_class(c)}">{_e(cv)}<span class="en">{_e(ce)}</span></th>'
        for i, (c, (_, _, cv, ce)) in enumerate(zip(COLUMNS, headers, strict=True))
        if i not in singles
    )
    keys = "".join(
        f'<th rowspan="2">{_NAMES[k][0]}<span class="en">{_NAMES[k][1]}</span></th>' for k in KEYS
    )
    return f"""<table class="report"><caption>Bảng: diện tích theo xã, huyện
<span class="en">Table: hectares by commune and district</span></caption>
<thead><tr>{keys}{groups}</tr><tr>{names}</tr></thead>
<tbody>{_rows_html(page.table)}</tbody></table>"""


def _header_class(column: Column) -> str:
    """``risk-<class>`` for a risk-class column (bulletin.css tints its header), else none."""
    name = column.name.removeprefix("risk_").removesuffix("_ha")
    return f"risk-{name}" if column.group == "risk" else ""


def _rows_html(table: pd.DataFrame) -> str:
    rows = []
    values = table[[c.name for c in COLUMNS]].to_numpy()
    for (district, commune), row, level in zip(
        _labels(table.index), values, table["level"], strict=True
    ):
        cells = "".join(
            f"<td>{_cell_vi(v, signed=c.group == 'change')}</td>"
            for c, v in zip(COLUMNS, row, strict=True)
        )
        rows.append(
            f'<tr class="{level}"><td class="name">{_e(district)}</td>'
            f'<td class="name">{_e(commune)}</td>{cells}</tr>'
        )
    return "\n".join(rows)


def _cell_vi(value: float, *, signed: bool) -> str:
    if pd.isna(value):
        return ""
    text = number_vi(abs(value) if signed else value)
    if signed and round(value, 1) != 0:
        return ("+" if value > 0 else "−") + text
    return text


# --- PDF and PNG in headless Chromium ----------------------------------------------------------


def render_pdf(html_path: Path, pdf: Path, *, chromium: Path = CHROMIUM) -> Path:
    """Print ``html_path`` to ``pdf`` (A4, backgrounds on) in headless Chromium; returns ``pdf``.

    Raises :class:`PublishError` when ``chromium`` is missing (run ``make browser``), when
    Playwright is not installed, or when the page cannot be printed; ``pdf`` is replaced
    atomically.
    """
    with _chromium_page(Path(html_path), chromium=chromium) as page, atomic_path(pdf) as temporary:
        page.pdf(path=temporary, format="A4", print_background=True, prefer_css_page_size=True)
    return Path(pdf)


def render_page_png(
    html_path: Path, png: Path, *, scale: float = 1.5, chromium: Path = CHROMIUM
) -> Path:
    """Picture of the bulletin's first page (its first ``.page`` as the A4 sheet it prints on)."""
    viewport: ViewportSize = {"width": round(_A4_MM[0] * _MM), "height": round(_A4_MM[1] * _MM)}
    with (
        _chromium_page(Path(html_path), chromium=chromium, viewport=viewport, scale=scale) as page,
        atomic_path(png) as temporary,
    ):
        box = page.locator(".page").first.bounding_box()
        if box is None:
            raise PublishError(f"{html_path} has no bulletin page to picture")
        height = min(box["height"], _A4_MM[1] * _MM)
        clip: FloatRect = {"x": box["x"], "y": box["y"], "width": box["width"], "height": height}
        page.screenshot(path=temporary, clip=clip, animations="disabled")
    return Path(png)


@contextlib.contextmanager
def _chromium_page(
    html_path: Path,
    *,
    chromium: Path,
    viewport: ViewportSize | None = None,
    scale: float = 1.0,
) -> Iterator[Page]:
    """An offline Chromium page with ``html_path`` loaded; errors become :class:`PublishError`."""
    if not Path(chromium).exists():
        raise PublishError(
            f"{chromium} is missing, so the bulletin PDF cannot be rendered: run `make browser` "
            "(Debian's chromium package), or skip the PDF"
        )
    if not html_path.is_file():
        raise PublishError(f"{html_path} does not exist; write the bulletin first")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as error:
        raise PublishError(
            "the Python package playwright is not installed; install it to print the bulletin"
        ) from error
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(chromium), args=list(_CHROMIUM_ARGS)
            )
            context = browser.new_context(
                offline=True, viewport=viewport, device_scale_factor=scale
            )
            page = context.new_page()
            page.goto(html_path.resolve().as_uri(), wait_until="load")
            yield page
            browser.close()
    except Error as error:
        raise PublishError(f"Chromium could not render {html_path}: {error}") from error
