"""The scouting list: worth per visit, capacity per commune, walking order."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from pestcast.core.errors import ConfigError
from pestcast.flows.scouting import ScoutingCapacity, scouting_list


def risk_map(
    rows: list[tuple[str, str, float, float | None, float | None, str]],
    *,
    not_in_crop: tuple[str, ...] = (),
) -> gpd.GeoDataFrame:
    """(parcel, commune, x of a 100 m square, bph risk, blast risk, last clear image); the
    parcels ``not_in_crop`` have that class for both pests, the others one their risk gives."""
    columns: dict[str, list[object]] = {}
    for pest, at in (("bph", 3), ("blast", 4)):
        columns[f"risk_{pest}_h7"] = [np.nan if r[at] is None else r[at] for r in rows]
        columns[f"class_{pest}_h7"] = [
            "not_in_crop" if r[0] in not_in_crop else "no_data" if r[at] is None else "low"
            for r in rows
        ]
    return gpd.GeoDataFrame(
        {
            "parcel_id": [r[0] for r in rows],
            "commune": [r[1] for r in rows],
            "area_ha": 1.0,
            "forecast_date": "2024-12-30",
            "last_clear_obs_date": [r[5] for r in rows],
            **columns,
        },
        geometry=[box(r[2], 0, r[2] + 100, 100) for r in rows],
        crs="EPSG:32648",
    )


def test_visits_are_ranked_by_expected_infested_area_and_cut_per_commune() -> None:
    table = risk_map(
        [
            ("A1", "A", 0, 0.10, 0.05, "2024-12-27"),
            ("A2", "A", 300, 0.30, 0.00, "2024-12-27"),
            ("A3", "A", 600, 0.01, 0.01, "2024-12-27"),
            ("B1", "B", 0, 0.20, 0.20, "2024-12-27"),
            ("B2", "B", 300, None, None, "2024-10-01"),  # no data: never listed
        ]
    )
    table.loc[table["parcel_id"] == "A1", "area_ha"] = 4.0  # 0.15 × 4 ha beats 0.30 × 1 ha
    listed = scouting_list(
        table, pests=("bph", "blast"), horizon_days=7, capacity=ScoutingCapacity(2)
    )
    assert listed.sort_values("rank")["parcel_id"].tolist() == ["A1", "B1", "A2"]
    assert listed["visit_worth_ha"].max() == pytest.approx(0.6)


def test_parcels_not_in_crop_are_never_listed() -> None:
    table = risk_map(
        [
            ("A1", "A", 0, 0.10, 0.05, "2024-12-27"),
            ("A2", "A", 300, None, None, "2024-12-27"),  # fallow, as published: no risk
            ("A3", "A", 600, 0.90, 0.90, "2024-12-27"),  # a risk, yet marked out of crop
            ("B1", "B", 0, None, None, "2024-12-27"),  # B has nothing in crop
        ],
        not_in_crop=("A2", "A3", "B1"),
    )
    listed = scouting_list(
        table, pests=("bph", "blast"), horizon_days=7, capacity=ScoutingCapacity(9)
    )
    assert listed["parcel_id"].tolist() == ["A1"]
    one_pest = scouting_list(table, pests=("bph",), horizon_days=7, capacity=ScoutingCapacity(9))
    assert one_pest["parcel_id"].tolist() == ["A1"]


def test_equal_worth_goes_to_the_older_image_first() -> None:
    table = risk_map(
        [("A1", "A", 0, 0.1, 0.0, "2024-12-27"), ("A2", "A", 300, 0.1, 0.0, "2024-11-01")]
    )
    listed = scouting_list(table, pests=("bph",), horizon_days=7, capacity=ScoutingCapacity(1))
    assert listed["parcel_id"].tolist() == ["A2"]


def test_the_route_walks_from_the_west_to_the_nearest_next() -> None:
    xs = [900, 0, 500, 100]
    table = risk_map([(f"A{x}", "A", x, 0.2, 0.0, "2024-12-27") for x in xs])
    listed = scouting_list(table, pests=("bph",), horizon_days=7, capacity=ScoutingCapacity(9))
    route = listed.sort_values("route_order")["parcel_id"].tolist()
    assert route == ["A0", "A100", "A500", "A900"]


def test_a_hectare_limit_stops_the_list() -> None:
    table = risk_map([(f"A{x}", "A", x, 0.2, 0.0, "2024-12-27") for x in (0, 300, 600)])
    capacity = ScoutingCapacity(parcels_per_commune=9, hectares_per_commune=2.5)
    assert len(scouting_list(table, pests=("bph",), horizon_days=7, capacity=capacity)) == 2


def test_a_bad_capacity_is_refused() -> None:
    with pytest.raises(ConfigError, match="parcels_per_commune"):
        ScoutingCapacity(parcels_per_commune=0)
