"""Sentinel-1 backscatter: parcel means of radar scenes, and the radar features of the table.

Radar power adds over an area, so a parcel's backscatter is the mean of the *linear* gamma0 of
its valid pixels, converted to dB only afterwards: a mean of dB values is the log of the
geometric mean, which speckle biases low (by about 1 dB at 4.4 looks) and which a few bright
pixels barely move. A pixel is valid when both polarisations are finite and positive (the reader
gives 0 where a COG has nodata, −32768 in Planetary Computer's RTC, or does not reach).

Features at forecast date ``t`` (a local calendar day) follow the validity rule of
:mod:`features.timeseries`: a scene counts only if it became available (``available_utc`` as a
local day) on or before ``t``, was acquired within ``imagery_lookback_days`` of ``t`` and has
``n_valid_px ≥ sar_min_valid_px``. Clouds never hide it, so it fills the wet season's gaps.

=========================  ======  ================================================================
feature                    unit    meaning
=========================  ======  ================================================================
``vv_db_last``             dB      parcel VV gamma0 of the latest such scene
``vh_db_last``             dB      parcel VH gamma0 of that scene (grows with canopy volume)
``vh_vv_db_last``          dB      VH − VV of that scene (cross ratio: canopy vs double bounce)
``vh_db_change_<L>d``      dB      ``vh_db_last`` − VH of the latest scene acquired 24–48 days
                                   (L to 2L, L = ``sar_change_lag_days`` [24]) before it; NaN if
                                   none
``days_since_sar_obs``     days    ``t`` − acquisition day of the latest scene (data quality)
=========================  ======  ================================================================

Without radar observations every column is NaN.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from pestcast.core.errors import DataError
from pestcast.features.clear_observations import latest_rows, local_days, take
from pestcast.features.columns import require_columns
from pestcast.features.seasons import day_numbers
from pestcast.features.settings import DEFAULT_FEATURE_SETTINGS, FeatureSettings

__all__ = [
    "POLARISATIONS",
    "SAR_OBSERVATION_COLUMNS",
    "SAR_QUALITY_FEATURES",
    "linear_to_db",
    "parcel_backscatter",
    "sar_feature_names",
    "sar_features",
]

FloatGrid = npt.NDArray[np.float64]
POLARISATIONS = ("vv", "vh")
SAR_OBSERVATION_COLUMNS = (
    "parcel_id",
    "scene_id",
    "acquired_utc",
    "available_utc",
    "n_valid_px",
    "vv_linear_mean",
    "vh_linear_mean",
    "vv_db",
    "vh_db",
)
"""The Sentinel-1 observation table (DESIGN.md): one row per parcel and solar day."""
SAR_QUALITY_FEATURES = ("days_since_sar_obs",)
_REQUIRED = ("parcel_id", "acquired_utc", "available_utc", "n_valid_px", "vv_linear_mean",
             "vh_linear_mean")  # fmt: skip


def linear_to_db(power: npt.ArrayLike) -> FloatGrid:
    """10·log10 of linear power; NaN where it is not finite and positive."""
    values = np.asarray(power, dtype=np.float64)
    usable = np.isfinite(values) & (values > 0)
    return np.where(usable, 10.0 * np.log10(np.where(usable, values, 1.0)), np.nan)


def parcel_backscatter(
    bands: Mapping[str, npt.NDArray[np.floating]],
    labels: npt.NDArray[np.integer],
    *,
    n_parcels: int,
) -> pd.DataFrame:
    """Per parcel (label i + 1 → row i): ``n_valid_px`` and the mean linear gamma0 of each
    polarisation over the pixels valid in both, and those means in dB (NaN without one)."""
    missing = [name for name in POLARISATIONS if name not in bands]
    if missing:
        raise DataError(f"parcel_backscatter needs the polarisations {missing} as well")
    if any(bands[name].shape != labels.shape for name in POLARISATIONS):
        raise DataError("backscatter bands and the parcel label raster differ in shape")
    valid = labels > 0
    for name in POLARISATIONS:
        values = bands[name]
        valid &= np.isfinite(values) & (values > 0)
    parcel = labels[valid].astype(np.int64)
    count = np.bincount(parcel, minlength=n_parcels + 1)[1:].astype(np.int64)
    table: dict[str, npt.NDArray[np.generic]] = {"n_valid_px": count}
    for name in POLARISATIONS:
        total = np.bincount(parcel, weights=bands[name][valid], minlength=n_parcels + 1)[1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            table[f"{name}_linear_mean"] = np.where(count > 0, total / count, np.nan)
    for name in POLARISATIONS:
        table[f"{name}_db"] = linear_to_db(table[f"{name}_linear_mean"])
    return pd.DataFrame(table)


@dataclass(frozen=True)
class _Scenes:
    """Usable parcel observations as aligned arrays, in acquisition order."""

    parcel: npt.NDArray[np.intp]
    acquired: npt.NDArray[np.int64]
    """Local acquisition day (day number)."""
    known: npt.NDArray[np.int64]
    """Local day the scene became available."""
    vv_db: FloatGrid
    vh_db: FloatGrid


def sar_feature_names(settings: FeatureSettings = DEFAULT_FEATURE_SETTINGS) -> tuple[str, ...]:
    """The radar columns of the feature table under ``settings``."""
    return (
        "vv_db_last",
        "vh_db_last",
        "vh_vv_db_last",
        f"vh_db_change_{settings.sar_change_lag_days}d",
        "days_since_sar_obs",
    )


def sar_features(
    observations: pd.DataFrame | None,
    *,
    parcel_ids: pd.Index,
    forecast_dates: pd.DatetimeIndex,
    settings: FeatureSettings = DEFAULT_FEATURE_SETTINGS,
    timezone: str,
) -> dict[str, FloatGrid]:
    """The radar features (module table), each of shape (forecast dates, parcels).

    ``observations`` follow :data:`SAR_OBSERVATION_COLUMNS` (None: every value NaN); rows of
    parcels not in ``parcel_ids`` are ignored.
    """
    names = sar_feature_names(settings)
    if observations is None:
        return {name: np.full((len(forecast_dates), len(parcel_ids)), np.nan) for name in names}
    scenes = _usable_scenes(observations, parcel_ids, settings.sar_min_valid_px, timezone)
    per_day = [
        _features_on(scenes, int(day), len(parcel_ids), settings)
        for day in day_numbers(forecast_dates)
    ]
    return {name: np.stack([values[name] for values in per_day]) for name in names}


def _usable_scenes(
    observations: pd.DataFrame, parcel_ids: pd.Index, min_valid_px: int, timezone: str
) -> _Scenes:
    require_columns(observations, _REQUIRED, "Sentinel-1 observation table")
    parcel = parcel_ids.get_indexer(pd.Index(observations["parcel_id"].astype(str)))
    vv_db, vh_db = (linear_to_db(observations[f"{p}_linear_mean"]) for p in POLARISATIONS)
    keep = (
        (parcel >= 0)
        & (observations["n_valid_px"].to_numpy(np.float64) >= min_valid_px)
        & np.isfinite(vv_db)
        & np.isfinite(vh_db)
    )
    acquired, known = local_days(observations.loc[keep], timezone, what="Sentinel-1 observations")
    order = np.argsort(acquired, kind="stable")
    return _Scenes(
        parcel=parcel[keep][order].astype(np.intp),
        acquired=acquired[order],
        known=known[order],
        vv_db=vv_db[keep][order],
        vh_db=vh_db[keep][order],
    )


def _features_on(
    scenes: _Scenes, day: int, n_parcels: int, settings: FeatureSettings
) -> dict[str, FloatGrid]:
    """The radar features of every parcel on one forecast day."""
    known = (
        (scenes.known <= day)
        & (scenes.acquired <= day)
        & (scenes.acquired >= day - settings.imagery_lookback_days)
    )
    latest = latest_rows(scenes.parcel, known, n_parcels)
    last_day = take(scenes.acquired, latest)
    vv, vh = take(scenes.vv_db, latest), take(scenes.vh_db, latest)
    lag = settings.sar_change_lag_days
    gap = last_day[scenes.parcel] - scenes.acquired
    earlier = known & (gap >= lag) & (gap <= 2 * lag)
    reference = latest_rows(scenes.parcel, earlier, n_parcels)
    return {
        "vv_db_last": vv,
        "vh_db_last": vh,
        "vh_vv_db_last": vh - vv,
        f"vh_db_change_{lag}d": vh - take(scenes.vh_db, reference),
        "days_since_sar_obs": day - last_day,
    }
