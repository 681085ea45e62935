"""Surface reflectance of the landscape as a linear mixture of endmembers.

Every land-cover row (a rice field, or a static cover: canal water, village trees, roofs, roads,
canal banks) has fractions of seven endmembers on a scene day; its spectrum is the fraction-
weighted sum of the endmember spectra (Sentinel-2 bands B02 B03 B04 B05 B08 B8A B11 B12,
reflectance 0–1; typical published values, rounded [A]).

Rice fields follow their crop calendar [A]:

* land preparation (the 10 days before sowing): flooded, 85 % water;
* in crop: green canopy cover ``c = peak / (1 + exp(−(a − 30)/6))`` (a: days since sowing, half
  cover at day 30), ``peak = clip(0.93 · vigour, 0.7, 0.99)``; the canopy yellows from day 70
  (senescent share up to 0.8 at day 100); under it, standing water (60 % at sowing, 35 % days
  4–10 when drained for direct seeding, 75 % days 10–75, drained by day 85) over wet soil that
  dries before harvest;
* pest damage: a share of the field (its burnt share, ``epidemic.burnt_share``) lies in burnt
  patches, where the whole canopy is dead (senescent spectrum: red, B05 and SWIR up, NIR down,
  so NDVI and the red-edge NDRE fall) and ``BURNT_LODGED`` = 30 % of it has collapsed onto the
  water or soil below [A: hopperburnt plants dry out and lodge]. The patches have their own
  spectrum per field; where they lie is drawn by the imagery (``imagery.py``);
* after harvest: straw residue (35 %, decaying in ~12 days) and weeds (up to 10 %) on bare soil,
  wetter after rain;
* in the flood season (Sep–Nov) fields outside full-dyke compartments that are not in crop go
  under water.

Within a field, canopy cover varies smoothly by ±5 % (a static texture), and the 5 m rendering
is block-averaged to 10/20 m, so edge pixels are mixed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

__all__ = [
    "BANDS",
    "ENDMEMBERS",
    "ENDMEMBER_SPECTRA",
    "STATIC_COVERS",
    "FieldConditions",
    "SurfaceTables",
    "burnt_fractions",
    "field_fractions",
    "flood_level",
    "scene_surface",
    "static_fractions",
    "surface_tables",
]

BANDS = ("B02", "B03", "B04", "B05", "B08", "B8A", "B11", "B12")
ENDMEMBERS = ("water", "wet_soil", "dry_soil", "green", "senescent", "tree", "roof")
ENDMEMBER_SPECTRA = np.array(
    [
        [0.055, 0.075, 0.085, 0.075, 0.050, 0.040, 0.020, 0.012],  # turbid canal/paddy water
        [0.050, 0.070, 0.090, 0.110, 0.135, 0.145, 0.160, 0.120],  # wet soil, puddled mud
        [0.090, 0.120, 0.160, 0.185, 0.205, 0.215, 0.300, 0.250],  # dry soil, stubble field
        [0.025, 0.060, 0.030, 0.110, 0.420, 0.440, 0.200, 0.090],  # green rice canopy
        [0.060, 0.100, 0.120, 0.170, 0.300, 0.310, 0.300, 0.200],  # senescent (ripe) canopy
        [0.030, 0.055, 0.035, 0.110, 0.350, 0.360, 0.170, 0.080],  # trees (homestead gardens)
        [0.150, 0.160, 0.170, 0.180, 0.200, 0.210, 0.240, 0.220],  # roofs and concrete
    ],
    dtype=np.float64,
)
"""(endmember, band) surface reflectance 0–1."""

STATIC_COVERS: dict[str, dict[str, float]] = {
    "canal": {"water": 1.0},
    "village": {"tree": 0.75, "roof": 0.10, "dry_soil": 0.15},
    "house": {"roof": 0.85, "tree": 0.15},
    "road": {"roof": 0.60, "dry_soil": 0.40},
    "bank": {"tree": 0.45, "green": 0.15, "dry_soil": 0.40},
}
"""Fractions of the non-rice covers; their rows follow the field rows, in this order."""

_W, _WET, _DRY, _GREEN, _SEN, _TREE, _ROOF = range(len(ENDMEMBERS))
TEXTURE_AMPLITUDE = 0.05
BURNT_LODGED = 0.3
"""Share of the dead canopy in a burnt patch that has collapsed, exposing the ground [A]."""


@dataclass(frozen=True)
class FieldConditions:
    """Everything that sets the fields' fractions on one day (arrays over fields)."""

    days_since_sowing: npt.NDArray[np.int16]
    days_since_harvest: npt.NDArray[np.int16]
    days_to_sowing: npt.NDArray[np.int16]
    vigour: npt.NDArray[np.float64]
    burnt: npt.NDArray[np.float32]
    """Share 0–1 of each field's area in burnt patches (pest damage; 0 off registered parcels)."""
    three_crops: npt.NDArray[np.bool_]
    flood: float
    """Flood level of the day (0–0.95) for fields outside full dykes."""
    soil_wetness: float
    """Share of bare soil that is wet (0–1), from recent rain."""


