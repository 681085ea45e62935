"""Grids on the imagery's pixel lattice are read with plain windowed reads, byte-identical to the
nearest-neighbour WarpedVRT they replace; grids off the lattice are still warped.

Real COGs are written with rasterio (10 m and 20 m, UTM 48N, DN 0 nodata); the reference is a
WarpedVRT set up as ``flows.raster_read`` set it up before the fast path existed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

from pestcast.flows.raster_read import (
    AnalysisGrid,
    SolarDayStrips,
    _lattice,
    _warp_to_grid,
    read_scene,
)
from tests.flows.synthetic_scenes import CRS, NORTH, WEST, write_cog, write_scene

ROWS, COLS = 70, 90
"""The 10 m band's size; the 20 m band covers the same ground with 35 × 45 pixels."""


def dn(shape: tuple[int, int], seed: int, dtype: str = "uint16") -> npt.NDArray[Any]:
    """Random DN with a nodata (0) corner and scattered zeros."""
    rng = np.random.default_rng(seed)
    values = rng.integers(1, 12_000, size=shape).astype(dtype)
    values[rng.random(shape) < 0.05] = 0
    values[: shape[0] // 5, : shape[1] // 4] = 0
    return values


@pytest.fixture(scope="module")
def cogs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("aligned")
    return {
        "10m": write_cog(folder / "b10.tif", dn((ROWS, COLS), 1), 10.0),
        "20m": write_cog(folder / "b20.tif", dn((ROWS // 2, COLS // 2), 2), 20.0),
        "20m, no nodata": write_cog(folder / "n20.tif", dn((35, 45), 3), 20.0, nodata=None),
        "60m scl": write_cog(folder / "scl.tif", dn((12, 15), 4, "uint8"), 60.0),
        "20m, nodata 65535": write_cog(folder / "m20.tif", dn((35, 45), 5), 20.0, nodata=65535),
    }


def warped_reference(source: Any, grid: AnalysisGrid) -> npt.NDArray[Any]:
    """What ``_warp_to_grid`` returned before it had a fast path."""
    rows, cols = grid.shape
    with WarpedVRT(
        source,
        crs=grid.crs,
        transform=grid.transform,
        width=cols,
        height=rows,
        resampling=Resampling.nearest,
        src_nodata=0 if source.nodata is None else source.nodata,
        nodata=0,
    ) as warped:
        return np.asarray(warped.read(1))


def grid_at(
    col: float, row: float, shape: tuple[int, int], resolution: float = 10.0
) -> AnalysisGrid:
    """A grid whose first pixel is ``col``, ``row`` 10 m pixels from the imagery's origin."""
    transform = Affine(resolution, 0, WEST + col * 10.0, 0, -resolution, NORTH - row * 10.0)
    return AnalysisGrid(CRS, transform, shape)


ALIGNED = {
    "the band's own grid": grid_at(0, 0, (ROWS, COLS)),
    "inside, even offset": grid_at(10, 20, (30, 40)),
    "inside, odd offset": grid_at(7, 13, (31, 41)),
    "one pixel": grid_at(9, 5, (1, 1)),
    "over the north-west edge": grid_at(-11, -5, (40, 50)),
    "over the south-east edge": grid_at(61, 49, (40, 50)),
    "around the whole band": grid_at(-3, -7, (ROWS + 15, COLS + 9)),
    "off the band": grid_at(COLS + 5, 0, (10, 10)),
}


@pytest.mark.parametrize("band", ["10m", "20m", "20m, no nodata", "60m scl"])
@pytest.mark.parametrize("where", list(ALIGNED))
def test_aligned_grids_read_byte_identical_to_the_warped_vrt(
    cogs: dict[str, Path], band: str, where: str
) -> None:
    grid = ALIGNED[where]
    with rasterio.open(cogs[band]) as source:
        expected = warped_reference(source, grid)
        got = _warp_to_grid(source, grid)
        if where != "off the band":
            assert _lattice(source, grid) is not None  # the fast path is what ran
    assert got.dtype == expected.dtype
    assert got.shape == grid.shape
    np.testing.assert_array_equal(got, expected)


def test_20m_pixels_are_repeated_two_by_two_with_the_right_phase(cogs: dict[str, Path]) -> None:
    with rasterio.open(cogs["20m"]) as source:
        native = source.read(1)
        got = _warp_to_grid(source, grid_at(7, 13, (4, 4)))
    # Grid rows 13-16 hold source rows 6, 7, 7, 8; grid columns 7-10 source columns 3, 4, 4, 5.
    np.testing.assert_array_equal(got, native[np.ix_([6, 7, 7, 8], [3, 4, 4, 5])])


OFF_LATTICE = {
    "half a pixel off": grid_at(10.5, 20, (30, 40)),
    "a 15 m grid": grid_at(0, 0, (40, 50), resolution=15.0),
    "a 20 m grid over 10 m pixels": grid_at(0, 0, (30, 40), resolution=20.0),
}


@pytest.mark.parametrize("where", list(OFF_LATTICE))
def test_grids_off_the_lattice_are_warped(cogs: dict[str, Path], where: str) -> None:
    grid = OFF_LATTICE[where]
    with rasterio.open(cogs["10m"]) as source:
        assert _lattice(source, grid) is None
        np.testing.assert_array_equal(_warp_to_grid(source, grid), warped_reference(source, grid))


def test_a_source_in_another_crs_is_warped(tmp_path: Path) -> None:
    path = write_cog(tmp_path / "utm47.tif", dn((ROWS, COLS), 6), 10.0, crs="EPSG:32647")
    grid = ALIGNED["inside, odd offset"]  # same numbers, but in zone 48
    with rasterio.open(path) as source:
        assert _lattice(source, grid) is None
        np.testing.assert_array_equal(_warp_to_grid(source, grid), warped_reference(source, grid))


def test_a_source_whose_nodata_is_not_zero_is_warped(cogs: dict[str, Path]) -> None:
    grid = ALIGNED["inside, odd offset"]
    with rasterio.open(cogs["20m, nodata 65535"]) as source:
        assert _lattice(source, grid) is None  # the warper rewrites its valid zeros
        np.testing.assert_array_equal(_warp_to_grid(source, grid), warped_reference(source, grid))


@pytest.mark.parametrize(
    "where", ["inside, odd offset", "over the north-west edge", "half a pixel off (warped)"]
)
def test_strips_and_pixel_samples_are_slices_of_the_whole_read(tmp_path: Path, where: str) -> None:
    grid = {**ALIGNED, "half a pixel off (warped)": OFF_LATTICE["half a pixel off"]}[where]
    scene = write_scene(tmp_path, seed=8)
    bands = ("nir", "red", "rededge1", "swir16")
    whole = read_scene(scene, grid, bands=bands)
    rng = np.random.default_rng(9)
    with SolarDayStrips([scene], grid, bands=bands, max_concurrent_reads=1) as day:
        for start in range(0, grid.shape[0], 7):
            rows = range(start, min(start + 7, grid.shape[0]))
            strip = day.read(rows)
            positions = np.flatnonzero(rng.random(len(rows) * grid.shape[1]) < 0.3)
            sample = day.read(rows, positions)
            for band, values in whole.reflectance.items():
                expected = values[rows.start : rows.stop]
                np.testing.assert_array_equal(strip.reflectance[band], expected, err_msg=band)
                np.testing.assert_array_equal(
                    sample.reflectance[band], expected.ravel()[positions], err_msg=band
                )
            np.testing.assert_array_equal(
                sample.scl, whole.scl[rows.start : rows.stop].ravel()[positions]
            )
