"""The offline map pages of a forecast publication: ``map.html``, and a page per commune if big.

Each page inlines everything it needs, so an officer can open it from a USB stick or an e-mail
attachment with no internet: Leaflet's JavaScript and CSS (vendored from the npm registry into
``web/leaflet/``, see ``web/README.md``), the page's own script and style (``web/map_page.js``,
``web/map_page.css``, ``web/map_page.html``) and the risk map itself (schema in docs/DESIGN.md,
"The risk map"), embedded as the text GDAL's GeoJSON writer gave it. A Content-Security-Policy
lets the page load nothing but the optional OpenStreetMap basemap, which is off until the reader
ticks it: Chromium logs a console error for every tile that fails offline, however the page
handles the failure.

Parcels are coloured by class for the chosen pest and horizon (the export's colours,
:data:`pestcast.flows.export.CLASS_COLOURS`) and can be filtered by class; a click shows the
parcel's risk, class, reasons and data quality, or for a parcel not in crop (fallow or flooded
off-season) that it is not forecast and why; a panel sums parcels and hectares per class and
commune, not-in-crop parcels in a column of their own; every label switches between English and
Vietnamese.

A province does not fit one page (500,000 parcels make a 740 MB page no browser opens), so
:func:`write_map_pages` splits a map of more than ``max_parcels_per_page`` parcels: one page per
commune in ``map/<district>--<commune>.html``, each linking back to ``map.html``, which becomes
an index of districts and communes (``web/map_index.*``) with their class counts and a small
overview map. The pages are written one at a time; a commune's page embeds its parcels' lines
of the published GeoJSON (GDAL writes a feature a line), which is never parsed whole.
"""

from __future__ import annotations

import html
import json
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pestcast.core.atomic import write_text_atomic
from pestcast.core.errors import ConfigError, DataError, PublishError
from pestcast.flows.export import CLASS_COLOURS, CLASS_OUTLINES, NOT_IN_CROP_NOTE
from pestcast.flows.labels import CLASS_NAMES, PEST_NAMES
from pestcast.flows.publication import MAP_PAGE
from pestcast.models import RISK_CLASSES

__all__ = [
    "COMMUNE_PAGES",
    "HIGH_SHARE_COLOURS",
    "commune_slugs",
    "write_map_page",
    "write_map_pages",
]

LOGGER = logging.getLogger(__name__)

COMMUNE_PAGES = "map"
"""Folder of a publication that holds one page per commune when the map is split."""

TILES = {
    "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
    "attribution": "© OpenStreetMap contributors",
    "maxZoom": 19,
}
"""The optional online basemap; its host is the only one the page's security policy allows."""

HIGH_SHARE_COLOURS = (
    (0.0, "#FEE0D2"),
    (0.05, "#FC9272"),
    (0.1, "#FB6A4A"),
    (0.2, CLASS_COLOURS["high"]),
)
"""Index map: a commune's circle is filled by the share of its parcels in class ``high``, with
the colour of the largest lower bound not above it; a commune without high parcels is white."""

_WEB = "web"
_LEAFLET = ("leaflet/leaflet.js", "leaflet/leaflet.css")
_SOURCE_MAP = re.compile(r"^\s*/[/*]# sourceMappingURL=.*$", re.MULTILINE)
"""Source-map comments: the map files are not shipped, so the comment is dropped when inlined."""
_TABLE = "the risk map table"


@dataclass(frozen=True)
class _Commune:
    """One commune of a split map: its name, its page and its rows (positions) in the table."""

    district: str
    commune: str
    slug: str
    rows: np.ndarray

    @property
    def href(self) -> str:
        return f"{COMMUNE_PAGES}/{self.slug}.html"


def write_map_page(
    risk_map: Path, out: Path, *, pests: Sequence[str], horizons: Sequence[int]
) -> Path:
    """Write the self-contained map page of ``risk_map`` (GeoJSON) to ``out``; returns ``out``.

    ``pests`` (codes such as ``bph``) and ``horizons`` (days) are the choices the page offers,
    the first of each shown first. Every feature needs a ``parcel_id`` and, for each pest and
    horizon, a ``class_<p>_h<h>`` of :data:`pestcast.models.RISK_CLASSES` (``high``, ``medium``,
    ``low``, ``no_data``, ``not_in_crop``); a missing risk, reason or date is shown as missing.
    The file's text is embedded as it is. The page is replaced atomically.
    """
    pests, horizons = _checked_choices(pests, horizons)
    text, features = _read_features(Path(risk_map))
    properties = _feature_properties(features, pests, horizons)
    del features
    _check_parcels(properties, pests, horizons, where=str(risk_map), row="feature")
    return _write_page(text, properties, Path(out), pests, horizons)


