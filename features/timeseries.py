"""The parcel × forecast-date feature table, built only from data available at each forecast date.

Validity rule (see DOMAIN.md, "Forecast validity"): the row for forecast date ``t`` (a local
calendar day, Asia/Ho_Chi_Minh) uses a scene only if it became available on or before ``t``
(``available_utc`` converted to the local date), a survey only if it was reported on or before
``t``, and weather only for days before ``t`` (a day's weather is known the next morning). Labels
look ahead on purpose (see :mod:`features.surveys`).

Imagery features use *clear* observations: ``n_valid_px ≥ min_clear_px`` and a finite NDVI,
acquired in the last ``imagery_lookback_days``. Ages are measured from the acquisition date (what
the image shows). Every window and radius below is a :class:`FeatureSettings` field (defaults in
brackets), documented with the reason for its default.

=================================  ======  ======================================================
feature                            unit    meaning
=================================  ======  ======================================================
``ndvi_last`` ``evi_last``         index   parcel mean of the latest clear observation
``ndre_last`` ``lswi_last``
``days_since_clear_obs``           days    ``t`` − acquisition date of that observation
``last_obs_valid_px``              pixels  its ``n_valid_px`` (how much to trust it)
``ndvi_change_<L>d``               index   ``ndvi_last`` − NDVI of the latest clear observation
                                           acquired in [t − 2L, t − L] (NaN if none, or if it is
                                           the latest observation itself), L in
                                           ``ndvi_change_lags_days`` [15, 30]
``days_since_flooding``            days    ``t`` − the latest flooding/transplanting signal
                                           (Xiao: LSWI + 0.05 ≥ EVI or NDVI, with NDVI < 0.3);
                                           NaN if none: the season-relative crop age
``ndvi_max_crop``                  index   highest NDVI since that signal (NaN without one)
``ndvi_drop_from_crop_max``        index   ``ndvi_max_crop`` − ``ndvi_last`` (senescence, damage)
``nbr_count``                      parcels other parcels with a centroid within
                                           ``neighbour_radius_m`` [500 m]
``nbr_days_since_flooding_std``    days    population std of their ``days_since_flooding`` (NaN
                                           with fewer than 2 known): sowing asynchrony
``nbr_flooded_share_<R>d``         0–1     share of those seen clearly in the last R days that
                                           show a flooding signal in that time (NaN if none
                                           seen), R = ``recent_flooding_days`` [30]
``days_into_season``               days    ``t`` − start of the calendar rice season
weather and survey features        …       see :mod:`features.weather`, :mod:`features.surveys`
=================================  ======  ======================================================

Data-quality columns say how much to trust a row rather than what drives the pest:
``days_since_clear_obs``, ``last_obs_valid_px``, ``nbr_count``, ``days_since_survey_<p>`` and
``history_surveys_<p>``. They stay in the table (the risk map publishes them) but
:func:`feature_columns` leaves them out of the model inputs unless asked: their link to the pest
runs through cloud seasons and survey sampling design, which change from one office to the next.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.sparse import csr_array
from scipy.spatial import cKDTree

from pestcast.core.errors import DataError, ParcelError
from pestcast.features.columns import require_columns
from pestcast.features.scene_stats import DEFAULT_PARCEL_INDICES
from pestcast.features.seasons import day_numbers, rice_season, season_start
from pestcast.features.settings import DEFAULT_FEATURE_SETTINGS, FeatureSettings
from pestcast.features.surveys import (
    SURVEY_QUALITY_FEATURES,
    FloatGrid,
    survey_history_features,
    survey_labels,
)
from pestcast.features.weather import weather_features

__all__ = [
    "KEY_COLUMNS",
    "LOCAL_TIMEZONE",
    "build_feature_table",
    "feature_columns",
    "imagery_features",
    "neighbour_asynchrony",
    "neighbour_matrix",
    "weekly_forecast_dates",
]

LOCAL_TIMEZONE = "Asia/Ho_Chi_Minh"
KEY_COLUMNS = ("parcel_id", "commune", "forecast_date", "season")
PARCEL_COLUMNS = ("parcel_id", "commune", "x", "y")
_INDICES = DEFAULT_PARCEL_INDICES
OBSERVATION_COLUMNS = (
    "parcel_id",
    "acquired_utc",
    "available_utc",
    "n_valid_px",
    *(f"{name}_mean" for name in _INDICES),
)
FLOODING_LSWI_MARGIN = 0.05
"""Xiao et al. (2005): a pixel is flooded when LSWI + 0.05 ≥ EVI or NDVI."""
FLOODING_MAX_NDVI = 0.3
QUALITY_FEATURES = ("days_since_clear_obs", "last_obs_valid_px", "nbr_count")
"""Imagery and neighbourhood data-quality columns (survey ones: SURVEY_QUALITY_FEATURES)."""
_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


def weekly_forecast_dates(
    first: dt.date | str | pd.Timestamp,
    last: dt.date | str | pd.Timestamp,
    *,
    weekday: int = 0,
) -> pd.DatetimeIndex:
    """Every ``weekday`` (0 = Monday … 6 = Sunday) from ``first`` to ``last``, both included."""
    if weekday not in range(7):
        raise DataError(f"weekday must be 0 (Monday) … 6 (Sunday), got {weekday}")
    start, end = pd.Timestamp(first).normalize(), pd.Timestamp(last).normalize()
    if start > end:
        raise DataError(
            f"the first forecast date {start:%Y-%m-%d} is after the last {end:%Y-%m-%d}"
        )
    dates = pd.date_range(start, end, freq=f"W-{_WEEKDAYS[weekday]}", name="forecast_date")
    return dates.as_unit("ns")


def is_quality_column(name: str) -> bool:
    """Whether ``name`` is a data-quality column (see the module docstring)."""
    return name in QUALITY_FEATURES or name.startswith(SURVEY_QUALITY_FEATURES)


def feature_columns(table: pd.DataFrame, *, include_quality: bool = False) -> list[str]:
    """Model inputs of a feature table: numeric columns that are neither keys nor labels,
    and not data-quality columns unless ``include_quality``."""
    return [
        str(column)
        for column in table.columns
        if column not in KEY_COLUMNS
        and not str(column).startswith("label_")
        and (include_quality or not is_quality_column(str(column)))
        and pd.api.types.is_numeric_dtype(table[column])
    ]


def build_feature_table(
    observations: pd.DataFrame,
    parcels: pd.DataFrame,
    weather: pd.DataFrame,
    surveys: pd.DataFrame,
    *,
    forecast_dates: Iterable[dt.date | str | pd.Timestamp] | pd.DatetimeIndex,
    pests: Sequence[str] = ("bph", "blast"),
    horizons: Sequence[int] = (7, 14),
    settings: FeatureSettings = DEFAULT_FEATURE_SETTINGS,
    timezone: str = LOCAL_TIMEZONE,
) -> pd.DataFrame:
    """One row per forecast date × parcel (dates ascending, parcels in input order).

    ``observations`` follow the observation contract (DESIGN.md), ``parcels`` has ``parcel_id``,
    ``commune`` and centroid ``x``/``y`` in metres of a projected CRS, ``weather`` and
    ``surveys`` follow the weather and survey table contracts (DESIGN.md). Columns:
    :data:`KEY_COLUMNS`, the features of this module's table and ``label_<pest>_h<h>``. Rows of
    other tables whose parcel is not in ``parcels`` are ignored: the parcel table defines the rows.
    """
    _check_options(pests, horizons)
    parcel_table = _checked_parcels(parcels)
    dates = _checked_forecast_dates(forecast_dates)
    parcel_ids = pd.Index(parcel_table["parcel_id"])
    neighbours = neighbour_matrix(
        parcel_table["x"], parcel_table["y"], radius_m=settings.neighbour_radius_m
    )
    grids = imagery_features(
        observations,
        parcel_ids=parcel_ids,
        forecast_dates=dates,
        settings=settings,
        timezone=timezone,
    )
    grids |= neighbour_asynchrony(
        grids["days_since_flooding"],
        grids["days_since_clear_obs"],
        neighbours,
        recent_days=settings.recent_flooding_days,
    )
    grids["days_into_season"] = _days_into_season(dates, len(parcel_ids))
    communes, commune_codes = np.unique(parcel_table["commune"].to_numpy(), return_inverse=True)
    history = survey_history_features(
        surveys,
        parcel_ids=parcel_ids,
        commune_codes=commune_codes,
        neighbours=neighbours,
        forecast_dates=dates,
        pests=pests,
        window_days=settings.survey_window_days,
    )
    labels = survey_labels(
        surveys, parcel_ids=parcel_ids, forecast_dates=dates, pests=pests, horizons=horizons
    )
    weather_rows = _weather_rows(
        weather, dates, communes, commune_codes, windows=settings.weather_windows_days
    )
    return _assemble(parcel_table, dates, [grids, weather_rows, history, labels])


def _check_options(pests: Sequence[str], horizons: Sequence[int]) -> None:
    if not pests or not horizons or min(horizons) < 1:
        raise DataError(f"need at least one pest and horizons ≥ 1 day; got {pests}, {horizons}")


def _checked_parcels(parcels: pd.DataFrame) -> pd.DataFrame:
    require_columns(parcels, PARCEL_COLUMNS, "parcel table")
    table = parcels.loc[:, list(PARCEL_COLUMNS)].reset_index(drop=True)
    if table["commune"].isna().any():
        first = table.loc[table["commune"].isna(), "parcel_id"].iloc[0]
        raise ParcelError(f"parcel {first} has no commune; every parcel needs one for weather")
    table["parcel_id"] = table["parcel_id"].astype(str)
    table["commune"] = table["commune"].astype(str)
    repeated = table.loc[table["parcel_id"].duplicated(), "parcel_id"]
    if len(repeated):
        raise ParcelError(f"parcel ids must be unique; repeated: {', '.join(repeated[:5])}")
    centroids = table[["x", "y"]].to_numpy(dtype=np.float64)
    unplaced = table.loc[~np.isfinite(centroids).all(axis=1), "parcel_id"]
    if len(unplaced):
        raise ParcelError(
            f"parcels {', '.join(unplaced[:5])} have no finite centroid x/y; repair their geometry"
        )
    return table


def _checked_forecast_dates(
    forecast_dates: Iterable[dt.date | str | pd.Timestamp] | pd.DatetimeIndex,
) -> pd.DatetimeIndex:
    dates = pd.DatetimeIndex([pd.Timestamp(date) for date in forecast_dates])
    if dates.empty:
        raise DataError("no forecast dates: widen the date range or check the input coverage")
    if dates.tz is not None:
        raise DataError("forecast dates are local calendar days: pass them timezone-naive")
    return dates.normalize().unique().sort_values().as_unit("ns")


# --- imagery ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ClearObservations:
    """Clear parcel observations as aligned arrays, sorted by acquisition day, then pixels."""

    parcel: npt.NDArray[np.intp]
    acquired: npt.NDArray[np.int64]
    """Local acquisition day (day number)."""
    known: npt.NDArray[np.int64]
    """Local day the scene became available (day number)."""
    n_valid_px: npt.NDArray[np.float64]
    ndvi: npt.NDArray[np.float64]
    evi: npt.NDArray[np.float64]
    ndre: npt.NDArray[np.float64]
    lswi: npt.NDArray[np.float64]
    flooded: npt.NDArray[np.bool_]

    def acquired_between(self, first_day: int, last_day: int) -> _ClearObservations:
        """The observations acquired from ``first_day`` to ``last_day`` (both included)."""
        start = int(np.searchsorted(self.acquired, first_day, side="left"))
        stop = int(np.searchsorted(self.acquired, last_day, side="right"))
        return _ClearObservations(
            **{field.name: getattr(self, field.name)[start:stop] for field in fields(self)}
        )


def imagery_features(
    observations: pd.DataFrame,
    *,
    parcel_ids: pd.Index,
    forecast_dates: pd.DatetimeIndex,
    settings: FeatureSettings = DEFAULT_FEATURE_SETTINGS,
    timezone: str = LOCAL_TIMEZONE,
) -> dict[str, FloatGrid]:
    """Imagery features of the module table, each of shape (forecast dates, parcels).

    ``timezone`` turns acquisition and availability times into the local calendar days that
    forecast dates are.
    """
    clear = _clear_observations(observations, parcel_ids, settings.min_clear_px, timezone)
    per_day = [
        _imagery_on(clear, int(day), len(parcel_ids), settings)
        for day in day_numbers(forecast_dates)
    ]
    return {name: np.stack([values[name] for values in per_day]) for name in per_day[0]}


def _clear_observations(
    observations: pd.DataFrame, parcel_ids: pd.Index, min_clear_px: int, timezone: str
) -> _ClearObservations:
    require_columns(observations, OBSERVATION_COLUMNS, "observation table")
    parcel = parcel_ids.get_indexer(pd.Index(observations["parcel_id"].astype(str)))
    keep = (
        (parcel >= 0)
        & (observations["n_valid_px"].to_numpy(np.float64) >= min_clear_px)
        & np.isfinite(observations["ndvi_mean"].to_numpy(np.float64))
    )
    rows = observations.loc[keep]
    acquired, known = _local_days(rows, timezone)
    values = {name: rows[f"{name}_mean"].to_numpy(np.float64) for name in _INDICES}
    n_valid_px = rows["n_valid_px"].to_numpy(np.float64)
    order = np.lexsort((n_valid_px, acquired))
    water = values["lswi"] + FLOODING_LSWI_MARGIN >= np.fmin(values["evi"], values["ndvi"])
    return _ClearObservations(
        parcel=parcel[keep][order].astype(np.intp),
        acquired=acquired[order],
        known=known[order],
        n_valid_px=n_valid_px[order],
        flooded=(water & (values["ndvi"] < FLOODING_MAX_NDVI))[order],
        **{name: array[order] for name, array in values.items()},
    )


def _local_days(
    rows: pd.DataFrame, timezone: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Local acquisition and availability days; naive timestamps are taken as UTC."""
    acquired = pd.to_datetime(rows["acquired_utc"], utc=True)
    available = pd.to_datetime(rows["available_utc"], utc=True)
    early = (available < acquired).to_numpy()
    if early.any():
        scene = rows["scene_id"].iloc[int(np.argmax(early))] if "scene_id" in rows else "?"
        raise DataError(
            f"{int(early.sum())} observations (e.g. scene {scene}) became available before they "
            "were acquired; check available_utc (the STAC item's `created`)"
        )
    acquired_day, available_day = (
        day_numbers(times.dt.tz_convert(timezone).dt.tz_localize(None))
        for times in (acquired, available)
    )
    return acquired_day, available_day


