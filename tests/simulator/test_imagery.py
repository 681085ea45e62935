"""Simulated Sentinel-2 scenes: COG structure, STAC fields, and realism through the real readers."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pystac
import pytest
import rasterio
from affine import Affine
from rasterio.features import rasterize

from pestcast.features.cloud_mask import clear_sky_mask
from pestcast.features.indices import lswi, ndvi
from pestcast.features.reflectance import boa_offset_dn, dn_to_reflectance
from pestcast.simulator import DemoWorld
from pestcast.simulator.clouds import CloudPlan, cloud_layers, swath_nodata
from pestcast.simulator.imagery import BAND_RESOLUTION_M
from tests.simulator.conftest import Region

CLOUD_CLASSES = (8, 9, 10)


def _asset_path(item: pystac.Item, key: str) -> Path:
    return Path(item.assets[key].get_absolute_href() or "")


def _reflectance(item: pystac.Item, key: str) -> npt.NDArray[np.float32]:
    offset = boa_offset_dn(item.properties["s2:processing_baseline"])
    with rasterio.open(_asset_path(item, key)) as dataset:
        return dn_to_reflectance(dataset.read(1), offset_dn=offset)


def _scl(item: pystac.Item) -> npt.NDArray[np.uint8]:
    with rasterio.open(_asset_path(item, "SCL")) as dataset:
        return dataset.read(1)  # type: ignore[no-any-return]


def test_every_revisit_has_an_item_with_nine_band_assets(small_region: Region) -> None:
    items = small_region.items()
    settings = small_region.settings
    expected = (settings.end - settings.start).days // settings.revisit_days + 1
    assert len(items) == expected
    assert items[0].datetime is not None
    assert items[0].datetime.date() == settings.start
    assert set(items[0].assets) == set(BAND_RESOLUTION_M)
    assert all(not asset.href.startswith("/") for asset in items[0].assets.values())
    assert {item.properties["platform"] for item in items[:2]} == {"sentinel-2a", "sentinel-2b"}


def test_bands_are_cogs_at_their_native_resolution(small_region: Region) -> None:
    item = small_region.items()[3]
    for key, resolution in BAND_RESOLUTION_M.items():
        with rasterio.open(_asset_path(item, key)) as dataset:
            assert dataset.driver == "GTiff"
            assert dataset.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert dataset.profile["tiled"]
            assert dataset.block_shapes[0] == (256, 256)
            assert dataset.compression.name == "deflate"
            assert dataset.res == (resolution, resolution)
            assert dataset.nodata == 0
            assert dataset.dtypes[0] == ("uint8" if key == "SCL" else "uint16")
            assert dataset.crs.to_epsg() == 32648
            assert dataset.transform.c % 20 == 0
            assert dataset.transform.f % 20 == 0
            asset = item.assets[key].to_dict()
            assert asset["proj:shape"] == [dataset.height, dataset.width]
            assert Affine(*asset["proj:transform"][:6]) == dataset.transform
            assert asset["proj:code"] == "EPSG:32648"
            assert asset["roles"] == ["data"]


def test_item_fields_the_pipeline_relies_on(small_region: Region) -> None:
    for item in small_region.items():
        properties = item.properties
        assert item.datetime is not None
        assert item.datetime.tzinfo is not None
        assert dt.time(3, 25) <= item.datetime.time() <= dt.time(3, 30)
        created = pd.Timestamp(properties["created"])
        assert (
            dt.timedelta(hours=20)
            <= created - pd.Timestamp(item.datetime)
            <= dt.timedelta(hours=30)
        )
        assert properties["s2:mgrs_tile"] == "48PWS"
        assert properties["proj:code"] == "EPSG:32648"
        assert 0.0 <= properties["eo:cloud_cover"] <= 100.0
        assert item.get_collection() is not None
        assert item.collection_id == "sentinel-2-l2a"


def test_offset_follows_the_processing_baseline(small_region: Region) -> None:
    items = small_region.items()
    before = [i for i in items if i.datetime and i.datetime.date() < dt.date(2022, 1, 25)]
    after = [i for i in items if i.datetime and i.datetime.date() >= dt.date(2022, 1, 25)]
    assert before
    assert after
    assert {i.properties["s2:processing_baseline"] for i in before} == {"03.01"}
    assert {i.properties["s2:processing_baseline"] for i in after} == {"04.00", "05.09"}
    for item, offset in ((before[0], 0.0), (after[0], -0.1)):
        raster = item.assets["B04"].to_dict()["raster:bands"][0]
        assert raster["offset"] == pytest.approx(offset)
        assert raster["scale"] == pytest.approx(0.0001)
        assert raster["nodata"] == 0
        assert raster["data_type"] == "uint16"
        eo = item.assets["B04"].to_dict()["eo:bands"][0]
        assert (eo["name"], eo["common_name"]) == ("B04", "red")
    # The same canal water reads the same reflectance on either side of the change.
    water = [np.nanmedian(_reflectance(i, "B8A")[_scl(i) == 6]) for i in (before[0], after[0])]
    assert water[0] == pytest.approx(water[1], abs=0.03)
    assert 0.0 < water[1] < 0.12


@cache
def _parcel_labels(
    root: Path, resolution: int, shape: tuple[int, int], transform: Affine
) -> npt.NDArray[np.int32]:
    """Parcel number + 1 on pixels well inside parcels (inward buffer of 0.75 pixel)."""
    parcels = gpd.read_file(root / "parcels.gpkg", layer="parcels")
    inner = parcels.geometry.buffer(-0.75 * resolution)
    shapes = [(g, i + 1) for i, g in enumerate(inner) if not g.is_empty]
    return rasterize(shapes, out_shape=shape, transform=transform, dtype="int32")  # type: ignore[no-any-return]


def _parcel_medians(region: Region, item: pystac.Item) -> pd.DataFrame:
    """Per parcel: median NDVI (10 m) and LSWI (20 m) over clear-sky pixels."""
    clear_20m = clear_sky_mask(_scl(item))
    clear_10m = clear_20m.repeat(2, axis=0).repeat(2, axis=1)
    values = {
        "ndvi": (ndvi(_reflectance(item, "B08"), _reflectance(item, "B04")), clear_10m, 10),
        "lswi": (lswi(_reflectance(item, "B8A"), _reflectance(item, "B11")), clear_20m, 20),
    }
    columns = {}
    for name, (index, clear, resolution) in values.items():
        transform = Affine(
            *item.assets["B04" if resolution == 10 else "B8A"].to_dict()["proj:transform"][:6]
        )
        labels = _parcel_labels(region.root, resolution, index.shape, transform)
        usable = (labels > 0) & clear & np.isfinite(index)
        series = pd.Series(index[usable]).groupby(labels[usable] - 1)
        columns[name] = series.median().where(series.size() >= 2)
    return pd.DataFrame(columns)


@pytest.fixture(scope="module")
def observed_stages(small_region: Region, small_world: DemoWorld) -> pd.DataFrame:
    """Clear-sky parcel medians with each parcel's crop stage on the scene date."""
    frames = []
    for item in small_region.items():
        assert item.datetime is not None
        day = small_world.day_index(item.datetime.date())
        medians = _parcel_medians(small_region, item)
        parcels = medians.index.to_numpy()
        state = small_world.parcel_state
        medians["since_sowing"] = state.days_since_sowing[day, parcels]
        medians["since_harvest"] = state.days_since_harvest[day, parcels]
        medians["to_sowing"] = state.days_to_sowing[day, parcels]
        medians["month"] = item.datetime.month
        frames.append(medians)
    return pd.concat(frames)


