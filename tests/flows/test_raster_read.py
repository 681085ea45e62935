"""read_scene on real Sentinel-2 L2A COGs (tile 29RKH, cropped), checked against plain rasterio."""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pystac
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from pestcast.core.errors import ConfigError, SceneReadError
from pestcast.flows.raster_read import (
    AnalysisGrid,
    SceneArrays,
    analysis_grid,
    mosaic_solar_day,
    read_scene,
    read_solar_day,
)
from pestcast.flows.stac_search import SceneRef, scene_from_item
from tests.flows.stac_api_server import RecordedStacApi

TILE = Path(__file__).resolve().parents[1] / "data" / "s2_l2a_29RKH_20200219"
ES_KEYS = {
    band: band
    for band in ("blue", "green", "red", "rededge1", "nir", "nir08", "swir16", "swir22", "scl")
}
BANDS = ("blue", "red", "rededge1", "nir", "nir08", "swir16", "scl")
FILE_OF = {"blue": "B02", "red": "B04", "rededge1": "B05", "nir": "B08", "nir08": "B8A"}


def real_scene() -> SceneRef:
    """The real 29RKH item with its asset hrefs pointed at the cropped local COGs."""
    item = pystac.Item.from_dict(json.loads((TILE / "S2A_29RKH_20200219_0_L2A.json").read_text()))
    item.clear_links()
    for key in ES_KEYS:
        item.assets[key].href = str(TILE / Path(item.assets[key].href).name)
    return scene_from_item(item, asset_keys=ES_KEYS)


def dn(band: str) -> tuple[npt.NDArray[np.uint16], Affine]:
    """Independent plain-rasterio read of a whole cropped asset."""
    with rasterio.open(TILE / f"{FILE_OF[band]}.tif") as source:
        return source.read(1), source.transform


def native_grid() -> AnalysisGrid:
    """The 100 m grid of the (downsampled ×10) 10 m bands: the 20 m bands are 200 m here."""
    with rasterio.open(TILE / "B02.tif") as source:
        return AnalysisGrid(crs="EPSG:32629", transform=source.transform, shape=source.shape)


@pytest.fixture(scope="module")
def scene() -> SceneRef:
    return real_scene()


@pytest.fixture(scope="module")
def full(scene: SceneRef) -> SceneArrays:
    return read_scene(scene, native_grid(), bands=BANDS)


def test_scene_metadata_from_the_real_item(scene: SceneRef) -> None:
    assert scene.boa_offset_dn == 0.0  # baseline 02.14, Earth Search says offset not applied
    assert scene.crs == "EPSG:32629"


def test_reflectance_is_dn_plus_offset_over_10000_at_sampled_pixels(scene: SceneRef) -> None:
    offset_scene = dataclasses.replace(scene, boa_offset_dn=-1000.0)
    grid = native_grid()
    arrays = read_scene(scene, grid, bands=["blue", "nir"])
    shifted = read_scene(offset_scene, grid, bands=["blue", "nir"])
    rng = np.random.default_rng(7)
    rows, cols = rng.integers(0, 300, size=(2, 200))
    for band in ("blue", "nir"):
        with rasterio.open(TILE / f"{FILE_OF[band]}.tif") as source:
            for row, col in zip(rows, cols, strict=True):
                value = int(source.read(1, window=Window(col, row, 1, 1))[0, 0])
                assert arrays.reflectance[band][row, col] == np.float32(value / 10000)
                assert shifted.reflectance[band][row, col] == np.float32((value - 1000) / 10000)
    assert arrays.reflectance["blue"].dtype == np.float32


def test_nodata_outside_the_tile_is_nan_with_scl_zero(scene: SceneRef) -> None:
    # The crop touches the tile's north edge: 20 px more to the north and west is outside it.
    grid = native_grid()
    shifted = grid.transform @ Affine.translation(-20, -20)
    padded = AnalysisGrid(grid.crs, shifted, (320, 320))

    arrays = read_scene(scene, padded, bands=["blue", "rededge1"])

    values, _ = dn("blue")
    expected = np.zeros((320, 320), dtype=values.dtype)
    expected[20:, 20:] = values
    np.testing.assert_array_equal(np.isnan(arrays.reflectance["blue"]), expected == 0)
    assert np.isnan(arrays.reflectance["rededge1"][:20]).all()
    assert np.isnan(arrays.reflectance["rededge1"][:, :20]).all()
    assert not np.isnan(arrays.reflectance["rededge1"][20:, 20:]).any()
    assert (arrays.scl[:20] == 0).all()
    assert (arrays.scl[20:, 20:] != 0).all()


