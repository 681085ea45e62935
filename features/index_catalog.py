"""Which indices exist, the bands each needs, and which ones every observation table holds.

Plain Python (no numpy, no xarray), so that checking a configuration stays fast; the formulas are
in :mod:`pestcast.features.indices`.
"""

from __future__ import annotations

from collections.abc import Iterable

from pestcast.core.errors import DataError

__all__ = ["DEFAULT_PARCEL_INDICES", "INDEX_BANDS", "INDEX_NAMES", "validate_parcel_indices"]

INDEX_BANDS: dict[str, tuple[str, ...]] = {
    "ndvi": ("nir", "red"),
    "evi": ("nir", "red", "blue"),
    "ndre": ("nir", "rededge1"),
    "lswi": ("nir08", "swir16"),
    "savi": ("nir", "red"),
    "msavi": ("nir", "red"),
    "cig": ("nir", "green"),
    "cire": ("nir", "rededge1"),
    "ndwi": ("green", "nir"),
}
"""Logical band names (Earth Search common names) each index needs, in argument order."""

INDEX_NAMES = tuple(INDEX_BANDS)

DEFAULT_PARCEL_INDICES: tuple[str, ...] = ("ndvi", "evi", "ndre", "lswi")
"""Indices in every observation table: crop vigour, chlorophyll (red edge) and paddy water.

The feature table reads their parcel means (``features.clear_observations.OBSERVATION_COLUMNS``),
so a configuration may add indices to these but never drop one."""
_OTHER_NAMES = {"gci": "cig", "ndrei": "ndre", "ndmi": "lswi"}
"""Names in common use for indices the catalogue (and so this package) calls otherwise."""


def validate_parcel_indices(indices: Iterable[str]) -> tuple[str, ...]:
    """``indices`` checked and put in :data:`INDEX_NAMES` order, so a reordered list is the same.

    Refuses unknown or repeated names and a list without every :data:`DEFAULT_PARCEL_INDICES`.
    """
    chosen = list(indices)
    unknown = [name for name in chosen if name not in INDEX_BANDS]
    if unknown:
        hints = [f"{n!r} is {_OTHER_NAMES[n]!r} here" for n in unknown if n in _OTHER_NAMES]
        raise DataError(
            f"unknown index name(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(INDEX_NAMES)}" + "".join(f" ({hint})" for hint in hints)
        )
    repeated = sorted({name for name in chosen if chosen.count(name) > 1})
    if repeated:
        raise DataError(f"index name(s) {', '.join(repeated)} listed more than once")
    missing = [name for name in DEFAULT_PARCEL_INDICES if name not in chosen]
    if missing:
        raise DataError(
            f"indices {', '.join(missing)} are missing: the feature table is built from the "
            f"parcel means of {', '.join(DEFAULT_PARCEL_INDICES)}, so keep them all and add others"
        )
    return tuple(name for name in INDEX_NAMES if name in chosen)