def test_canopy_ndvi_near_heading_is_dense(observed_stages: pd.DataFrame) -> None:
    heading = observed_stages[observed_stages["since_sowing"].between(60, 70)]["ndvi"].dropna()
    assert len(heading) > 100
    assert 0.75 <= heading.median() <= 0.9
    assert heading.between(0.7, 0.92).mean() > 0.9


def test_flooded_paddy_before_sowing_is_water_not_canopy(observed_stages: pd.DataFrame) -> None:
    flooded = observed_stages[
        (observed_stages["since_sowing"] < 0) & observed_stages["to_sowing"].between(1, 8)
    ].dropna()
    assert len(flooded) > 30
    assert (flooded["ndvi"] < 0.25).mean() > 0.95
    assert (flooded["lswi"] > flooded["ndvi"]).mean() > 0.95


def test_bare_stubble_after_a_dry_season_harvest(observed_stages: pd.DataFrame) -> None:
    bare = observed_stages[
        observed_stages["since_harvest"].between(5, 25)
        & (observed_stages["to_sowing"] > 10)
        & observed_stages["month"].isin([12, 1, 2, 3, 4])
    ]["ndvi"].dropna()
    assert len(bare) > 30
    assert 0.1 <= bare.median() <= 0.25
    assert bare.between(0.1, 0.25).mean() > 0.9


