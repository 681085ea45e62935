"""Pest survey history features and forecast labels per parcel and forecast date.

Features at forecast date ``t`` see a survey only once it is reported (``report_date ≤ t``);
labels look ahead on ``survey_date`` because they describe what the forecast must predict.

===============================  ======  =========================================================
feature (per pest ``p``)         unit    meaning
===============================  ======  =========================================================
``last_severity_<p>``            0–3     severity of the parcel's latest reported survey (none 0,
                                         light 1, medium 2, heavy 3); NaN if never surveyed
``days_since_survey_<p>``        days    ``t`` − that survey's ``survey_date``
``nbr_infested_share_<p>``       0–1     share of the other parcels within the neighbour radius,
                                         surveyed in the recent window, found at ≥ light
``commune_infested_share_<p>``   0–1     the same among the other parcels of the commune
``region_infested_share_<p>``    0–1     the same among all parcels surveyed in the window
``region_infested_trend_<p>``    0–1     that share minus the share of the window before
``history_infested_rate_<p>``    0–1     share of all the parcel's reported surveys at ≥ light
                                         (a parcel's standing susceptibility); NaN if none
``history_surveys_<p>``          count   number of the parcel's reported surveys
===============================  ======  =========================================================

"Surveyed in the recent window" means ``t − w < survey_date`` and ``report_date ≤ t``, with
``w`` = ``window_days`` (``FeatureSettings.survey_window_days``, 21 by default). Shares are NaN when
no such parcel exists. ``days_since_survey_<p>`` and ``history_surveys_<p>`` are data-quality
columns (:data:`SURVEY_QUALITY_FEATURES`).

Labels ``label_<p>_h<h>`` are 1.0 if any survey of the parcel with ``t < survey_date ≤ t + h``
found ≥ light, 0.0 if it was surveyed then and nothing was found, NaN if it was not surveyed in
that window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from pestcast.core.errors import DataError
from pestcast.features.columns import require_columns
from pestcast.features.seasons import day_numbers

__all__ = [
    "INFESTED_LEVEL",
    "SEVERITY_LEVELS",
    "SURVEY_COLUMNS",
    "SURVEY_QUALITY_FEATURES",
    "PestSurveys",
    "pest_surveys",
    "severity_levels",
    "survey_history_features",
    "survey_labels",
]

SURVEY_COLUMNS = ("parcel_id", "survey_date", "report_date", "pest", "severity")

SEVERITY_LEVELS = {"none": 0, "light": 1, "medium": 2, "heavy": 3}
"""Survey severity classes (QCVN 01-166:2014 light / medium / heavy) as levels 0–3."""

INFESTED_LEVEL = SEVERITY_LEVELS["light"]
"""A survey at this level or above found the parcel infested."""

SURVEY_QUALITY_FEATURES = ("days_since_survey_", "history_surveys_")
"""Name prefixes of the survey columns that describe sampling, not the pest."""

FloatGrid = npt.NDArray[np.float64]
"""Values of shape (forecast dates, parcels)."""


@dataclass(frozen=True)
class PestSurveys:
    """One pest's surveys of known parcels, sorted so the last row is the latest survey."""

    parcel: npt.NDArray[np.intp]
    """Position of the parcel in the parcel table."""
    survey_day: npt.NDArray[np.int64]
    report_day: npt.NDArray[np.int64]
    level: npt.NDArray[np.float64]
    """Severity level 0–3."""


def severity_levels(severity: pd.Series) -> npt.NDArray[np.float64]:
    """Severity classes (``none``/``light``/``medium``/``heavy`` or levels 0–3) as floats 0–3."""
    if pd.api.types.is_numeric_dtype(severity):
        levels = severity.to_numpy(dtype=np.float64)
    else:
        levels = severity.astype(str).str.lower().map(SEVERITY_LEVELS).to_numpy(dtype=np.float64)
    bad = ~np.isin(levels, list(SEVERITY_LEVELS.values()))
    if bad.any():
        raise DataError(
            f"survey severity values {sorted(set(severity[bad].astype(str)))[:5]} are not one of "
            f"{', '.join(SEVERITY_LEVELS)} (or 0–3); fix the survey table"
        )
    return levels


