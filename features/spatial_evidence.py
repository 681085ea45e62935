"""What the plant-protection office knows around a parcel now: survey findings near it, smoothed
over distance and age, and the light traps' recent catches.

Surveys include the officers' own field checks (the flows merge them into the survey table).
Validity (see :mod:`features.timeseries`): at forecast day ``t`` a survey counts once reported
(``report_date ≤ t``) and a trap night once read, on the morning after it (``date < t``, as for
weather).

==============================  =======  ===========================================================
feature                         unit     meaning
==============================  =======  ===========================================================
``survey_field_<p>``            0–1      kernel-weighted share of infested findings (≥ light) of
                                         pest ``p`` around the parcel, the parcel itself included:
                                         Σ wᵢ·infestedᵢ / Σ wᵢ over the reported surveys with
                                         ``t − survey_window_days < survey_date ≤ t``, where
                                         wᵢ = exp(−d²/2h²) · 2^(−age/H), d the centroid distance
                                         (cut at 3h), h = ``survey_kernel_bandwidth_m`` [250 m],
                                         age = ``t − survey_date``, H = ``survey_half_life_days``
                                         [7]; NaN if Σ wᵢ = 0
``survey_field_weight_<p>``     surveys  Σ wᵢ: how many full-weight surveys the field rests on
                                         (a data-quality column: it follows the survey design)
``trap_bph_log_<W>d``           log      ln(1 + mean BPH adults per trap-night) over the nights
                                         ``t − W … t − 1``, W = ``light_trap_window_days`` [7], at
                                         the traps of the parcel's district, or at all traps of
                                         the table when its district has no count in those nights
                                         (BPH flights are regional); NaN without a light-trap table
``trap_bph_log_trend_<W>d``     log      that value minus the same of the W nights before (the
                                         wave rising or falling); district and fallback as above
==============================  =======  ===========================================================

The kernel matrix is sparse (pairs within 3h, found with a k-d tree), so the work grows with the
number of parcels times their neighbours, never with its square.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.sparse import csr_array
from scipy.spatial import cKDTree

from pestcast.features.clear_observations import FloatArray
from pestcast.features.columns import require_columns
from pestcast.features.seasons import day_numbers
from pestcast.features.surveys import INFESTED_LEVEL, pest_surveys

__all__ = [
    "KERNEL_CUTOFF_BANDWIDTHS",
    "SPATIAL_QUALITY_FEATURES",
    "gaussian_kernel_matrix",
    "light_trap_features",
    "survey_field_features",
    "surveyed_parcels",
]

KERNEL_CUTOFF_BANDWIDTHS = 3.0
"""Kernel weights stop at this many bandwidths (weight exp(−4.5) ≈ 1 %)."""
SPATIAL_QUALITY_FEATURES = ("survey_field_weight_",)
"""Name prefixes of this module's data-quality columns."""
_TRAP_COLUMNS = ("district", "date", "bph_count")


def gaussian_kernel_matrix(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    bandwidth_m: float,
    rows: npt.ArrayLike | None = None,
) -> csr_array:
    """Sparse matrix of exp(−d²/2h²) between parcel centroids ``d`` ≤ 3h apart.

    Row ``i`` holds the weights from parcel ``rows[i]`` (default: every parcel, a symmetric
    matrix) to every parcel; a parcel's weight to itself is 1 (its own surveys count fully).
    Only the parcels with surveys need a row: in a province most have none this week, and the
    full matrix holds ~70 neighbours per parcel (3.5 GB at 500,000 parcels).
    """
    points = np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    sources = np.arange(len(points)) if rows is None else np.asarray(rows, dtype=np.intp)
    cutoff = KERNEL_CUTOFF_BANDWIDTHS * bandwidth_m
    found = cKDTree(points).query_ball_point(points[sources], cutoff, return_sorted=True)
    counts = np.fromiter((len(near) for near in found), dtype=np.intp, count=len(sources))
    columns = np.concatenate(
        [np.asarray(near, dtype=np.intp) for near in found] or [np.empty(0, np.intp)]
    )
    source_of = np.repeat(sources, counts)
    distance = np.hypot(*(points[source_of] - points[columns]).T)
    weights = np.exp(-0.5 * (distance / bandwidth_m) ** 2)
    row_starts = np.concatenate([[0], np.cumsum(counts)])
    return csr_array((weights, columns, row_starts), shape=(len(sources), len(points)))


def surveyed_parcels(
    surveys: pd.DataFrame,
    parcel_ids: pd.Index,
    *,
    pests: Sequence[str],
    forecast_dates: pd.DatetimeIndex,
    window_days: int,
) -> npt.NDArray[np.intp]:
    """The parcels (positions in ``parcel_ids``) with a survey of ``pests`` that a forecast date
    can count: surveyed at most ``window_days`` before the first date and not after the last."""
    days = day_numbers(forecast_dates)
    found = []
    for pest in pests:
        records = pest_surveys(surveys, parcel_ids, pest)
        recent = (records.survey_day > days.min() - window_days) & (
            records.survey_day <= days.max()
        )
        found.append(records.parcel[recent])
    return np.unique(np.concatenate(found or [np.empty(0, np.intp)])).astype(np.intp)


