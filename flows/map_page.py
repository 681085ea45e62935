"""The offline map page of a forecast publication: one self-contained ``map.html``.

The page inlines everything it needs, so an officer can open it from a USB stick or an e-mail
attachment with no internet: Leaflet's JavaScript and CSS (vendored from the npm registry into
``web/leaflet/``, see ``web/README.md``), the page's own script and style (``web/map_page.js``,
``web/map_page.css``, ``web/map_page.html``) and the risk map itself (schema in docs/DESIGN.md,
"The risk map"). A Content-Security-Policy lets the page load nothing but the optional
OpenStreetMap basemap, which is off until the reader ticks it: Chromium logs a console error for
every tile that fails offline, however the page handles the failure.

Parcels are coloured by class for the chosen pest and horizon (the export's colours,
:data:`pestcast.flows.export.CLASS_COLOURS`) and can be filtered by class; a click shows the
parcel's risk, class, reasons and data quality, or for a parcel not in crop (fallow or flooded
off-season) that it is not forecast and why; a panel sums parcels and hectares per class and
commune, not-in-crop parcels in a column of their own; every label switches between English and
Vietnamese.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from pestcast.core.atomic import write_text_atomic
from pestcast.core.errors import ConfigError, DataError, PublishError
from pestcast.flows.export import CLASS_COLOURS, CLASS_OUTLINES, NOT_IN_CROP_NOTE
from pestcast.flows.labels import CLASS_NAMES, PEST_NAMES
from pestcast.models import RISK_CLASSES

__all__ = ["write_map_page"]

TILES = {
    "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
    "attribution": "© OpenStreetMap contributors",
    "maxZoom": 19,
}
"""The optional online basemap; its host is the only one the page's security policy allows."""

_WEB = "web"
_LEAFLET = ("leaflet/leaflet.js", "leaflet/leaflet.css")
_SOURCE_MAP = re.compile(r"^\s*/[/*]# sourceMappingURL=.*$", re.MULTILINE)
"""Source-map comments: the map files are not shipped, so the comment is dropped when inlined."""


def write_map_page(
    risk_map: Path, out: Path, *, pests: Sequence[str], horizons: Sequence[int]
) -> Path:
    """Write the self-contained map page of ``risk_map`` (GeoJSON) to ``out``; returns ``out``.

    ``pests`` (codes such as ``bph``) and ``horizons`` (days) are the choices the page offers,
    the first of each shown first. Every feature needs a ``parcel_id`` and, for each pest and
    horizon, a ``class_<p>_h<h>`` of :data:`pestcast.models.RISK_CLASSES` (``high``, ``medium``,
    ``low``, ``no_data``, ``not_in_crop``); a missing risk, reason or date is shown as missing.
    The page is replaced atomically.
    """
    pests, horizons = _checked_choices(pests, horizons)
    features = _read_features(Path(risk_map))
    _check_properties(features, Path(risk_map), pests, horizons)
    config = _page_config(features, pests, horizons)
    document = {"type": "FeatureCollection", "features": features}
    return write_text_atomic(out, _render(document, config))


def _checked_choices(pests: Sequence[str], horizons: Sequence[int]) -> tuple[list[str], list[int]]:
    pest_list, horizon_list = list(pests), list(horizons)
    if not pest_list or not all(isinstance(p, str) and p for p in pest_list):
        raise ConfigError(f"map page pests {pest_list!r} must be non-empty codes, e.g. ['bph']")
    if not horizon_list or not all(
        isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in horizon_list
    ):
        raise ConfigError(f"map page horizons {horizon_list!r} must be positive days, e.g. [7]")
    return pest_list, horizon_list


def _read_features(path: Path) -> list[dict[str, Any]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"), parse_constant=_refuse_constant)
    except OSError as error:
        raise DataError(f"cannot read the risk map {path}: {error}; publish it first") from error
    except ValueError as error:
        raise DataError(f"the risk map {path} is not JSON ({error}); publish it again") from error
    features = document.get("features") if isinstance(document, dict) else None
    if not isinstance(features, list) or document.get("type") != "FeatureCollection":
        raise DataError(f"the risk map {path} is not a GeoJSON FeatureCollection; publish it again")
    return features


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number; write missing values as null")


def _check_properties(
    features: Sequence[dict[str, Any]], path: Path, pests: Sequence[str], horizons: Sequence[int]
) -> None:
    """Every feature has its own parcel id and, for each pest and horizon, a known class."""
    known, seen = set(RISK_CLASSES), set()
    for index, feature in enumerate(features):
        properties = feature.get("properties") or {}
        parcel = properties.get("parcel_id")
        if parcel is None or str(parcel) in seen:
            raise DataError(
                f"feature {index} of {path} has {'no' if parcel is None else 'a repeated'} "
                f"parcel_id ({parcel}); each parcel must appear once, publish the map again"
            )
        seen.add(str(parcel))
        for name in (f"class_{p}_h{h}" for p in pests for h in horizons):
            if properties.get(name) not in known:
                raise DataError(
                    f"parcel {parcel} in {path} has {name} = {properties.get(name)!r}, not one "
                    f"of {sorted(known)}; publish the map for these pests and horizons"
                )


def _page_config(
    features: Sequence[dict[str, Any]], pests: Sequence[str], horizons: Sequence[int]
) -> dict[str, Any]:
    """What the page's script needs besides the map: choices, labels, colours, dates, basemap."""
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
            for c, label in _class_names_vi(features, pests, horizons).items()
        ],
        "notInCropNote": {"en": NOT_IN_CROP_NOTE[0], "vi": NOT_IN_CROP_NOTE[1]},
        "forecastDate": _distinct(features, "forecast_date"),
        "modelVersion": _distinct(features, "model_version"),
        "tiles": TILES,
    }


def _class_names_vi(
    features: Sequence[dict[str, Any]], pests: Sequence[str], horizons: Sequence[int]
) -> dict[str, str]:
    """Vietnamese class names as the risk map spells them (its publisher's settings decide)."""
    names = {name: vi for name, (_, vi) in CLASS_NAMES.items()}
    for properties in (f.get("properties") or {} for f in features):
        for suffix in (f"{p}_h{h}" for p in pests for h in horizons):
            label = properties.get(f"class_vi_{suffix}")
            if isinstance(label, str) and label:
                names[properties[f"class_{suffix}"]] = label
    return {c: names[c] for c in RISK_CLASSES}


def _distinct(features: Sequence[dict[str, Any]], name: str) -> str:
    values = {str((f.get("properties") or {}).get(name) or "") for f in features} - {""}
    return ", ".join(sorted(values))


# --- the page --------------------------------------------------------------------------------


def _render(document: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    title = f"Pest risk map {config['forecastDate']}".strip()
    return Template(_asset("map_page.html")).substitute(
        title=html.escape(title),
        leaflet_css=_inline(_asset(_LEAFLET[1]), "style"),
        page_css=_inline(_asset("map_page.css"), "style"),
        leaflet_js=_inline(_asset(_LEAFLET[0]), "script"),
        page_js=_inline(_asset("map_page.js"), "script"),
        risk_map_json=_json_in_script(document),
        config_json=_json_in_script(config),
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
    return text.replace("<", "\\u003c")