def _imagery_on(
    clear: _ClearObservations, day: int, n_parcels: int, settings: FeatureSettings
) -> dict[str, FloatGrid]:
    """Imagery features of every parcel on one forecast day (one vector per feature)."""
    window = clear.acquired_between(day - settings.imagery_lookback_days, day)
    known = window.known <= day
    latest = _latest_rows(window.parcel, known, n_parcels)
    features = {f"{name}_last": _take(getattr(window, name), latest) for name in _INDICES}
    features["days_since_clear_obs"] = day - _take(window.acquired, latest)
    features["last_obs_valid_px"] = _take(window.n_valid_px, latest)
    for lag in settings.ndvi_change_lags_days:
        earlier = known & (window.acquired <= day - lag) & (window.acquired >= day - 2 * lag)
        reference = _latest_rows(window.parcel, earlier, n_parcels)
        reference[reference == latest] = -1  # an observation cannot change against itself
        features[f"ndvi_change_{lag}d"] = features["ndvi_last"] - _take(window.ndvi, reference)
    features |= _crop_stage(window, known, day, n_parcels)
    features["ndvi_drop_from_crop_max"] = features["ndvi_max_crop"] - features["ndvi_last"]
    return features


def _crop_stage(
    window: _ClearObservations, known: npt.NDArray[np.bool_], day: int, n_parcels: int
) -> dict[str, FloatGrid]:
    """Days since the latest flooding signal, and the NDVI maximum since then."""
    flooding = _latest_rows(window.parcel, known & window.flooded, n_parcels)
    flooding_day = _take(window.acquired, flooding)
    in_crop = known & (window.acquired >= flooding_day[window.parcel])
    highest = np.full(n_parcels, -np.inf)
    np.maximum.at(highest, window.parcel[in_crop], window.ndvi[in_crop])
    return {
        "days_since_flooding": day - flooding_day,
        "ndvi_max_crop": np.where(np.isneginf(highest), np.nan, highest),
    }