def write_map_pages(
    risk_map: gpd.GeoDataFrame,
    folder: Path,
    *,
    published: Path,
    pests: Sequence[str],
    horizons: Sequence[int],
    max_parcels_per_page: int,
) -> list[Path]:
    """Write the map pages of the published table ``risk_map`` into ``folder``; returns them.

    ``published`` is that table's GeoJSON as :func:`pestcast.flows.publish.write_geojson_rfc7946`
    wrote it (``risk_map`` in any CRS; ``parcel_id``, ``district``, ``commune``, ``area_ha`` and
    the forecast columns): the pages embed its features' text. Up to ``max_parcels_per_page``
    parcels: ``folder/map.html``, the page :func:`write_map_page` makes of ``published``. More:
    ``folder/map.html`` is an index of the communes, first in the list, and each commune has its
    page ``folder/map/<slug>.html`` (:func:`commune_slugs`) with only its parcels' features.
    Pages are written atomically, one at a time.
    """
    pests, horizons = _checked_choices(pests, horizons)
    _check_page_limit(max_parcels_per_page)
    _check_parcels(risk_map, pests, horizons, where=_TABLE, row="row")
    folder, published = Path(folder), Path(published)
    if len(risk_map) <= max_parcels_per_page:
        text = published.read_text(encoding="utf-8")
        return [_write_page(text, risk_map, folder / MAP_PAGE, pests, horizons)]
    communes = _communes(risk_map)
    features = _PublishedFeatures(published, len(risk_map))
    pages = [
        _write_commune_page(
            risk_map,
            features,
            commune,
            folder,
            pests=pests,
            horizons=horizons,
            limit=max_parcels_per_page,
        )
        for commune in communes
    ]
    index = _write_index(risk_map, communes, folder / MAP_PAGE, pests, horizons)
    return [index, *pages]


def _write_commune_page(
    risk_map: gpd.GeoDataFrame,
    features: _PublishedFeatures,
    commune: _Commune,
    folder: Path,
    *,
    pests: Sequence[str],
    horizons: Sequence[int],
    limit: int,
) -> Path:
    """One commune's page in ``folder/map/``; a commune bigger than ``limit`` is logged."""
    if len(commune.rows) > limit:
        LOGGER.warning(
            "commune %s (%s) has %d parcels, more than the %d of one page: its page may be too "
            "big for a browser",
            commune.commune,
            commune.district,
            len(commune.rows),
            limit,
        )
    text = features.collection(commune.rows)
    rows = risk_map.iloc[commune.rows]
    return _write_page(text, rows, folder / commune.href, pests, horizons, commune=commune)


class _PublishedFeatures:
    """The features of a published map, read by table row without parsing the file: GDAL's
    GeoJSON writer puts one feature on each line, in the table's order. Writing each commune's
    features again took 92 s of a 500,000-parcel week; slicing the published text takes ~5 s."""

    _START = b'{ "type": "Feature"'

    def __init__(self, path: Path, n_rows: int) -> None:
        self.path = path
        self.spans: list[tuple[int, int]] = []
        """(offset, length) in the file of each row's feature, without the separating comma."""
        offset = 0
        with path.open("rb") as handle:
            for line in handle:
                if line.startswith(self._START):
                    self.spans.append((offset, len(line.rstrip(b"\r\n").rstrip(b","))))
                offset += len(line)
        if len(self.spans) != n_rows:
            raise PublishError(
                f"{path} holds {len(self.spans)} features on lines of their own, the table "
                f"{n_rows} rows; write it with write_geojson_rfc7946 from the same table"
            )

    def collection(self, rows: Iterable[int]) -> str:
        """A FeatureCollection of the features of ``rows``, in that order, as text."""
        features = []
        with self.path.open("rb") as handle:
            for row in rows:
                offset, length = self.spans[row]
                handle.seek(offset)
                features.append(handle.read(length))
        body = b",\n".join(features)
        return '{"type": "FeatureCollection", "features": [\n' + body.decode("utf-8") + "\n]}"


