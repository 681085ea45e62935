"""Damage seen in the imagery now: a parcel's canopy against its own trajectory and its neighbours.

Hopperburn and heavy blast lower a rice canopy's chlorophyll and leaf area in patches, which
multispectral imagery sees as a drop of the red-edge and NIR indices and a patchier canopy
(Ghobadifar et al. 2016, Precision Agriculture 17: BPH from multispectral satellite imagery;
the review "Remote sensing monitoring of rice diseases and pests from different data sources",
Agronomy 2023, 13(7): 1851). Early damage shows better as a change between two dates than in
one image (Huang et al. 2025, Front. Plant Sci. 16: 1680474, dual-temporal BPH indices). A drop
alone is ambiguous (a crop also ripens, and haze darkens a scene), so each parcel is compared
twice: with the straight line of its own recent observations, and with its neighbours of the
same crop age seen on the same day, which share the weather, the scene's haze and the stage.

Every value at forecast day ``t`` uses the clear observations known on ``t`` (the validity rule
of :mod:`features.timeseries`), acquired in the last ``imagery_lookback_days``; "latest" is the
parcel's latest of those.

=========================  =====  ==================================================================
feature                    unit   meaning (``<i>`` is ``ndre``, ``ndvi`` or ``evi``)
=========================  =====  ==================================================================
``<i>_vs_trend``           index  latest value − the value expected on that day from the least-
                                  squares line through the parcel's clear observations of the
                                  ``damage_trend_days`` [30] before it (since its latest flooding
                                  signal, i.e. of the same crop); NaN with fewer than 2 of them
``<i>_vs_nbr``             index  latest value − median of the same index of the neighbours
                                  (centroid within ``neighbour_radius_m``) seen clearly on the same
                                  day whose latest flooding signal lies within
                                  ``nbr_crop_age_tolerance_days`` [10] of the parcel's (same crop
                                  age); NaN without a flooding signal or with fewer than
                                  ``nbr_contrast_min_parcels`` [3] such neighbours
``ndre_std_last``          index  within-parcel standard deviation of NDRE in the latest clear
                                  observation (patchy damage widens it); NaN if the observation
                                  table has no ``ndre_std``
``ndre_std_change``        index  ``ndre_std_last`` − that of the previous clear observation of
                                  the same crop in the trend window
=========================  =====  ==================================================================

Negative ``*_vs_*`` values are a canopy below what was expected. Neighbours are compared on the
same day only: another day's scene has other haze and another crop stage; without same-day
neighbours the value is NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_array

from pestcast.features.clear_observations import (
    ClearObservations,
    FloatArray,
    latest_flooding_day,
    latest_rows,
    take,
)
from pestcast.features.settings import FeatureSettings

__all__ = [
    "DAMAGE_INDICES",
    "NeighbourPairs",
    "canopy_damage_on",
    "grouped_median",
    "neighbour_pairs",
]

DAMAGE_INDICES = ("ndre", "ndvi", "evi")
"""Indices compared with the trajectory and the neighbours: red edge first, then NIR–red."""


@dataclass(frozen=True)
class NeighbourPairs:
    """Every ordered (parcel, neighbour) pair of a neighbour matrix, grouped by parcel."""

    parcel: npt.NDArray[np.intp]
    neighbour: npt.NDArray[np.intp]
    n_parcels: int


def neighbour_pairs(neighbours: csr_array) -> NeighbourPairs:
    """The pairs of a (parcels × parcels) 0/1 sparse neighbour matrix."""
    matrix = csr_array(neighbours)
    counts = np.diff(matrix.indptr)
    parcel = np.repeat(np.arange(matrix.shape[0], dtype=np.intp), counts)
    return NeighbourPairs(parcel, matrix.indices.astype(np.intp), int(matrix.shape[0]))


def canopy_damage_on(
    window: ClearObservations, day: int, pairs: NeighbourPairs, settings: FeatureSettings
) -> dict[str, FloatArray]:
    """The module's features of every parcel on forecast ``day`` (one vector per feature).

    ``window`` holds the clear observations acquired in the imagery lookback of ``day``.
    """
    n_parcels = pairs.n_parcels
    known = window.known <= day
    latest = latest_rows(window.parcel, known, n_parcels)
    flooding_day = latest_flooding_day(window, known, n_parcels)
    latest_day = take(window.acquired, latest)
    prior = _same_crop_before_latest(window, known, latest_day, flooding_day, settings)
    matches = _same_day_same_age(
        window, known, latest, flooding_day, pairs=pairs, settings=settings
    )
    features: dict[str, FloatArray] = {}
    for name in DAMAGE_INDICES:
        values = getattr(window, name)
        last = take(values, latest)
        expected = _trend_value(window, values, prior, latest_day, n_parcels)
        features[f"{name}_vs_trend"] = last - expected
        median = _neighbour_median(values, matches, n_parcels, settings.nbr_contrast_min_parcels)
        features[f"{name}_vs_nbr"] = last - median
    previous = latest_rows(window.parcel, prior, n_parcels)
    features["ndre_std_last"] = take(window.ndre_std, latest)
    features["ndre_std_change"] = features["ndre_std_last"] - take(window.ndre_std, previous)
    return features


def _same_crop_before_latest(
    window: ClearObservations,
    known: npt.NDArray[np.bool_],
    latest_day: FloatArray,
    flooding_day: FloatArray,
    settings: FeatureSettings,
) -> npt.NDArray[np.bool_]:
    """Known rows in the trend window before each parcel's latest one, not before its crop."""
    acquired = window.acquired.astype(np.float64)
    last = latest_day[window.parcel]
    flooded = flooding_day[window.parcel]
    before_crop = acquired < flooded  # False where the crop start is unknown (NaN)
    return (
        known & (acquired < last) & (acquired >= last - settings.damage_trend_days) & ~before_crop
    )


