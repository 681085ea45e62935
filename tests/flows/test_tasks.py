"""Task logic without Prefect (``task.fn``): the analysis grid and the parcel label raster."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import box

from pestcast.flows.config import DEFAULT_CONFIG, load_config
from pestcast.flows.tasks import parcel_labels


@pytest.mark.parametrize("parcel_crs", ["EPSG:4326", "EPSG:32648", "EPSG:3405"])
def test_the_analysis_grid_is_in_the_region_crs_whatever_the_parcels_are_in(
    parcel_crs: str,
) -> None:
    config = load_config(DEFAULT_CONFIG, check_paths=False)  # the demo data may not exist yet
    utm = gpd.GeoSeries([box(580_000, 1_150_000, 580_200, 1_150_100)], crs="EPSG:32648")
    parcels = gpd.GeoDataFrame({"parcel_id": ["P1"]}, geometry=utm.to_crs(parcel_crs))
    raster = parcel_labels.fn(parcels, config)
    assert raster.grid.crs == config.region.crs
    assert raster.grid.transform.a == config.imagery.resolution_m
    assert 150 <= int((raster.labels == 1).sum()) <= 200  # 2 ha minus a 5 m inward buffer