def _latest_rows(
    parcel: npt.NDArray[np.intp], selected: npt.NDArray[np.bool_], n_parcels: int
) -> npt.NDArray[np.intp]:
    """Per parcel, the last selected row (rows are in time order); −1 where none."""
    latest = np.full(n_parcels, -1, dtype=np.intp)
    np.maximum.at(latest, parcel[selected], np.flatnonzero(selected))
    return latest


def _take(values: npt.NDArray[np.generic], rows: npt.NDArray[np.intp]) -> FloatGrid:
    """``values[rows]`` as floats, NaN where ``rows`` is −1."""
    taken = np.full(rows.shape, np.nan)
    found = rows >= 0
    taken[found] = values[rows[found]]
    return taken


# --- neighbours and calendar -----------------------------------------------------------------


def neighbour_matrix(x: npt.ArrayLike, y: npt.ArrayLike, *, radius_m: float) -> csr_array:
    """Symmetric sparse 0/1 matrix of parcel pairs whose centroids are ≤ ``radius_m`` apart.

    The diagonal is empty: a parcel is not its own neighbour.
    """
    points = np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    pairs = cKDTree(points).query_pairs(radius_m, output_type="ndarray")
    rows = np.concatenate([pairs[:, 0], pairs[:, 1]])
    columns = np.concatenate([pairs[:, 1], pairs[:, 0]])
    weights = np.ones(rows.size, dtype=np.float64)
    return csr_array((weights, (rows, columns)), shape=(len(points), len(points)))