def _trend_value(
    window: ClearObservations,
    values: FloatArray,
    rows: npt.NDArray[np.bool_],
    latest_day: FloatArray,
    n_parcels: int,
) -> FloatArray:
    """Per parcel, the least-squares line through ``rows`` evaluated on its latest day."""
    use = rows & np.isfinite(values)
    parcel = window.parcel[use]
    x = window.acquired[use] - latest_day[parcel]  # days before the latest observation (< 0)
    y = values[use]

    def total(weights: FloatArray) -> FloatArray:
        return np.bincount(parcel, weights=weights, minlength=n_parcels).astype(np.float64)

    n, sx, sy = total(np.ones_like(x)), total(x), total(y)
    sxx, sxy = total(x * x), total(x * y)
    spread = n * sxx - sx**2
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(spread > 0, (n * sxy - sx * sy) / spread, np.nan)
        return np.where(n >= 2, (sy - slope * sx) / n, np.nan)  # the line at x = 0


@dataclass(frozen=True)
class _Matches:
    """(parcel, neighbour row) pairs: a same-age neighbour's observation of the parcel's day."""

    parcel: npt.NDArray[np.intp]
    row: npt.NDArray[np.intp]


def _same_day_same_age(
    window: ClearObservations,
    known: npt.NDArray[np.bool_],
    latest: npt.NDArray[np.intp],
    flooding_day: FloatArray,
    *,
    pairs: NeighbourPairs,
    settings: FeatureSettings,
) -> _Matches:
    """Each parcel's neighbours of the same crop age with a known clear observation on the
    parcel's latest day (linear in the number of neighbour pairs)."""
    rows = np.flatnonzero(known)
    keys = _day_keys(window.parcel[rows], window.acquired[rows])
    order = np.argsort(keys, kind="stable")  # among equal keys the last has the most pixels
    keys, rows = keys[order], rows[order]
    day = take(window.acquired, latest)[pairs.parcel]
    own_flooding, their_flooding = flooding_day[pairs.parcel], flooding_day[pairs.neighbour]
    same_age = np.abs(own_flooding - their_flooding) <= settings.nbr_crop_age_tolerance_days
    candidate = np.flatnonzero(same_age & (their_flooding <= day))  # NaN never compares true
    wanted = _day_keys(pairs.neighbour[candidate], day[candidate].astype(np.int64))
    found = np.searchsorted(keys, wanted, side="right") - 1
    hit = found >= 0
    hit[hit] = keys[found[hit]] == wanted[hit]
    return _Matches(pairs.parcel[candidate[hit]], rows[found[hit]])


def _day_keys(parcel: npt.NDArray[np.intp], day: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """One sortable integer per (parcel, day)."""
    return parcel.astype(np.int64) * (1 << 32) + day.astype(np.int64)


def _neighbour_median(
    values: FloatArray, matches: _Matches, n_parcels: int, min_parcels: int
) -> FloatArray:
    """Per parcel, the median of the matched neighbours' finite values (NaN if too few)."""
    taken = values[matches.row]
    finite = np.isfinite(taken)
    return grouped_median(matches.parcel[finite], taken[finite], n_parcels, min_parcels)


def grouped_median(
    groups: npt.NDArray[np.intp], values: FloatArray, n_groups: int, min_count: int = 1
) -> FloatArray:
    """Median of ``values`` per group ``0 … n_groups − 1``; NaN with fewer than ``min_count``."""
    order = np.lexsort((values, groups))
    ordered = values[order]
    counts = np.bincount(groups, minlength=n_groups)
    starts = np.cumsum(counts) - counts
    enough = (counts >= max(min_count, 1)) & (counts > 0)
    median = np.full(n_groups, np.nan)
    low = starts[enough] + (counts[enough] - 1) // 2
    high = starts[enough] + counts[enough] // 2
    median[enough] = (ordered[low] + ordered[high]) / 2
    return median
