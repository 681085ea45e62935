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
``<i>_vs_trend``, ``<i>_vs_nbr``   index   damage seen now, ``<i>`` in ndre, ndvi, evi: the
                                           latest clear value minus the parcel's own recent
                                           trend [``damage_trend_days`` 30], and minus the
                                           median of its same-age neighbours seen the same day
                                           [``nbr_crop_age_tolerance_days`` 10,
                                           ``nbr_contrast_min_parcels`` 3]; see
                                           :mod:`features.canopy_damage`
``ndre_std_last``                  index   within-parcel NDRE spread of the latest clear
``ndre_std_change``                        observation, and its change since the previous one
``in_crop``                        1 / 0   the parcel carries a crop (unknown → 1): flooding
                                           within ``crop_duration_days`` [120], not harvested,
                                           established within ``crop_establishment_days``
                                           [60], or green now; see :mod:`features.crop_mask`
``survey_field_<p>``               0–1     survey findings around the parcel weighted by
``survey_field_weight_<p>``        surveys distance [``survey_kernel_bandwidth_m`` 250 m] and
                                           age [``survey_half_life_days`` 7], and the weight
                                           they rest on; see :mod:`features.spatial_evidence`
``trap_bph_log_<W>d``              log     ln(1 + BPH per trap-night) of the last W nights at
``trap_bph_log_trend_<W>d``                the district's traps and its change, W =
                                           ``light_trap_window_days`` [7]; NaN without traps
``fcst_rain_sum_<W>d``             mm      forecast weather over the valid days t + 1 … t + W of
``fcst_tmean_mean_<W>d``           °C      the latest forecast run issued on or before t (never
``fcst_rh_mean_<W>d``              %       the realised weather), W = ``forecast_weather_``
``fcst_wet_days_<W>d``             days    ``windows_days`` [7, 14]; NaN without forecasts; see
``fcst_issue_age_days``            days    :mod:`features.weather_forecast`
``vv_db_last`` ``vh_db_last``      dB      Sentinel-1 parcel gamma0 (mean of linear power) of
``vh_vv_db_last``                          the latest radar scene available at t, and VH − VV;
``vh_db_change_<L>d``              dB      VH change against the scene L–2L days before it,
``days_since_sar_obs``             days    L = ``sar_change_lag_days`` [24]; its age; NaN
                                           without radar; see :mod:`features.sar`
weather and survey features        …       see :mod:`features.weather`, :mod:`features.surveys`
=================================  ======  ======================================================

Data-quality columns say how much to trust a row rather than what drives the pest:
``days_since_clear_obs``, ``last_obs_valid_px``, ``nbr_count``, ``days_since_survey_<p>``,
``history_surveys_<p>``, ``survey_field_weight_<p>``, ``fcst_issue_age_days`` and
``days_since_sar_obs``. They stay in the table (the risk map
publishes them) but :func:`feature_columns` leaves them out of the model inputs unless asked:
their link to the pest runs through cloud seasons and survey sampling design, which change from
one office to the next. ``in_crop`` (:data:`MASK_COLUMNS`) is a quality column that is never a
model input: it says which rows describe a crop at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.sparse import csr_array
from scipy.spatial import cKDTree

from pestcast.core.errors import DataError, ParcelError
from pestcast.features.canopy_damage import NeighbourPairs, canopy_damage_on, neighbour_pairs
from pestcast.features.clear_observations import (
    FLOODING_LSWI_MARGIN,
    FLOODING_MAX_NDVI,
    OBSERVATION_COLUMNS,
    ClearObservations,
    clear_observations,
    latest_flooding_day,
    latest_rows,
    take,
)
from pestcast.features.columns import require_columns
from pestcast.features.crop_mask import in_crop_on
from pestcast.features.index_catalog import DEFAULT_PARCEL_INDICES
from pestcast.features.sar import SAR_QUALITY_FEATURES, sar_features
from pestcast.features.seasons import day_numbers, rice_season, season_start
from pestcast.features.settings import DEFAULT_FEATURE_SETTINGS, FeatureSettings
from pestcast.features.spatial_evidence import (
    SPATIAL_QUALITY_FEATURES,
    gaussian_kernel_matrix,
    light_trap_features,
    survey_field_features,
    surveyed_parcels,
)
from pestcast.features.surveys import (
    SURVEY_QUALITY_FEATURES,
    FloatGrid,
    survey_history_features,
    survey_labels,
)
from pestcast.features.weather import weather_features
from pestcast.features.weather_forecast import FORECAST_QUALITY_FEATURES, forecast_weather_grids