def neighbour_asynchrony(
    days_since_flooding: FloatGrid,
    days_since_clear_obs: FloatGrid,
    neighbours: csr_array,
    *,
    recent_days: int,
) -> dict[str, FloatGrid]:
    """Neighbour count, std of their ``days_since_flooding`` and share flooded in the last
    ``recent_days``.

    The share counts only neighbours seen clearly in those days: a neighbour hidden by clouds is
    unknown, not "not flooded". Inputs and results have shape (forecast dates, parcels).
    """
    known = np.isfinite(days_since_flooding)
    values = np.where(known, days_since_flooding, 0.0)
    n_known = known.astype(np.float64) @ neighbours
    seen = (days_since_clear_obs <= recent_days).astype(np.float64) @ neighbours
    flooded = (known & (values <= recent_days)).astype(np.float64) @ neighbours
    count = np.asarray(neighbours.sum(axis=0), dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = (values @ neighbours) / n_known
        variance = np.clip((values**2 @ neighbours) / n_known - mean**2, 0.0, None)
        return {
            "nbr_count": np.repeat(count[np.newaxis, :], len(values), axis=0),
            "nbr_days_since_flooding_std": np.where(n_known >= 2, np.sqrt(variance), np.nan),
            f"nbr_flooded_share_{recent_days}d": np.where(seen > 0, flooded / seen, np.nan),
        }


def _days_into_season(dates: pd.DatetimeIndex, n_parcels: int) -> FloatGrid:
    starts = [season_start(label) for label in rice_season(dates)]
    days = (day_numbers(dates) - day_numbers(starts)).astype(np.float64)
    return np.repeat(days[:, np.newaxis], n_parcels, axis=1)


# --- weather and assembly --------------------------------------------------------------------


def _weather_rows(
    weather: pd.DataFrame,
    dates: pd.DatetimeIndex,
    communes: npt.NDArray[np.object_],
    commune_codes: npt.NDArray[np.intp],
    *,
    windows: Sequence[int],
) -> dict[str, FloatGrid]:
    """Commune weather features spread to parcels, each of shape (forecast dates, parcels)."""
    table = weather_features(weather, dates, windows=windows)
    absent = sorted(set(communes) - set(table["commune"]))
    if absent:
        raise DataError(
            f"no weather rows for commune(s) {', '.join(map(str, absent[:5]))}; "
            "add daily weather for every commune of the parcel table"
        )
    table = table.set_index(["forecast_date", "commune"])
    wanted = pd.MultiIndex.from_product([dates, communes], names=["forecast_date", "commune"])
    table = table.reindex(wanted)
    return {
        str(name): table[name]
        .to_numpy(np.float64)
        .reshape(len(dates), len(communes))[:, commune_codes]
        for name in table.columns
    }


def _assemble(
    parcels: pd.DataFrame, dates: pd.DatetimeIndex, groups: Sequence[dict[str, FloatGrid]]
) -> pd.DataFrame:
    """Keys, then every (forecast dates × parcels) grid flattened date by date, as float32."""
    n_parcels = len(parcels)
    columns: dict[str, npt.NDArray[np.generic]] = {
        "parcel_id": np.tile(parcels["parcel_id"].to_numpy(dtype=object), len(dates)),
        "commune": np.tile(parcels["commune"].to_numpy(dtype=object), len(dates)),
        "forecast_date": np.repeat(dates.to_numpy(), n_parcels),
        "season": np.repeat(rice_season(dates).to_numpy(dtype=object), n_parcels),
    }
    for group in groups:
        for name, grid in group.items():
            columns[name] = np.asarray(grid, dtype=np.float32).ravel()
    table = pd.DataFrame(columns)
    for key in ("parcel_id", "commune", "season"):
        table[key] = table[key].astype("str")
    return table
