"""Which parcels carry a rice crop on the forecast date, from the imagery alone (``in_crop``).

A paddy's season shows in its clear observations as flooding, greening and, at harvest, a drop
to bare stubble. The flooding/transplanting signal is Xiao et al.'s (2005, Remote Sensing of
Environment 95: 480–492) LSWI + 0.05 ≥ EVI or NDVI, with NDVI < 0.3 (the one
``days_since_flooding`` uses). A rice canopy reads NDVI ≈ 0.5 or more from about maximum
tillering to ripening (judgement: peaks are 0.8–0.9), and harvested paddies fall back to
NDVI < 0.3 (stubble, bare soil): the green-up and harvest of Sakamoto et al.'s (2005, Remote
Sensing of Environment 96: 366–374) rice phenology of the Mekong delta.

Rule at forecast day ``t``, over the clear observations known on ``t`` in the imagery lookback
(``f`` the latest flooding signal; "green" NDVI ≥ :data:`CROP_GREEN_NDVI`; "bare" a clear
observation with NDVI < :data:`~features.clear_observations.FLOODING_MAX_NDVI` and no
flooding signal):

1. no clear observation → **1.0**: unknown. The parcel layer lists rice parcels, and hiding a
   parcel the clouds hid could hide an infestation; its quality columns (``days_since_clear_obs``)
   say that nothing was seen.
2. ``f`` within the last ``crop_duration_days`` [120] → **1.0** unless the crop was harvested
   (a green observation after ``f``, then a bare one after it) or never established (no green
   observation after ``f`` although ``f`` is older than ``crop_establishment_days`` [60]).
3. otherwise (no flooding signal that recent: it was missed under clouds, or the field lies
   fallow) → **1.0** if the latest clear observation is green, else **0.0**.

Known limits: a parcel burnt out by heavy hopperburn (NDVI < 0.3) looks harvested; flood-season
water on a fallow field looks like a new flooding until it recedes and the field stays bare for
``crop_establishment_days``. ``in_crop`` is a key/quality column, not a model input
(:func:`features.timeseries.feature_columns` leaves it out).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pestcast.features.clear_observations import (
    FLOODING_MAX_NDVI,
    ClearObservations,
    FloatArray,
    latest_flooding_day,
    latest_rows,
    take,
)
from pestcast.features.settings import FeatureSettings

__all__ = ["CROP_GREEN_NDVI", "in_crop_on"]

CROP_GREEN_NDVI = 0.5
"""NDVI of a closed, green rice canopy (maximum tillering onwards)."""


def in_crop_on(
    window: ClearObservations, day: int, n_parcels: int, settings: FeatureSettings
) -> FloatArray:
    """``in_crop`` (1.0 / 0.0) of every parcel on forecast ``day`` (see the module rule).

    ``window`` holds the clear observations acquired in the imagery lookback of ``day``.
    """
    known = window.known <= day
    latest = latest_rows(window.parcel, known, n_parcels)
    flooding_day = latest_flooding_day(window, known, n_parcels)
    green = window.ndvi >= CROP_GREEN_NDVI
    first_green = _first_day(window, known & green, flooding_day, n_parcels)
    last_bare = _last_day(window, known & (window.ndvi < FLOODING_MAX_NDVI) & ~window.flooded)
    harvested = _last_day_per_parcel(last_bare, window.parcel, n_parcels) > first_green
    age = day - flooding_day  # NaN without a flooding signal: every comparison is False
    never_green = np.isinf(first_green) & (age > settings.crop_establishment_days)
    cropped = (age <= settings.crop_duration_days) & ~harvested & ~never_green
    fallback = np.isnan(age) | (age > settings.crop_duration_days)
    green_now = take(window.ndvi, latest) >= CROP_GREEN_NDVI
    in_crop = (latest < 0) | cropped | (fallback & green_now)
    return in_crop.astype(np.float64)


def _first_day(
    window: ClearObservations,
    selected: npt.NDArray[np.bool_],
    not_before: FloatArray,
    n_parcels: int,
) -> FloatArray:
    """Per parcel, the first selected acquisition day on or after ``not_before`` (+inf if none)."""
    after = selected & (window.acquired >= not_before[window.parcel])
    first = np.full(n_parcels, np.inf)
    np.minimum.at(first, window.parcel[after], window.acquired[after].astype(np.float64))
    return first


def _last_day(window: ClearObservations, selected: npt.NDArray[np.bool_]) -> FloatArray:
    """Acquisition day where ``selected``, −inf elsewhere."""
    return np.where(selected, window.acquired.astype(np.float64), -np.inf)


def _last_day_per_parcel(
    days: FloatArray, parcel: npt.NDArray[np.intp], n_parcels: int
) -> FloatArray:
    last = np.full(n_parcels, -np.inf)
    np.maximum.at(last, parcel, days)
    return last