def survey_history_features(
    surveys: pd.DataFrame,
    *,
    parcel_ids: pd.Index,
    commune_codes: npt.NDArray[np.intp],
    neighbours: Any,
    forecast_dates: pd.DatetimeIndex,
    pests: Sequence[str],
    window_days: int,
    region_parcel_ids: pd.Index | None = None,
) -> dict[str, FloatGrid]:
    """Survey features of the module table, each of shape (forecast dates, parcels).

    ``commune_codes`` gives each parcel's commune as an integer; ``neighbours`` is a symmetric
    sparse (parcels × parcels) 0/1 matrix with an empty diagonal; ``window_days`` is the recent
    survey window. ``region_parcel_ids``: the whole region when ``parcel_ids`` is a block of it
    (the region-wide shares count the surveys of all its parcels; default ``parcel_ids``).
    """
    if window_days < 1:
        raise DataError(f"the recent survey window must be ≥ 1 day, got {window_days}")
    days = day_numbers(forecast_dates)
    features: dict[str, FloatGrid] = {}
    for pest in pests:
        records = pest_surveys(surveys, parcel_ids, pest)
        last_level, days_since, surveyed, infested = _history_grids(
            records, days, len(parcel_ids), window_days
        )
        features[f"last_severity_{pest}"] = last_level
        features[f"days_since_survey_{pest}"] = days_since
        features[f"nbr_infested_share_{pest}"] = _share(
            infested @ neighbours, surveyed @ neighbours
        )
        in_commune = _commune_totals(surveyed, commune_codes)
        features[f"commune_infested_share_{pest}"] = _share(
            _commune_totals(infested, commune_codes) - infested, in_commune - surveyed
        )
        region = (
            records if region_parcel_ids is None else pest_surveys(surveys, region_parcel_ids, pest)
        )
        features.update(_regional_features(region, days, len(parcel_ids), pest, window_days))
        features.update(_parcel_history(records, days, len(parcel_ids), pest))
    return features


def _regional_features(
    records: PestSurveys, days: npt.NDArray[np.int64], n_parcels: int, pest: str, window_days: int
) -> dict[str, FloatGrid]:
    """Region-wide infested share of the recent window and its change: the wave's phase."""
    now, before = np.full(len(days), np.nan), np.full(len(days), np.nan)
    infested = records.level >= INFESTED_LEVEL
    for row, day in enumerate(days):
        known = records.report_day <= day
        recent = known & (records.survey_day > day - window_days)
        earlier = known & ~recent & (records.survey_day > day - 2 * window_days)
        now[row] = infested[recent].mean() if recent.any() else np.nan
        before[row] = infested[earlier].mean() if earlier.any() else np.nan
    shape = (len(days), n_parcels)
    return {
        f"region_infested_share_{pest}": np.broadcast_to(now[:, None], shape),
        f"region_infested_trend_{pest}": np.broadcast_to((now - before)[:, None], shape),
    }


def _parcel_history(
    records: PestSurveys, days: npt.NDArray[np.int64], n_parcels: int, pest: str
) -> dict[str, FloatGrid]:
    """Each parcel's share of reported surveys at ≥ light, over its whole known history."""
    shape = (len(days), n_parcels)
    positives, counts = np.zeros(shape), np.zeros(shape)
    infested = (records.level >= INFESTED_LEVEL).astype(np.float64)
    for row, day in enumerate(days):
        known = records.report_day <= day
        counts[row] = np.bincount(records.parcel[known], minlength=n_parcels)
        positives[row] = np.bincount(
            records.parcel[known], weights=infested[known], minlength=n_parcels
        )
    return {
        f"history_infested_rate_{pest}": _share(positives, counts),
        f"history_surveys_{pest}": counts,
    }