def test_window_read_equals_full_read_then_slice(scene: SceneRef, full: SceneArrays) -> None:
    grid = native_grid()
    window = grid.transform @ Affine.translation(91, 37)
    part = read_scene(scene, AnalysisGrid(grid.crs, window, (100, 120)), bands=BANDS)

    for band in full.reflectance:
        np.testing.assert_array_equal(
            part.reflectance[band], full.reflectance[band][37:137, 91:211], err_msg=band
        )
    np.testing.assert_array_equal(part.scl, full.scl[37:137, 91:211])


def test_20m_bands_and_scl_land_on_the_10m_grid_by_nearest(full: SceneArrays) -> None:
    red_edge, _ = dn("rededge1")
    with rasterio.open(TILE / "SCL.tif") as source:
        scl = source.read(1)

    def doubled(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return np.repeat(np.repeat(values, 2, axis=0), 2, axis=1)

    np.testing.assert_array_equal(full.reflectance["rededge1"], doubled(red_edge) / np.float32(1e4))
    np.testing.assert_array_equal(full.scl, doubled(scl))
    assert set(np.unique(full.scl)) == {5, 8, 9, 10}  # real classes only, none interpolated


def pixel_centres(grid: AnalysisGrid) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """x, y of every grid pixel centre (north-up grid)."""
    rows, cols = np.indices(grid.shape, dtype=np.float64)
    t = grid.transform
    return t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e


def values_under(
    values: npt.NDArray[np.uint16],
    transform: Affine,
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Reflectance of the source pixel containing each point, and whether it is inside."""
    col = np.floor((x - transform.c) / transform.a).astype(int)
    row = np.floor((y - transform.f) / transform.e).astype(int)
    inside = (row >= 0) & (row < values.shape[0]) & (col >= 0) & (col < values.shape[1])
    picked = values[np.clip(row, 0, values.shape[0] - 1), np.clip(col, 0, values.shape[1] - 1)]
    return picked / np.float32(1e4), inside


def test_grid_off_the_pixel_lattice_takes_the_pixel_under_each_centre(scene: SceneRef) -> None:
    # analysis_grid snaps to multiples of 100 m; these pixels start at 277980: 80 m apart.
    bounds = (278500.0, 2771000.0, 306000.0, 2799000.0)
    grid = analysis_grid(bounds, crs="EPSG:32629", resolution_m=100)
    values, transform = dn("blue")

    arrays = read_scene(scene, grid, bands=["blue"])

    expected, inside = values_under(values, transform, *pixel_centres(grid))
    assert inside.all()
    np.testing.assert_array_equal(arrays.reflectance["blue"], expected)


def test_grid_in_the_neighbouring_utm_zone_is_warped(scene: SceneRef) -> None:
    # The whole crop, seen from zone 28N: the grid is rotated against the tile's pixels, so
    # its corners fall outside the data.
    crop = (277980.0, 2770020.0, 307980.0, 2800020.0)
    bounds = transform_bounds("EPSG:32629", "EPSG:32628", *crop)
    grid = analysis_grid(bounds, crs="EPSG:32628", resolution_m=50)
    values, transform = dn("nir")

    arrays = read_scene(scene, grid, bands=["nir"])

    x, y = pixel_centres(grid)
    to_29 = Transformer.from_crs("EPSG:32628", "EPSG:32629", always_xy=True)
    expected, inside = values_under(values, transform, *to_29.transform(x, y))
    assert 0.8 < inside.mean() < 0.95
    nir = arrays.reflectance["nir"]
    # GDAL's approximate transformer (error ≤ 1/8 pixel) may pick the neighbour of a pixel
    # whose centre lies that close to a source pixel edge: measured 98.7–99.1 % identical.
    assert np.mean(nir[inside] == expected[inside]) > 0.98
    assert np.mean(np.isnan(nir[~inside])) > 0.99
    assert np.mean(np.isnan(nir[inside])) < 0.01


def test_grid_that_misses_the_asset_reads_as_nodata(scene: SceneRef) -> None:
    far = analysis_grid((500000.0, 2700000.0, 501000.0, 2701000.0), crs="EPSG:32629")

    arrays = read_scene(scene, far, bands=["blue", "swir16"])

    assert np.isnan(arrays.reflectance["blue"]).all()
    assert np.isnan(arrays.reflectance["swir16"]).all()
    assert arrays.scl.shape == (100, 100)
    assert (arrays.scl == 0).all()
    assert arrays.scl.dtype == np.uint8


def test_missing_file_names_item_asset_and_href(scene: SceneRef, tmp_path: Path) -> None:
    missing = str(tmp_path / "gone" / "B05.tif")
    broken = dataclasses.replace(scene, asset_hrefs={**scene.asset_hrefs, "rededge1": missing})

    with pytest.raises(SceneReadError) as raised:
        read_scene(broken, native_grid(), bands=["blue", "rededge1"])

    message = str(raised.value)
    assert "'rededge1'" in message
    assert "S2A_29RKH_20200219_0_L2A" in message
    assert missing in message


def test_band_without_an_asset_fails_before_reading(scene: SceneRef) -> None:
    with pytest.raises(SceneReadError, match=r"no asset for band\(s\) \['coastal'\]"):
        read_scene(scene, native_grid(), bands=["coastal"])


def test_hrefs_are_signed_right_before_reading_and_never_shown(scene: SceneRef) -> None:
    unsigned = {band: f"https://example.invalid/{band}.tif" for band in scene.asset_hrefs}
    remote = dataclasses.replace(scene, asset_hrefs=unsigned)
    local = {href: scene.asset_hrefs[band] for band, href in unsigned.items()}
    signed: list[str] = []

    def sign(href: str) -> str:
        signed.append(href)
        return local[href]

    arrays = read_scene(remote, native_grid(), bands=["red"], sign_href=sign)

    assert sorted(signed) == sorted([unsigned["red"], unsigned["scl"]])  # once per asset
    assert not np.isnan(arrays.reflectance["red"]).any()

    def sign_with_token(href: str) -> str:
        return local[href] + ".token-SECRET"

    with pytest.raises(SceneReadError) as raised:
        read_scene(remote, native_grid(), bands=["red"], sign_href=sign_with_token)
    assert "SECRET" not in str(raised.value)
    assert unsigned["red"] in str(raised.value)


def test_read_solar_day_stops_once_the_grid_is_covered(scene: SceneRef) -> None:
    reads: list[str] = []

    def count(href: str) -> str:
        reads.append(href)
        return href

    second = dataclasses.replace(scene, item_id="second-tile")
    read_solar_day([scene, second], native_grid(), bands=["red"], sign_href=count)
    assert len(reads) == 2  # red + scl of the first item only

    reads.clear()
    padded = AnalysisGrid(
        "EPSG:32629", native_grid().transform @ Affine.translation(-5, 0), (300, 305)
    )
    day = read_solar_day([scene, second], padded, bands=["red"], sign_href=count)
    assert len(reads) == 4  # the first item leaves a gap, so the second is read too
    assert np.isnan(day.reflectance["red"][:, :5]).all()  # neither covers it


def as_bytes(arrays: SceneArrays) -> dict[str, bytes]:
    return {
        **{band: values.tobytes() for band, values in arrays.reflectance.items()},
        "scl": arrays.scl.tobytes(),
    }


@pytest.mark.parametrize("workers", [2, 4, 8])
def test_concurrent_reads_are_byte_identical_to_sequential_reads(
    scene: SceneRef, tmp_path: Path, workers: int
) -> None:
    """Over HTTP with range requests (each read from its own copy of the COGs, so GDAL's
    cache cannot answer the second) and from local files."""
    for copy in ("one-by-one", "at-once"):
        shutil.copytree(TILE, tmp_path / copy)
    grid = native_grid()
    with RecordedStacApi([], files=tmp_path) as api:

        def served(copy: str) -> SceneRef:
            hrefs = {
                band: f"{api.url}/files/{copy}/{Path(href).name}"
                for band, href in scene.asset_hrefs.items()
            }
            return dataclasses.replace(scene, asset_hrefs=hrefs)

        threads: set[str] = set()

        def note_thread(href: str) -> str:
            threads.add(threading.current_thread().name)
            return href

        one_by_one = read_scene(served("one-by-one"), grid, bands=BANDS, max_concurrent_reads=1)
        at_once = read_scene(
            served("at-once"),
            grid,
            bands=BANDS,
            max_concurrent_reads=workers,
            sign_href=note_thread,
        )
        assert api.requests["/files"] >= 2 * 2 * len(BANDS)  # both really came over HTTP

    local = read_scene(scene, grid, bands=BANDS, max_concurrent_reads=workers)
    assert as_bytes(at_once) == as_bytes(one_by_one) == as_bytes(local)
    assert len(threads) > 1
    assert all(name.startswith("pestcast-read") for name in threads)


def test_the_first_failing_band_in_order_is_reported_under_concurrency(
    scene: SceneRef, tmp_path: Path
) -> None:
    gone = {band: str(tmp_path / f"{band}.tif") for band in ("nir", "swir16")}
    broken = dataclasses.replace(scene, asset_hrefs={**scene.asset_hrefs, **gone})

    for _ in range(3):
        with pytest.raises(SceneReadError, match="asset 'nir'"):
            read_scene(broken, native_grid(), bands=BANDS, max_concurrent_reads=4)


def test_the_scene_says_how_many_bands_are_read_at_once(scene: SceneRef) -> None:
    threads: set[str] = set()

    def note_thread(href: str) -> str:
        threads.add(threading.current_thread().name)
        return href

    one_at_a_time = dataclasses.replace(
        scene, access=dataclasses.replace(scene.access, max_concurrent_reads=1)
    )
    read_scene(one_at_a_time, native_grid(), bands=BANDS, sign_href=note_thread)

    assert threads == {threading.current_thread().name}


def test_mosaic_takes_each_pixel_whole_from_the_first_valid_layer() -> None:
    rng = np.random.default_rng(3)
    shape = (4, 6)

    def layer(scl_value: int) -> SceneArrays:
        bands = {b: rng.uniform(0, 0.5, shape).astype(np.float32) for b in ("red", "nir")}
        return SceneArrays(reflectance=bands, scl=np.full(shape, scl_value, dtype=np.uint8))

    first, second, third = layer(4), layer(5), layer(6)
    first.scl[:, :2] = 0  # outside the first tile
    first.reflectance["nir"][3, 5] = np.nan  # a band missing at one pixel
    second.scl[:, 0] = 0

    mosaic = mosaic_solar_day([first, second, third])

    assert (mosaic.scl[:, 0] == 6).all()  # only the third has column 0
    assert (mosaic.scl[:, 1] == 5).all()
    assert mosaic.scl[3, 5] == 5  # the whole pixel comes from the second layer
    np.testing.assert_array_equal(mosaic.reflectance["red"][3, 5], second.reflectance["red"][3, 5])
    np.testing.assert_array_equal(
        mosaic.reflectance["nir"][:3, 2:], first.reflectance["nir"][:3, 2:]
    )
    assert first.scl[0, 0] == 0  # inputs untouched


def test_analysis_grid_snaps_outward_to_the_resolution() -> None:
    grid = analysis_grid((199985.3, 2690221.0, 309779.9, 2800019.2), crs="EPSG:32629")

    assert grid.transform == Affine(10.0, 0.0, 199980.0, 0.0, -10.0, 2800020.0)
    assert grid.shape == (10980, 10980)  # a Sentinel-2 tile at 10 m
    assert grid.bounds == (199980.0, 2690220.0, 309780.0, 2800020.0)
    coarse = analysis_grid(
        (199985.3, 2690221.0, 309779.9, 2800019.2), crs="EPSG:32629", resolution_m=20
    )
    assert coarse.shape == (5490, 5490)


@pytest.mark.parametrize(
    ("bounds", "crs", "resolution", "message"),
    [
        ((10.0, 0.0, 5.0, 10.0), "EPSG:32648", 10.0, "with area"),
        ((0.0, 0.0, 10.0, 10.0), "EPSG:4326", 10.0, "not projected"),
        ((0.0, 0.0, 10.0, 10.0), "EPSG:32648", 0.0, "must be positive"),
        ((0.0, 0.0, 10.0, 10.0), "not-a-crs", 10.0, "is not a CRS"),
    ],
)
def test_analysis_grid_rejects_bad_arguments(
    bounds: tuple[float, float, float, float], crs: str, resolution: float, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        analysis_grid(bounds, crs=crs, resolution_m=resolution)