__all__ = [
    "FLOODING_LSWI_MARGIN",
    "FLOODING_MAX_NDVI",
    "KEY_COLUMNS",
    "LOCAL_TIMEZONE",
    "MASK_COLUMNS",
    "OBSERVATION_COLUMNS",
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
QUALITY_FEATURES = (
    "days_since_clear_obs",
    "last_obs_valid_px",
    "nbr_count",
    *FORECAST_QUALITY_FEATURES,
    *SAR_QUALITY_FEATURES,
)
"""Imagery, neighbourhood and forecast-age data-quality columns (survey ones:
SURVEY_QUALITY_FEATURES)."""
MASK_COLUMNS = ("in_crop",)
"""Quality columns that are never model inputs: they say which rows to read, not why."""
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
    return (
        name in QUALITY_FEATURES
        or name in MASK_COLUMNS
        or name.startswith(SURVEY_QUALITY_FEATURES + SPATIAL_QUALITY_FEATURES)
    )


def feature_columns(table: pd.DataFrame, *, include_quality: bool = False) -> list[str]:
    """Model inputs of a feature table: numeric columns that are neither keys, labels nor
    :data:`MASK_COLUMNS`, and not data-quality columns unless ``include_quality``."""
    return [
        str(column)
        for column in table.columns
        if column not in KEY_COLUMNS
        and column not in MASK_COLUMNS
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
    light_traps: pd.DataFrame | None = None,
    weather_forecasts: pd.DataFrame | None = None,
    sar_observations: pd.DataFrame | None = None,
    region_parcel_ids: pd.Index | None = None,
) -> pd.DataFrame:
    """One row per forecast date × parcel (dates ascending, parcels in input order).

    ``observations`` follow the observation contract (DESIGN.md), ``parcels`` has ``parcel_id``,
    ``commune`` and centroid ``x``/``y`` in metres of a projected CRS (and optionally
    ``district``, for the light traps), ``weather`` and ``surveys`` follow the weather and survey
    table contracts (DESIGN.md), ``light_traps`` the light-trap contract
    (``features.sowing.LIGHT_TRAP_COLUMNS``; None: the trap columns are NaN),
    ``weather_forecasts`` the forecast weather contract
    (``features.weather_forecast.FORECAST_WEATHER_COLUMNS``; None: the ``fcst_`` columns are
    NaN), ``sar_observations`` the Sentinel-1 observation contract
    (``features.sar.SAR_OBSERVATION_COLUMNS``; None: the radar columns are NaN). Columns:
    :data:`KEY_COLUMNS`, the features of this module's table, ``in_crop`` and
    ``label_<pest>_h<h>``. Rows of other tables whose parcel is not in ``parcels`` are ignored:
    the parcel table defines the rows. When ``parcels`` is a block of a region
    (:mod:`features.blocks`), ``region_parcel_ids`` names all the region's parcels and ``surveys``
    holds theirs: the region-wide survey shares count them all.
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
        neighbours=neighbours,
    )
    grids |= neighbour_asynchrony(
        grids["days_since_flooding"],
        grids["days_since_clear_obs"],
        neighbours,
        recent_days=settings.recent_flooding_days,
    )
    grids["days_into_season"] = _days_into_season(dates, len(parcel_ids))
    grids |= sar_features(
        sar_observations,
        parcel_ids=parcel_ids,
        forecast_dates=dates,
        settings=settings,
        timezone=timezone,
    )
    communes, commune_codes = np.unique(parcel_table["commune"].to_numpy(), return_inverse=True)
    history = survey_history_features(
        surveys,
        parcel_ids=parcel_ids,
        commune_codes=commune_codes,
        neighbours=neighbours,
        forecast_dates=dates,
        pests=pests,
        window_days=settings.survey_window_days,
        region_parcel_ids=region_parcel_ids,
    )
    evidence = _spatial_evidence(
        surveys, light_traps, parcel_table, dates, pests=pests, settings=settings
    )
    labels = survey_labels(
        surveys, parcel_ids=parcel_ids, forecast_dates=dates, pests=pests, horizons=horizons
    )
    weather_rows = _weather_rows(
        weather, dates, communes, commune_codes, windows=settings.weather_windows_days
    )
    forecast_rows = forecast_weather_grids(
        weather_forecasts,
        dates,
        communes,
        commune_codes,
        windows=settings.forecast_weather_windows_days,
    )
    return _assemble(
        parcel_table, dates, [grids, weather_rows, forecast_rows, history, evidence, labels]
    )


def _spatial_evidence(
    surveys: pd.DataFrame,
    light_traps: pd.DataFrame | None,
    parcels: pd.DataFrame,
    dates: pd.DatetimeIndex,
    *,
    pests: Sequence[str],
    settings: FeatureSettings,
) -> dict[str, FloatGrid]:
    """Survey infestation fields and light-trap catches (:mod:`features.spatial_evidence`)."""
    parcel_ids = pd.Index(parcels["parcel_id"])
    surveyed = surveyed_parcels(
        surveys,
        parcel_ids,
        pests=pests,
        forecast_dates=dates,
        window_days=settings.survey_window_days,
    )
    kernel = gaussian_kernel_matrix(
        parcels["x"], parcels["y"], bandwidth_m=settings.survey_kernel_bandwidth_m, rows=surveyed
    )
    fields = survey_field_features(
        surveys,
        parcel_ids=parcel_ids,
        kernel=kernel,
        kernel_rows=surveyed,
        forecast_dates=dates,
        pests=pests,
        window_days=settings.survey_window_days,
        half_life_days=settings.survey_half_life_days,
    )
    districts = parcels["district"] if "district" in parcels else np.full(len(parcels), None)
    return fields | light_trap_features(
        light_traps,
        parcel_districts=districts,
        forecast_dates=dates,
        window_days=settings.light_trap_window_days,
    )


def _check_options(pests: Sequence[str], horizons: Sequence[int]) -> None:
    if not pests or not horizons or min(horizons) < 1:
        raise DataError(f"need at least one pest and horizons ≥ 1 day; got {pests}, {horizons}")


def _checked_parcels(parcels: pd.DataFrame) -> pd.DataFrame:
    require_columns(parcels, PARCEL_COLUMNS, "parcel table")
    optional = [column for column in ("district",) if column in parcels]
    table = parcels.loc[:, [*PARCEL_COLUMNS, *optional]].reset_index(drop=True)
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


def imagery_features(
    observations: pd.DataFrame,
    *,
    parcel_ids: pd.Index,
    forecast_dates: pd.DatetimeIndex,
    settings: FeatureSettings = DEFAULT_FEATURE_SETTINGS,
    timezone: str = LOCAL_TIMEZONE,
    neighbours: csr_array | None = None,
) -> dict[str, FloatGrid]:
    """Imagery features of the module table and ``in_crop``, each (forecast dates, parcels).

    ``timezone`` turns acquisition and availability times into the local calendar days that
    forecast dates are; ``neighbours`` (:func:`neighbour_matrix`) gives the parcels compared
    in ``<index>_vs_nbr`` (None: no neighbours, those columns are NaN).
    """
    clear = clear_observations(observations, parcel_ids, settings.min_clear_px, timezone)
    if neighbours is None:
        neighbours = csr_array((len(parcel_ids), len(parcel_ids)), dtype=np.float64)
    pairs = neighbour_pairs(neighbours)
    per_day = [_imagery_on(clear, int(day), pairs, settings) for day in day_numbers(forecast_dates)]
    return {name: np.stack([values[name] for values in per_day]) for name in per_day[0]}


def _imagery_on(
    clear: ClearObservations, day: int, pairs: NeighbourPairs, settings: FeatureSettings
) -> dict[str, FloatGrid]:
    """Imagery features of every parcel on one forecast day (one vector per feature)."""
    n_parcels = pairs.n_parcels
    window = clear.acquired_between(day - settings.imagery_lookback_days, day)
    known = window.known <= day
    latest = latest_rows(window.parcel, known, n_parcels)
    features = {f"{name}_last": take(getattr(window, name), latest) for name in _INDICES}
    features["days_since_clear_obs"] = day - take(window.acquired, latest)
    features["last_obs_valid_px"] = take(window.n_valid_px, latest)
    for lag in settings.ndvi_change_lags_days:
        earlier = known & (window.acquired <= day - lag) & (window.acquired >= day - 2 * lag)
        reference = latest_rows(window.parcel, earlier, n_parcels)
        reference[reference == latest] = -1  # an observation cannot change against itself
        features[f"ndvi_change_{lag}d"] = features["ndvi_last"] - take(window.ndvi, reference)
    features |= _crop_stage(window, known, day, n_parcels)
    features["ndvi_drop_from_crop_max"] = features["ndvi_max_crop"] - features["ndvi_last"]
    features |= canopy_damage_on(window, day, pairs, settings)
    features["in_crop"] = in_crop_on(window, day, n_parcels, settings)
    return features


def _crop_stage(
    window: ClearObservations, known: npt.NDArray[np.bool_], day: int, n_parcels: int
) -> dict[str, FloatGrid]:
    """Days since the latest flooding signal, and the NDVI maximum since then."""
    flooding_day = latest_flooding_day(window, known, n_parcels)
    in_crop = known & (window.acquired >= flooding_day[window.parcel])
    highest = np.full(n_parcels, -np.inf)
    np.maximum.at(highest, window.parcel[in_crop], window.ndvi[in_crop])
    return {
        "days_since_flooding": day - flooding_day,
        "ndvi_max_crop": np.where(np.isneginf(highest), np.nan, highest),
    }


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