def survey_labels(
    surveys: pd.DataFrame,
    *,
    parcel_ids: pd.Index,
    forecast_dates: pd.DatetimeIndex,
    pests: Sequence[str],
    horizons: Sequence[int],
) -> dict[str, FloatGrid]:
    """Labels ``label_<pest>_h<h>`` of shape (forecast dates, parcels): 1.0, 0.0 or NaN.

    A window that reaches past the last survey day of the table is cut short (its later days
    are unobserved, not free of the pest), so its labels are NaN.
    """
    days = day_numbers(forecast_dates)
    n_parcels = len(parcel_ids)
    last_survey_day = int(day_numbers(surveys["survey_date"]).max()) if len(surveys) else -1
    labels: dict[str, FloatGrid] = {}
    for pest in pests:
        records = pest_surveys(surveys, parcel_ids, pest)
        for horizon in horizons:
            grid = np.full((len(days), n_parcels), np.nan)
            for row, day in enumerate(days):
                if day + horizon > last_survey_day:
                    continue
                ahead = (records.survey_day > day) & (records.survey_day <= day + horizon)
                surveyed, infested = _surveyed_and_infested(records, ahead, n_parcels)
                grid[row] = np.where(surveyed, infested, np.nan)
            labels[f"label_{pest}_h{horizon}"] = grid
    return labels


def pest_surveys(surveys: pd.DataFrame, parcel_ids: pd.Index, pest: str) -> PestSurveys:
    """One pest's surveys of the parcels in ``parcel_ids``, latest last (severity breaks ties)."""
    require_columns(surveys, SURVEY_COLUMNS, "survey table")
    rows = surveys.loc[surveys["pest"] == pest]
    parcel = parcel_ids.get_indexer(pd.Index(rows["parcel_id"].astype(str)))
    known = parcel >= 0  # surveys of parcels outside the table have no place in it
    rows = rows.loc[known]
    survey_day = day_numbers(rows["survey_date"])
    level = severity_levels(rows["severity"])
    order = np.lexsort((level, survey_day))
    return PestSurveys(
        parcel=parcel[known][order].astype(np.intp),
        survey_day=survey_day[order],
        report_day=day_numbers(rows["report_date"])[order],
        level=level[order],
    )


def _history_grids(
    records: PestSurveys, days: npt.NDArray[np.int64], n_parcels: int, window_days: int
) -> tuple[FloatGrid, FloatGrid, FloatGrid, FloatGrid]:
    """Latest known level, days since it, and recently surveyed / infested flags (0/1)."""
    shape = (len(days), n_parcels)
    last_level, days_since = np.full(shape, np.nan), np.full(shape, np.nan)
    surveyed, infested = np.zeros(shape), np.zeros(shape)
    order = np.arange(len(records.level))
    for row, day in enumerate(days):
        known = records.report_day <= day
        latest = np.full(n_parcels, -1)
        np.maximum.at(latest, records.parcel[known], order[known])
        found = latest >= 0
        last_level[row, found] = records.level[latest[found]]
        days_since[row, found] = day - records.survey_day[latest[found]]
        recent = known & (records.survey_day > day - window_days)
        surveyed[row], infested[row] = _surveyed_and_infested(records, recent, n_parcels)
    return last_level, days_since, surveyed, infested


def _surveyed_and_infested(
    records: PestSurveys, selected: npt.NDArray[np.bool_], n_parcels: int
) -> tuple[FloatGrid, FloatGrid]:
    """Per parcel: any selected survey (0/1), and any selected survey at ≥ light (0/1)."""
    parcels = records.parcel[selected]
    found = records.level[selected] >= INFESTED_LEVEL
    surveyed = np.bincount(parcels, minlength=n_parcels) > 0
    infested = np.bincount(parcels[found], minlength=n_parcels) > 0
    return surveyed.astype(np.float64), infested.astype(np.float64)


def _commune_totals(flags: FloatGrid, commune_codes: npt.NDArray[np.intp]) -> FloatGrid:
    """For each parcel, the sum of ``flags`` over all parcels of its commune (itself included)."""
    n_communes = int(commune_codes.max()) + 1 if commune_codes.size else 0
    totals = np.zeros((flags.shape[0], n_communes))
    np.add.at(totals.T, commune_codes, flags.T)
    return totals[:, commune_codes]


def _share(part: FloatGrid, whole: FloatGrid) -> FloatGrid:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(whole > 0, np.asarray(part) / np.asarray(whole), np.nan)