@dataclass(frozen=True)
class SurfaceTables:
    """Per land-cover row: spectrum and its change per unit of texture (row, band), and the
    burnt patches of the damaged fields."""

    reflectance: npt.NDArray[np.float32]
    texture_gradient: npt.NDArray[np.float32]
    patch_rows: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
    """Rows (fields in crop) that have burnt patches."""
    patch_share: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    """Share 0–1 of each of those fields' area that is burnt."""
    patch_reflectance: npt.NDArray[np.float32] = field(
        default_factory=lambda: np.zeros((0, len(BANDS)), np.float32)
    )
    """(patch row, band) spectrum inside the burnt patches."""
    patch_texture_gradient: npt.NDArray[np.float32] = field(
        default_factory=lambda: np.zeros((0, len(BANDS)), np.float32)
    )
    """(patch row, band) texture gradient inside the burnt patches."""


def flood_level(day: dt.date) -> float:
    """Water share of undyked fallow fields: rises 1–25 Sep, recedes 10 Nov–1 Dec [A]."""
    anchors = [(9, 1, 0.0), (9, 25, 0.95), (11, 10, 0.95), (12, 1, 0.0)]
    ordinals = [dt.date(day.year, month, dom).toordinal() for month, dom, _ in anchors]
    levels = [level for *_, level in anchors]
    return float(np.interp(day.toordinal(), ordinals, levels, left=0.0, right=0.0))


def field_fractions(conditions: FieldConditions) -> npt.NDArray[np.float64]:
    """(field, endmember) fractions summing to 1."""
    in_crop = conditions.days_since_sowing >= 0
    crop = _crop_fractions(conditions)
    fallow = _fallow_fractions(conditions)
    return np.where(in_crop[:, None], crop, fallow)


def burnt_fractions(conditions: FieldConditions) -> npt.NDArray[np.float64]:
    """(field, endmember) fractions inside burnt patches: the canopy dead, part of it lodged.

    The ground keeps its composition (water, wet and dry soil) and takes the lodged share.
    """
    healthy = _crop_fractions(conditions)
    canopy = healthy[:, _GREEN] + healthy[:, _SEN]
    dead = canopy * (1.0 - BURNT_LODGED)
    ground_scale = (1.0 - dead) / (1.0 - canopy)
    fractions = healthy * ground_scale[:, None]
    fractions[:, _GREEN] = 0.0
    fractions[:, _SEN] = dead
    return fractions


def _crop_fractions(conditions: FieldConditions) -> npt.NDArray[np.float64]:
    age = np.maximum(conditions.days_since_sowing.astype(np.float64), 0.0)
    peak = np.clip(0.93 * conditions.vigour, 0.7, 0.99)
    cover = peak / (1.0 + np.exp(-(age - 30.0) / 6.0))
    brown = 0.8 * _smoothstep((age - 70.0) / 30.0)
    water = np.interp(age, [0, 3.9, 4, 9.9, 10, 75, 85], [0.6, 0.6, 0.35, 0.35, 0.75, 0.75, 0.05])
    wet_share = np.interp(age, [0, 80, 100], [1.0, 1.0, 0.3])
    fractions = np.zeros((len(age), len(ENDMEMBERS)))
    fractions[:, _GREEN] = cover * (1.0 - brown)
    fractions[:, _SEN] = cover * brown
    ground = 1.0 - cover
    fractions[:, _W] = ground * water
    fractions[:, _WET] = ground * (1.0 - water) * wet_share
    fractions[:, _DRY] = ground * (1.0 - water) * (1.0 - wet_share)
    return fractions


