"""The simulated Sentinel-1 RTC collection: revisit, item shape, backscatter by crop state,
speckle statistics, and no change to any other output."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pystac
import pytest
import rasterio
from rasterio.features import rasterize

from pestcast.simulator import DemoWorld, generate_demo_region
from pestcast.simulator.crop_calendar import crop_state
from pestcast.simulator.sar import ENL, NODATA, sar_acquisitions, speckle
from tests.simulator.conftest import Region
from tests.simulator.test_determinism import TINY

INTERIOR_M = 15.0
"""Parcel interiors this far inside the outline hold only pure 10 m pixels of the parcel."""


def radar_items(region: Region) -> list[pystac.Item]:
    catalog = pystac.Catalog.from_file(str(region.root / "stac" / "catalog.json"))
    collection = catalog.get_child("sentinel-1-rtc")
    assert collection is not None
    return sorted(collection.get_items(), key=lambda item: str(item.datetime))


def read(item: pystac.Item, band: str) -> npt.NDArray[np.float32]:
    with rasterio.open(item.assets[band].get_absolute_href()) as source:
        return source.read(1)


def interiors(region: Region) -> tuple[npt.NDArray[np.int32], int]:
    """Label raster (parcel i → i + 1) of the parcels' interiors on the 10 m grid."""
    parcels = gpd.read_file(region.root / "parcels.gpkg", layer="parcels")
    item = radar_items(region)[0]
    with rasterio.open(item.assets["vv"].get_absolute_href()) as source:
        transform, shape = source.transform, source.shape
    shapes = [
        (geometry.buffer(-INTERIOR_M), i + 1)
        for i, geometry in enumerate(parcels.geometry)
        if not geometry.buffer(-INTERIOR_M).is_empty
    ]
    labels = rasterize(shapes, out_shape=shape, transform=transform, fill=0, dtype="int32")
    return labels, len(parcels)


def test_revisit_follows_the_constellation() -> None:
    before = sar_acquisitions(dt.date(2021, 11, 1), dt.date(2021, 12, 31))
    after = sar_acquisitions(dt.date(2022, 1, 1), dt.date(2022, 3, 31))
    with_s1c = sar_acquisitions(dt.date(2025, 4, 1), dt.date(2025, 5, 31))

    assert set(np.diff([d.toordinal() for d, _ in before])) == {6, 12}
    assert {p for d, p in before if d < dt.date(2021, 12, 23)} == {"SENTINEL-1A", "SENTINEL-1B"}
    assert all(p == "SENTINEL-1A" for d, p in before if d >= dt.date(2021, 12, 23))
    assert set(np.diff([d.toordinal() for d, _ in after])) == {12}
    assert set(np.diff([d.toordinal() for d, _ in with_s1c])) == {6}
    assert {p for _, p in with_s1c} == {"SENTINEL-1A", "SENTINEL-1C"}


def test_items_are_shaped_like_planetary_computer_rtc(small_region: Region) -> None:
    items = radar_items(small_region)

    assert len(items) == small_region.manifest["counts"]["sentinel1_scenes"]  # type: ignore[index]
    for item in items:
        assert set(item.assets) == {"vv", "vh"}
        assert item.properties["sar:polarizations"] == ["VV", "VH"]
        assert item.properties["sar:looks_equivalent_number"] == ENL
        assert item.properties["platform"] in {"SENTINEL-1A", "SENTINEL-1B"}
        assert item.common_metadata.created is not None
        assert item.datetime is not None
        assert item.common_metadata.created > item.datetime
        for asset in item.assets.values():
            assert asset.extra_fields["raster:bands"][0]["nodata"] == NODATA
            assert asset.extra_fields["raster:bands"][0]["data_type"] == "float32"
    with rasterio.open(items[0].assets["vh"].get_absolute_href()) as source:
        assert (source.dtypes[0], source.nodata, source.crs.to_epsg()) == ("float32", NODATA, 32648)
        assert source.res == (10.0, 10.0)
        assert source.block_shapes == [(256, 256)]


def test_flooded_parcels_are_darker_than_parcels_at_heading(
    small_region: Region, small_world: DemoWorld
) -> None:
    labels, n_parcels = interiors(small_region)
    power: dict[str, dict[str, list[float]]] = {"flooded": {}, "heading": {}}
    for item in radar_items(small_region):
        assert item.datetime is not None
        day = np.array([small_world.day_index(item.datetime.date())])
        state = crop_state(small_world.calendar, day, fields=slice(0, n_parcels))
        age, to_sowing = state.days_since_sowing[0], state.days_to_sowing[0]
        groups = {
            "flooded": (age < 0) & (to_sowing <= 10) | (age >= 0) & (age < 10),
            "heading": (age >= 55) & (age <= 75),
        }
        for band in ("vv", "vh"):
            values = read(item, band)
            for name, parcels in groups.items():
                pixels = np.isin(labels, np.flatnonzero(parcels) + 1)
                power[name].setdefault(band, []).extend(values[pixels].tolist())
    for band, gap_db in (("vv", 4.0), ("vh", 6.0)):
        flooded = 10 * np.log10(np.mean(power["flooded"][band]))
        heading = 10 * np.log10(np.mean(power["heading"][band]))
        assert len(power["flooded"][band]) > 1000
        assert len(power["heading"][band]) > 1000
        assert flooded < heading - gap_db, (band, flooded, heading)


def test_speckle_has_the_stated_equivalent_number_of_looks(small_region: Region) -> None:
    """Within a parcel's interior every pixel has the same mean power: the pooled variance of
    pixel / parcel mean is 1 / ENL (rounding to 10 bits adds < 0.1 %)."""
    labels, _ = interiors(small_region)
    squares, degrees = 0.0, 0
    for item in radar_items(small_region)[::4]:
        for band in ("vv", "vh"):
            values = read(item, band).astype(np.float64)
            for parcel in np.unique(labels[labels > 0]):
                pixels = values[labels == parcel]
                if pixels.size >= 20:
                    squares += float(((pixels / pixels.mean() - 1.0) ** 2).sum())
                    degrees += pixels.size - 1

    assert degrees > 20_000
    assert 1.0 / (squares / degrees) == pytest.approx(ENL, rel=0.03)


def test_speckle_is_gamma_with_mean_one_and_the_given_looks() -> None:
    mean = np.full(400_000, 0.02)

    noisy = speckle(mean, np.random.default_rng(0)).astype(np.float64)

    assert noisy.dtype == np.float64
    assert noisy.mean() == pytest.approx(0.02, rel=0.005)
    assert noisy.mean() ** 2 / noisy.var() == pytest.approx(ENL, rel=0.02)


def digests(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_the_radar_changes_no_other_output(tmp_path: Path) -> None:
    generate_demo_region(tmp_path / "with", TINY, max_workers=1)
    generate_demo_region(tmp_path / "without", TINY, max_workers=1, sentinel1=False)
    with_radar, without = digests(tmp_path / "with"), digests(tmp_path / "without")

    radar = {name for name in with_radar if name.startswith("stac/sentinel-1-rtc/")}
    listing = {"stac/catalog.json", "MANIFEST.json"}
    assert len(radar) == 3 * 4 + 1  # 4 scenes × (item, vv, vh) + the collection
    assert set(with_radar) - radar == set(without)
    changed = {name for name in without if with_radar[name] != without[name]}
    assert changed == listing  # they list the new collection and count its scenes
    catalog = pystac.Catalog.from_file(str(tmp_path / "with" / "stac" / "catalog.json"))
    assert sorted(child.id for child in catalog.get_children()) == [
        "sentinel-1-rtc",
        "sentinel-2-l2a",
    ]
