"""The week's scouting list: which parcels an officer should visit first, and in what order.

A visit is worth the expected infested area it finds: the sum over pests of the parcel's risk at
the shortest horizon, times its area. Parcels with equal worth go to the less certain first (the
older its latest clear image, the more a visit teaches). Each commune keeps its best parcels up to
a capacity (parcels, and optionally hectares, a week), and those are put in a walking order: a
nearest-neighbour tour from the parcel furthest west.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pestcast.core.errors import ConfigError
from pestcast.models import NOT_IN_CROP

__all__ = ["ScoutingCapacity", "scouting_list"]


@dataclass(frozen=True)
class ScoutingCapacity:
    """How much an office can scout in a commune in a week."""

    parcels_per_commune: int = 10
    """Visits per commune and week."""
    hectares_per_commune: float | None = None
    """Optional area limit per commune and week (the list stops before exceeding it)."""

    def __post_init__(self) -> None:
        if self.parcels_per_commune < 1 or (
            self.hectares_per_commune is not None and self.hectares_per_commune <= 0
        ):
            raise ConfigError(
                "scouting capacity needs parcels_per_commune ≥ 1 and a positive "
                f"hectares_per_commune (or none); got {self}"
            )


def scouting_list(
    risk_map: gpd.GeoDataFrame,
    *,
    pests: Sequence[str],
    horizon_days: int,
    capacity: ScoutingCapacity,
) -> gpd.GeoDataFrame:
    """The parcels to visit, per commune in walking order, with what each visit is worth.

    ``risk_map`` follows the published schema (``risk_<pest>_h<h>``, ``class_<pest>_h<h>``,
    ``area_ha``…) in a projected CRS; parcels without data (risk null) or not in crop (class
    ``not_in_crop``: fallow or flooded off-season, nothing to scout) are never listed.
    """
    worth = _visit_worth(risk_map, pests, horizon_days)
    table = risk_map.assign(visit_worth_ha=worth.round(4))
    table = table[worth.notna() & (worth > 0)]
    age = pd.to_datetime(table["forecast_date"]) - pd.to_datetime(table["last_clear_obs_date"])
    table = table.assign(_age=age.dt.days.fillna(np.inf))
    ranked = table.sort_values(
        ["visit_worth_ha", "_age", "parcel_id"], ascending=[False, False, True], kind="stable"
    )
    chosen = [
        _walking_order(_within_capacity(parcels, capacity))
        for _, parcels in ranked.groupby("commune", sort=True)
    ]
    if not chosen:
        return gpd.GeoDataFrame(ranked.drop(columns="_age").head(0))
    listed = pd.concat(chosen).drop(columns="_age")
    listed.insert(0, "rank", listed["visit_worth_ha"].rank(ascending=False, method="first"))
    return gpd.GeoDataFrame(listed.astype({"rank": int}), crs=risk_map.crs)


def _visit_worth(risk_map: pd.DataFrame, pests: Sequence[str], horizon_days: int) -> pd.Series:
    """Expected infested hectares found by one visit (NaN when no pest has data, or the parcel
    is not in crop for any of them)."""
    keys = [f"{pest}_h{horizon_days}" for pest in pests]
    risks = risk_map[[f"risk_{key}" for key in keys]].astype(np.float64)
    fallow = (risk_map[[f"class_{key}" for key in keys]] == NOT_IN_CROP).any(axis=1)
    return risks.sum(axis=1, min_count=1).where(~fallow) * risk_map["area_ha"]


def _within_capacity(parcels: pd.DataFrame, capacity: ScoutingCapacity) -> pd.DataFrame:
    kept = parcels.head(capacity.parcels_per_commune)
    if capacity.hectares_per_commune is not None:
        kept = kept[kept["area_ha"].cumsum() <= capacity.hectares_per_commune]
    return kept


def _walking_order(parcels: pd.DataFrame) -> pd.DataFrame:
    """The parcels in a nearest-neighbour tour from the westmost, numbered from 1."""
    if parcels.empty:
        return parcels.assign(route_order=pd.Series(dtype=int))
    points = shapely.get_coordinates(shapely.point_on_surface(parcels.geometry.to_numpy()))
    left = list(range(len(points)))
    tour = [min(left, key=lambda i: (points[i][0], points[i][1]))]
    left.remove(tour[0])
    while left:
        here = points[tour[-1]]
        tour.append(min(left, key=lambda i: float(np.hypot(*(points[i] - here)))))
        left.remove(tour[-1])
    ordered = parcels.iloc[tour]
    return ordered.assign(route_order=np.arange(1, len(ordered) + 1))