def _fallow_fractions(conditions: FieldConditions) -> npt.NDArray[np.float64]:
    since = conditions.days_since_harvest.astype(np.float64)
    residue = 0.35 * np.exp(-np.maximum(since, 0.0) / 12.0)
    weeds = 0.10 * (1.0 - np.exp(-np.maximum(since, 0.0) / 25.0))
    soil = 1.0 - residue - weeds
    flood = np.where(conditions.three_crops, 0.0, conditions.flood)
    preparing = conditions.days_to_sowing <= 10
    water = np.where(preparing, 0.85, flood)
    fractions = np.zeros((len(since), len(ENDMEMBERS)))
    dry_land = np.where(preparing, 0.0, 1.0 - water)
    fractions[:, _SEN] = dry_land * residue
    fractions[:, _GREEN] = dry_land * weeds
    fractions[:, _WET] = dry_land * soil * conditions.soil_wetness + np.where(preparing, 0.15, 0)
    fractions[:, _DRY] = dry_land * soil * (1.0 - conditions.soil_wetness)
    fractions[:, _W] = water
    return fractions


def _smoothstep(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def static_fractions() -> npt.NDArray[np.float64]:
    """(cover, endmember) fractions of the static covers, in ``STATIC_COVERS`` order."""
    rows = np.zeros((len(STATIC_COVERS), len(ENDMEMBERS)))
    for row, parts in enumerate(STATIC_COVERS.values()):
        for name, share in parts.items():
            rows[row, ENDMEMBERS.index(name)] = share
    return rows


def scene_surface(conditions: FieldConditions) -> SurfaceTables:
    """The surface tables of one scene day: every row, and the burnt patches of fields in crop."""
    share = np.where(conditions.days_since_sowing >= 0, conditions.burnt, 0.0)
    damaged = np.flatnonzero(share > 0)
    return surface_tables(
        field_fractions(conditions),
        patch_rows=damaged,
        patch_fractions=burnt_fractions(conditions)[damaged],
        patch_share=share[damaged],
    )


def surface_tables(
    field_rows: npt.NDArray[np.float64],
    *,
    patch_rows: npt.NDArray[np.integer] | None = None,
    patch_fractions: npt.NDArray[np.float64] | None = None,
    patch_share: npt.NDArray[np.floating] | None = None,
) -> SurfaceTables:
    """Spectra of the field rows followed by the static covers, and their texture gradients.

    The texture moves ``TEXTURE_AMPLITUDE`` × (cover + 0.1) of a field from its ground to its
    canopy per unit of texture (canopy density varies within fields); static covers vary
    between trees and bare soil. ``patch_fractions`` are the burnt-patch fractions of the
    fields ``patch_rows``, of which a share ``patch_share`` is burnt (none by default).
    """
    rows = np.concatenate([field_rows, static_fractions()])
    reflectance, gradient = _spectra(rows)
    n_fields = len(field_rows)
    gradient[n_fields:] = ENDMEMBER_SPECTRA[_TREE] - ENDMEMBER_SPECTRA[_DRY]
    gradient[n_fields] = 0.0  # canal water is uniform
    tables = SurfaceTables(
        reflectance=reflectance.astype(np.float32),
        texture_gradient=(TEXTURE_AMPLITUDE * gradient).astype(np.float32),
    )
    if patch_rows is None or patch_fractions is None or patch_share is None:
        return tables
    patch_reflectance, patch_gradient = _spectra(patch_fractions)
    return replace(
        tables,
        patch_rows=np.asarray(patch_rows, dtype=np.int32),
        patch_share=np.asarray(patch_share, dtype=np.float32),
        patch_reflectance=patch_reflectance.astype(np.float32),
        patch_texture_gradient=(TEXTURE_AMPLITUDE * patch_gradient).astype(np.float32),
    )


def _spectra(
    rows: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(row, band) reflectance of endmember fractions, and its ground → canopy texture gradient."""
    canopy = rows[:, [_GREEN, _SEN]].sum(axis=1)
    canopy_spectrum = _normalised_mix(rows[:, [_GREEN, _SEN]], ENDMEMBER_SPECTRA[[_GREEN, _SEN]])
    ground_spectrum = _normalised_mix(
        rows[:, [_W, _WET, _DRY]], ENDMEMBER_SPECTRA[[_W, _WET, _DRY]]
    )
    gradient = (canopy + 0.1)[:, None] * (canopy_spectrum - ground_spectrum)
    gradient = np.where((canopy < 1.0)[:, None], gradient, 0.0)
    return rows @ ENDMEMBER_SPECTRA, gradient


def _normalised_mix(
    fractions: npt.NDArray[np.float64], spectra: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Spectrum of the given parts rescaled to sum 1 (green canopy spectrum when all are 0)."""
    total = fractions.sum(axis=1, keepdims=True)
    weights = np.divide(fractions, total, out=np.zeros_like(fractions), where=total > 0)
    mix = weights @ spectra
    return np.asarray(np.where(total > 0, mix, spectra[0]), dtype=np.float64)