def survey_field_features(
    surveys: pd.DataFrame,
    *,
    parcel_ids: pd.Index,
    kernel: csr_array,
    forecast_dates: pd.DatetimeIndex,
    pests: Sequence[str],
    window_days: int,
    half_life_days: float,
    kernel_rows: npt.NDArray[np.intp] | None = None,
) -> dict[str, FloatArray]:
    """``survey_field_<p>`` and ``survey_field_weight_<p>``, each (forecast dates, parcels).

    ``kernel`` is :func:`gaussian_kernel_matrix` of the parcels (``parcel_ids`` order), with the
    rows of the parcels ``kernel_rows`` (default: all); surveys of other parcels are not counted,
    so give a row to every parcel surveyed in the window (:func:`surveyed_parcels`).
    """
    days = day_numbers(forecast_dates)
    features: dict[str, FloatArray] = {}
    for pest in pests:
        records = pest_surveys(surveys, parcel_ids, pest)
        infested = (records.level >= INFESTED_LEVEL).astype(np.float64)
        evidence = np.zeros((len(days), len(parcel_ids)))
        found = np.zeros_like(evidence)
        for row, day in enumerate(days):
            age = (day - records.survey_day).astype(np.float64)
            recent = (records.report_day <= day) & (age >= 0) & (age < window_days)
            decay = np.where(recent, 0.5 ** (np.clip(age, 0.0, None) / half_life_days), 0.0)
            evidence[row] = np.bincount(records.parcel, decay, minlength=len(parcel_ids))
            found[row] = np.bincount(records.parcel, decay * infested, minlength=len(parcel_ids))
        if kernel_rows is not None:
            evidence, found = evidence[:, kernel_rows], found[:, kernel_rows]
        weight, infested_weight = evidence @ kernel, found @ kernel
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(weight > 0, infested_weight / weight, np.nan)
        features[f"survey_field_{pest}"] = share
        features[f"survey_field_weight_{pest}"] = weight
    return features


def light_trap_features(
    traps: pd.DataFrame | None,
    *,
    parcel_districts: Iterable[object],
    forecast_dates: pd.DatetimeIndex,
    window_days: int,
) -> dict[str, FloatArray]:
    """``trap_bph_log_<W>d`` and ``trap_bph_log_trend_<W>d``, each (forecast dates, parcels).

    ``traps`` has ``district``, ``date`` (the night) and ``bph_count`` (adults caught), one row
    per station and night (``features.sowing.LIGHT_TRAP_COLUMNS``); ``parcel_districts`` names
    each parcel's district (None or NaN: none known, all traps are used).
    """
    districts = pd.Series(list(parcel_districts), dtype=object).astype("string")
    shape = (len(forecast_dates), len(districts))
    names = (f"trap_bph_log_{window_days}d", f"trap_bph_log_trend_{window_days}d")
    if traps is None:
        return {name: np.full(shape, np.nan) for name in names}
    table = _trap_nights(traps)
    days = day_numbers(forecast_dates)
    everywhere = _log_catches(table, days, window_days)
    grids = [np.repeat(values[:, np.newaxis], shape[1], axis=1) for values in everywhere]
    for district, rows in table.groupby("district", sort=True):
        here = districts.eq(str(district)).fillna(False).to_numpy(dtype=bool)
        for grid, local, regional in zip(
            grids, _log_catches(rows, days, window_days), everywhere, strict=True
        ):
            grid[:, here] = np.where(np.isfinite(local), local, regional)[:, np.newaxis]
    return dict(zip(names, grids, strict=True))


def _trap_nights(traps: pd.DataFrame) -> pd.DataFrame:
    """District, night (day number) and count of every night a trap ran."""
    require_columns(traps, _TRAP_COLUMNS, "light-trap table")
    count = pd.to_numeric(traps["bph_count"], errors="coerce").to_numpy(np.float64)
    ran = np.isfinite(count)  # a blank count is a night the trap did not run
    return pd.DataFrame(
        {
            "district": traps["district"].astype("string").to_numpy()[ran],
            "day": day_numbers(traps["date"])[ran],
            "count": count[ran],
        }
    )


def _log_catches(
    rows: pd.DataFrame, days: npt.NDArray[np.int64], window_days: int
) -> tuple[FloatArray, FloatArray]:
    """ln(1 + mean catch per trap-night) of the nights ``[t − W, t − 1]`` and its change from
    the ``W`` nights before, per forecast day (NaN without a count)."""
    now = _mean_catch(rows, days - window_days, days - 1)
    before = _mean_catch(rows, days - 2 * window_days, days - window_days - 1)
    return np.log1p(now), np.log1p(now) - np.log1p(before)


def _mean_catch(
    rows: pd.DataFrame, first: npt.NDArray[np.int64], last: npt.NDArray[np.int64]
) -> FloatArray:
    """Mean count per trap-night over the nights ``first … last`` (inclusive), per pair."""
    night = rows["day"].to_numpy(np.int64)
    order = np.argsort(night, kind="stable")
    night = night[order]
    total = np.concatenate([[0.0], np.cumsum(rows["count"].to_numpy(np.float64)[order])])
    start = np.searchsorted(night, first, side="left")
    stop = np.searchsorted(night, last, side="right")
    nights = (stop - start).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(nights > 0, (total[stop] - total[start]) / nights, np.nan)