def test_wet_season_is_cloudy_and_dry_season_clear(small_region: Region) -> None:
    rows = []
    for item in small_region.items():
        assert item.datetime is not None
        scl = _scl(item)
        valid = scl != 0
        flagged = np.isin(scl[valid], CLOUD_CLASSES).mean()
        rows.append((item.datetime.month, item.properties["eo:cloud_cover"] / 100.0, flagged))
    table = pd.DataFrame(rows, columns=["month", "true_cloud", "scl_cloud"])
    wet = table[table["month"].between(5, 10)]
    dry = table[table["month"].isin([12, 1, 2, 3, 4])]
    assert wet["true_cloud"].mean() > 0.5
    assert dry["true_cloud"].mean() < 0.3
    assert wet["scl_cloud"].mean() > 0.45
    assert dry["scl_cloud"].mean() < 0.3
    # SCL misses some thin cloud: it never flags more than the truth
    assert (table["scl_cloud"] <= table["true_cloud"] + 0.01).all()


def test_shadows_are_flagged_and_darker(small_region: Region) -> None:
    items = [i for i in small_region.items() if 20 < i.properties["eo:cloud_cover"] < 70]
    darker = []
    for item in items[:8]:
        scl = _scl(item)
        nir = _reflectance(item, "B8A")
        shadow, vegetation = scl == 3, scl == 4
        if shadow.sum() > 20 and vegetation.sum() > 20:
            darker.append(np.nanmedian(nir[shadow]) < 0.7 * np.nanmedian(nir[vegetation]))
    assert darker
    assert np.mean(darker) > 0.8


def test_cloud_layers_leave_thin_edges_unflagged_and_offset_shadows() -> None:
    plan = CloudPlan(
        cloud_fraction=0.4,
        cirrus_fraction=0.3,
        blob_scale_px=8.0,
        shadow_offset_px=(-20, 25),
        swath_edge=None,
        haze=0.1,
    )
    layers = cloud_layers(plan, (200, 220), np.random.default_rng(3))
    cloudy = layers.opacity >= 0.05
    unflagged = cloudy & (layers.opacity < 0.25)
    assert 0.4 * 0.8 < cloudy.mean() < 0.4 * 1.05
    assert 0.01 < unflagged.sum() / cloudy.sum() < 0.2
    assert 0.0 < layers.cirrus.max() <= 0.3
    # the shadow field is the cloud field displaced by the offset
    np.testing.assert_allclose(layers.shadow[40:, :150], layers.opacity[20:-20, 25:175])


def test_swath_edge_cuts_a_tilted_strip_on_one_side() -> None:
    strip = swath_nodata((0.25, True), (100, 120))
    assert 0.2 < strip.mean() < 0.3
    assert strip[:, 0].all()
    assert not strip[:, -1].any()
    assert not swath_nodata(None, (10, 10)).any()


def test_nodata_pixels_are_zero_in_every_band(small_region: Region) -> None:
    for item in small_region.items():
        scl = _scl(item)
        if (scl == 0).any():
            nodata_20m = scl == 0
            with rasterio.open(_asset_path(item, "B11")) as dataset:
                assert (dataset.read(1)[nodata_20m] == 0).all()
            with rasterio.open(_asset_path(item, "B04")) as dataset:
                values = dataset.read(1)
            assert (values == 0).mean() == pytest.approx(nodata_20m.mean(), abs=0.02)
        else:
            with rasterio.open(_asset_path(item, "B04")) as dataset:
                assert (dataset.read(1) > 0).all()
