"""Clear parcel observations: the observation table reduced to what the imagery features read.

An observation is *clear* when ``n_valid_px ≥ min_clear_px`` and its NDVI is finite. Days are
local calendar days (day numbers, :func:`features.seasons.day_numbers`): ``acquired`` is what
the image shows, ``known`` the day the scene became available (the validity rule of
:mod:`features.timeseries` keys on it).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt
import pandas as pd

from pestcast.core.errors import DataError
from pestcast.features.columns import require_columns
from pestcast.features.index_catalog import DEFAULT_PARCEL_INDICES
from pestcast.features.seasons import day_numbers

__all__ = [
    "FLOODING_LSWI_MARGIN",
    "FLOODING_MAX_NDVI",
    "OBSERVATION_COLUMNS",
    "OPTIONAL_OBSERVATION_COLUMNS",
    "ClearObservations",
    "clear_observations",
    "latest_flooding_day",
    "latest_rows",
    "local_days",
    "take",
]

FloatArray = npt.NDArray[np.float64]

OBSERVATION_COLUMNS = (
    "parcel_id",
    "acquired_utc",
    "available_utc",
    "n_valid_px",
    *(f"{name}_mean" for name in DEFAULT_PARCEL_INDICES),
)
"""Required columns; ``ndre_std`` is optional (NaN where absent)."""
OPTIONAL_OBSERVATION_COLUMNS = ("scene_id", "ndre_std")
"""Columns read when present (the scene id names a bad row in errors); no other is read, so a
reader may load only these and :data:`OBSERVATION_COLUMNS`."""
FLOODING_LSWI_MARGIN = 0.05
"""Xiao et al. (2005): a pixel is flooded when LSWI + 0.05 ≥ EVI or NDVI."""
FLOODING_MAX_NDVI = 0.3
"""…and its NDVI is below 0.3 (no closed canopy yet): bare water or young seedlings."""


@dataclass(frozen=True)
class ClearObservations:
    """Clear parcel observations as aligned arrays, sorted by acquisition day, then pixels."""

    parcel: npt.NDArray[np.intp]
    acquired: npt.NDArray[np.int64]
    """Local acquisition day (day number)."""
    known: npt.NDArray[np.int64]
    """Local day the scene became available (day number)."""
    n_valid_px: FloatArray
    ndvi: FloatArray
    evi: FloatArray
    ndre: FloatArray
    lswi: FloatArray
    ndre_std: FloatArray
    """Within-parcel standard deviation of NDRE (NaN where the table has no ``ndre_std``)."""
    flooded: npt.NDArray[np.bool_]
    """Flooding/transplanting signal (Xiao et al. 2005, see ``FLOODING_*``)."""

    def acquired_between(self, first_day: int, last_day: int) -> ClearObservations:
        """The observations acquired from ``first_day`` to ``last_day`` (both included)."""
        start = int(np.searchsorted(self.acquired, first_day, side="left"))
        stop = int(np.searchsorted(self.acquired, last_day, side="right"))
        return ClearObservations(
            **{field.name: getattr(self, field.name)[start:stop] for field in fields(self)}
        )


def clear_observations(
    observations: pd.DataFrame, parcel_ids: pd.Index, min_clear_px: int, timezone: str
) -> ClearObservations:
    """The clear observations of the parcels in ``parcel_ids`` (others are ignored)."""
    require_columns(observations, OBSERVATION_COLUMNS, "observation table")
    parcel = parcel_ids.get_indexer(pd.Index(observations["parcel_id"].astype(str)))
    keep = (
        (parcel >= 0)
        & (observations["n_valid_px"].to_numpy(np.float64) >= min_clear_px)
        & np.isfinite(observations["ndvi_mean"].to_numpy(np.float64))
    )
    rows = observations.loc[keep]
    acquired, known = local_days(rows, timezone)
    values = {name: rows[f"{name}_mean"].to_numpy(np.float64) for name in DEFAULT_PARCEL_INDICES}
    values["ndre_std"] = (
        rows["ndre_std"].to_numpy(np.float64) if "ndre_std" in rows else np.full(len(rows), np.nan)
    )
    n_valid_px = rows["n_valid_px"].to_numpy(np.float64)
    order = np.lexsort((n_valid_px, acquired))
    water = values["lswi"] + FLOODING_LSWI_MARGIN >= np.fmin(values["evi"], values["ndvi"])
    return ClearObservations(
        parcel=parcel[keep][order].astype(np.intp),
        acquired=acquired[order],
        known=known[order],
        n_valid_px=n_valid_px[order],
        flooded=(water & (values["ndvi"] < FLOODING_MAX_NDVI))[order],
        **{name: array[order] for name, array in values.items()},
    )


def local_days(
    rows: pd.DataFrame, timezone: str, *, what: str = "observations"
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Local acquisition and availability days; naive timestamps are taken as UTC.

    Refuses rows available before they were acquired, calling them ``what`` in the error.
    """
    acquired = pd.to_datetime(rows["acquired_utc"], utc=True)
    available = pd.to_datetime(rows["available_utc"], utc=True)
    early = (available < acquired).to_numpy()
    if early.any():
        scene = rows["scene_id"].iloc[int(np.argmax(early))] if "scene_id" in rows else "?"
        raise DataError(
            f"{int(early.sum())} {what} (e.g. scene {scene}) became available before they "
            "were acquired; check available_utc (the STAC item's `created`)"
        )
    acquired_day, available_day = (
        day_numbers(times.dt.tz_convert(timezone).dt.tz_localize(None))
        for times in (acquired, available)
    )
    return acquired_day, available_day


def latest_rows(
    parcel: npt.NDArray[np.intp], selected: npt.NDArray[np.bool_], n_parcels: int
) -> npt.NDArray[np.intp]:
    """Per parcel, the last selected row (rows are in time order); −1 where none."""
    latest = np.full(n_parcels, -1, dtype=np.intp)
    np.maximum.at(latest, parcel[selected], np.flatnonzero(selected))
    return latest


def latest_flooding_day(
    window: ClearObservations, known: npt.NDArray[np.bool_], n_parcels: int
) -> FloatArray:
    """Per parcel, the acquisition day of its latest known flooding signal; NaN if none."""
    return take(window.acquired, latest_rows(window.parcel, known & window.flooded, n_parcels))


def take(values: npt.NDArray[np.generic], rows: npt.NDArray[np.intp]) -> FloatArray:
    """``values[rows]`` as floats, NaN where ``rows`` is −1."""
    taken = np.full(rows.shape, np.nan)
    found = rows >= 0
    taken[found] = values[rows[found]]
    return taken