def commune_slugs(places: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(district, commune) → ``district--commune`` in ASCII lower case, unique: diacritics are
    folded (``Châu Thành``, ``Vĩnh Hòa`` → ``chau-thanh--vinh-hoa``, ``đ`` → ``d``); names that
    fold alike get ``-2``, ``-3`` … in sorted order."""
    slugs: dict[tuple[str, str], str] = {}
    taken: Counter[str] = Counter()
    for district, commune in sorted(set(places)):
        stem = slug = f"{_ascii_slug(district)}--{_ascii_slug(commune)}"
        while taken[slug]:
            taken[stem] += 1
            slug = f"{stem}-{taken[stem]}"
        taken[slug] += 1
        slugs[(district, commune)] = slug
    return slugs


def _ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    ascii_text = plain.encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-") or "unnamed"


# --- arguments and data ----------------------------------------------------------------------


def _checked_choices(pests: Sequence[str], horizons: Sequence[int]) -> tuple[list[str], list[int]]:
    pest_list, horizon_list = list(pests), list(horizons)
    if not pest_list or not all(isinstance(p, str) and p for p in pest_list):
        raise ConfigError(f"map page pests {pest_list!r} must be non-empty codes, e.g. ['bph']")
    if not horizon_list or not all(
        isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in horizon_list
    ):
        raise ConfigError(f"map page horizons {horizon_list!r} must be positive days, e.g. [7]")
    return pest_list, horizon_list


def _check_page_limit(max_parcels_per_page: int) -> None:
    limit = max_parcels_per_page
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ConfigError(
            f"max_parcels_per_page {limit!r} must be a whole number of parcels ≥ 1 "
            "(forecast.map_page_max_parcels, e.g. 50000)"
        )


def _read_features(path: Path) -> tuple[str, list[dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8")
        document = json.loads(text, parse_constant=_refuse_constant)
    except OSError as error:
        raise DataError(f"cannot read the risk map {path}: {error}; publish it first") from error
    except ValueError as error:
        raise DataError(f"the risk map {path} is not JSON ({error}); publish it again") from error
    features = document.get("features") if isinstance(document, dict) else None
    if not isinstance(features, list) or document.get("type") != "FeatureCollection":
        raise DataError(f"the risk map {path} is not a GeoJSON FeatureCollection; publish it again")
    return text, features


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number; write missing values as null")


def _feature_properties(
    features: Sequence[dict[str, Any]], pests: Sequence[str], horizons: Sequence[int]
) -> pd.DataFrame:
    """The properties the pages check and summarise, one row per feature, values as they are."""
    names = ["parcel_id", "forecast_date", "model_version"] + [
        f"{kind}_{p}_h{h}" for p in pests for h in horizons for kind in ("class", "class_vi")
    ]
    properties = [feature.get("properties") or {} for feature in features]
    columns = {name: [p.get(name) for p in properties] for name in names}
    return pd.DataFrame(columns, dtype=object)


def _column(table: pd.DataFrame, name: str) -> pd.Series[Any]:
    """A column of ``table``, or nulls where it has none."""
    if name in table.columns:
        return table[name]
    return pd.Series([None] * len(table), index=table.index, dtype=object)


def _check_parcels(
    table: pd.DataFrame, pests: Sequence[str], horizons: Sequence[int], *, where: str, row: str
) -> None:
    """Every row has its own parcel id and, for each pest and horizon, a known class."""
    ids = _column(table, "parcel_id")
    missing = ids.isna().to_numpy()
    repeated = ids.astype(str).duplicated().to_numpy() & ~missing
    if (missing | repeated).any():
        at = int(np.argmax(missing | repeated))
        raise DataError(
            f"{row} {at} of {where} has {'no' if missing[at] else 'a repeated'} parcel_id "
            f"({ids.iloc[at]}); each parcel must appear once, publish the map again"
        )
    for name in (f"class_{p}_h{h}" for p in pests for h in horizons):
        classes = _column(table, name)
        unknown = ~classes.isin(RISK_CLASSES).to_numpy()
        if unknown.any():
            at = int(np.argmax(unknown))
            raise DataError(
                f"parcel {ids.iloc[at]} in {where} has {name} = {classes.iloc[at]!r}, not one "
                f"of {sorted(RISK_CLASSES)}; publish the map for these pests and horizons"
            )


def _communes(table: gpd.GeoDataFrame) -> list[_Commune]:
    """The table's communes in district and commune order, with their rows."""
    for name in ("district", "commune"):
        places = _column(table, name)
        if places.isna().any():
            parcel = _column(table, "parcel_id").iloc[int(np.argmax(places.isna().to_numpy()))]
            raise DataError(
                f"parcel {parcel} in {_TABLE} has no {name}; the map is split into a page per "
                "commune, so every parcel needs a district and a commune (fix the parcels file)"
            )
    groups = table.groupby(["district", "commune"], sort=True, observed=True).indices
    named = {(str(d), str(c)): rows for (d, c), rows in groups.items()}
    slugs = commune_slugs(named)
    return [_Commune(d, c, slugs[(d, c)], rows) for (d, c), rows in sorted(named.items())]


# --- the map page ----------------------------------------------------------------------------


def _write_page(
    geojson: str,
    table: pd.DataFrame,
    out: Path,
    pests: Sequence[str],
    horizons: Sequence[int],
    *,
    commune: _Commune | None = None,
) -> Path:
    """The map page of ``geojson`` (the text of the map) whose properties ``table`` holds."""
    config = _page_config(table, pests, horizons)
    if commune is not None:
        config["place"] = {"district": commune.district, "commune": commune.commune}
        config["index"] = f"../{MAP_PAGE}"
    title = f"Pest risk map {config['forecastDate']}".strip()
    return write_text_atomic(
        out,
        _render(
            "map_page",
            title=title,
            risk_map_json=_json_text_in_script(geojson),
            config_json=_json_in_script(config),
        ),
    )


def _page_config(
    table: pd.DataFrame, pests: Sequence[str], horizons: Sequence[int]
) -> dict[str, Any]:
    """What a page's script needs besides the map: choices, labels, colours, dates, basemap."""
    return {
        "pests": [
            {"code": p, "en": en, "vi": vi} for p in pests for en, vi in [PEST_NAMES.get(p, (p, p))]
        ],
        "horizons": list(horizons),
        "classes": [
            {
                "code": c,
                "en": CLASS_NAMES[c][0],
                "vi": label,
                "fill": CLASS_COLOURS[c],
                "outline": CLASS_OUTLINES[c],
            }
            for c, label in _class_names_vi(table, pests, horizons).items()
        ],
        "notInCropNote": {"en": NOT_IN_CROP_NOTE[0], "vi": NOT_IN_CROP_NOTE[1]},
        "forecastDate": _distinct(table, "forecast_date"),
        "modelVersion": _distinct(table, "model_version"),
        "tiles": TILES,
    }


def _class_names_vi(
    table: pd.DataFrame, pests: Sequence[str], horizons: Sequence[int]
) -> dict[str, str]:
    """Vietnamese class names as the risk map spells them (its publisher's settings decide)."""
    names = {name: vi for name, (_, vi) in CLASS_NAMES.items()}
    for suffix in (f"{p}_h{h}" for p in pests for h in horizons):
        pairs = pd.DataFrame(
            {"code": _column(table, f"class_{suffix}"), "vi": _column(table, f"class_vi_{suffix}")}
        )
        for code, label in pairs.drop_duplicates(keep="last").itertuples(index=False):
            if isinstance(label, str) and label:
                names[code] = label
    return {c: names[c] for c in RISK_CLASSES}


def _distinct(table: pd.DataFrame, name: str) -> str:
    values = {str(v) for v in _column(table, name).dropna().unique()} - {""}
    return ", ".join(sorted(values))


# --- the index of a split map ----------------------------------------------------------------


def _write_index(
    table: gpd.GeoDataFrame,
    communes: Sequence[_Commune],
    out: Path,
    pests: Sequence[str],
    horizons: Sequence[int],
) -> Path:
    """The index page: every commune with its class counts per pest and horizon, and its page."""
    lon, lat = _parcel_centres(table)
    keys = [f"{p}_h{h}" for p in pests for h in horizons]
    classes = {key: table[f"class_{key}"].to_numpy(dtype=object) for key in keys}
    hectares = pd.to_numeric(_column(table, "area_ha"), errors="coerce").fillna(0.0).to_numpy()
    config = _page_config(table, pests, horizons) | {
        "highShareColours": [
            {"from": bound, "colour": colour} for bound, colour in HIGH_SHARE_COLOURS
        ],
        "communes": [
            _commune_summary(commune, classes, hectares, lon, lat) for commune in communes
        ],
    }
    title = f"Pest risk map {config['forecastDate']}: communes".strip()
    return write_text_atomic(
        out, _render("map_index", title=title, config_json=_json_in_script(config))
    )


def _parcel_centres(table: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (WGS 84) of each parcel's centroid; NaN without a geometry."""
    centroids = gpd.GeoSeries(shapely.centroid(table.geometry.to_numpy()), crs=table.crs)
    wgs84 = centroids.to_crs("EPSG:4326") if table.crs is not None else centroids
    points = wgs84.to_numpy()
    return shapely.get_x(points), shapely.get_y(points)


def _commune_summary(
    commune: _Commune,
    classes: Mapping[str, np.ndarray],
    hectares: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
) -> dict[str, Any]:
    """Parcels per class and hectares in high + medium for each pest and horizon, and where the
    commune's circle goes (the mean of its parcels' centroids)."""
    rows = commune.rows
    counts: dict[str, dict[str, int]] = {}
    warning_ha: dict[str, float] = {}
    for key, column in classes.items():
        found = Counter(column[rows])
        counts[key] = {c: int(found[c]) for c in RISK_CLASSES}
        warned = np.isin(column[rows], ("high", "medium"))
        warning_ha[key] = round(float(hectares[rows][warned].sum()), 2)
    placed = ~np.isnan(lon[rows]) & ~np.isnan(lat[rows])
    return {
        "district": commune.district,
        "commune": commune.commune,
        "href": commune.href,
        "parcels": len(rows),
        "lon": round(float(lon[rows][placed].mean()), 6) if placed.any() else None,
        "lat": round(float(lat[rows][placed].mean()), 6) if placed.any() else None,
        "counts": counts,
        "warningHa": warning_ha,
    }


# --- rendering -------------------------------------------------------------------------------


def _render(page: str, *, title: str, **data: str) -> str:
    """Page ``page`` (``web/<page>.html``, ``.css``, ``.js``) with Leaflet, what the pages share
    (``web/map_head.html``, ``map_language_switch.html``, ``map_common.css``, ``.js``) and
    ``data`` inlined."""
    head = Template(_asset("map_head.html")).substitute(
        title=html.escape(title),
        leaflet_css=_inline(_asset(_LEAFLET[1]), "style"),
        common_css=_inline(_asset("map_common.css"), "style"),
        page_css=_inline(_asset(f"{page}.css"), "style"),
    )
    return Template(_asset(f"{page}.html")).substitute(
        head=head,
        language_switch=_asset("map_language_switch.html"),
        scripts="\n".join(
            f"<script>\n{_inline(_asset(name), 'script')}\n</script>"
            for name in (_LEAFLET[0], "map_common.js", f"{page}.js")
        ),
        **data,
    )


def _asset(name: str) -> str:
    """A file of ``web/`` as installed with the package (package data, not the source tree)."""
    resource = resources.files("pestcast.flows").joinpath(_WEB)
    for part in name.split("/"):
        resource = resource.joinpath(part)
    try:
        return resource.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise PublishError(
            f"the map page file {_WEB}/{name} is not installed with pestcast.flows; list "
            "pestcast.flows.web and pestcast.flows.web.leaflet with their files as packages and "
            "package data in pyproject.toml and reinstall (make .venv/.installed-dev)"
        ) from error


def _inline(source: str, tag: str) -> str:
    """Source text safe inside ``<tag>``: without source-map comments or a closing tag."""
    if f"</{tag}" in source.lower():
        raise PublishError(f"an inlined {tag} contains '</{tag}', which would end it early")
    return _SOURCE_MAP.sub("", source)


def _json_in_script(value: Any) -> str:
    """JSON for a ``<script type="application/json">``: every ``<`` escaped, text as UTF-8."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return _json_text_in_script(text)


def _json_text_in_script(text: str) -> str:
    """JSON text safe in a ``<script>``: ``<`` occurs only inside JSON strings, where
    ``\\u003c`` means the same, so no ``</script>`` or ``<!--`` can end the element."""
    return text.replace("<", "\\u003c")
