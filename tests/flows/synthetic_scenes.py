"""Small real Sentinel-2-like scenes for read tests: COGs written with rasterio, 10 m and 20 m
bands (uint16 DN, 0 nodata) and a 20 m SCL, wrapped in a ``SceneRef`` like a STAC item's."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine

from pestcast.flows.stac_search import SceneRef

CRS = "EPSG:32648"
WEST, NORTH = 600_000.0, 1_200_000.0
"""Origin of every scene here: their pixels share one lattice, as Sentinel-2 tiles of a zone do."""
BANDS_10M = ("blue", "green", "red", "nir")
BANDS_20M = ("rededge1", "nir08", "swir16", "swir22")


def write_cog(
    path: Path,
    values: npt.NDArray[Any],
    resolution: float,
    *,
    nodata: float | None = 0,
    crs: str = CRS,
    origin: tuple[float, float] = (WEST, NORTH),
) -> Path:
    """A real COG (16-pixel blocks, deflate, overviews) with its first pixel's corner at
    ``origin``."""
    rows, cols = values.shape
    profile: dict[str, Any] = {
        "driver": "COG",
        "dtype": values.dtype.name,
        "count": 1,
        "width": cols,
        "height": rows,
        "crs": crs,
        "transform": Affine(resolution, 0, origin[0], 0, -resolution, origin[1]),
        "nodata": nodata,
        "blocksize": 16,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(values, 1)
    return path


def write_scene(
    folder: Path,
    *,
    seed: int,
    shape: tuple[int, int] = (70, 90),
    origin: tuple[float, float] = (WEST, NORTH),
    boa_offset_dn: float = 0.0,
    no_data: tuple[slice, slice] | None = None,
    holes: float = 0.01,
    name: str = "",
) -> SceneRef:
    """A scene of ``shape`` 10 m pixels (20 m bands and SCL at half that) at ``origin``.

    DN are random (1–12000) with a fraction ``holes`` of scattered zeros; SCL mixes vegetation,
    water, dark area, cloud and shadow. ``no_data`` (10 m rows, columns; even bounds) is 0 in
    every band and SCL, like the swath edge of a tile.
    """
    rng = np.random.default_rng(seed)
    name = name or f"scene{seed}"
    item_folder = folder / name
    item_folder.mkdir(parents=True, exist_ok=True)
    hrefs = {}
    half = (shape[0] // 2, shape[1] // 2)
    for band in (*BANDS_10M, *BANDS_20M, "scl"):
        coarse = band not in BANDS_10M
        size = half if coarse else shape
        if band == "scl":
            values = rng.choice(np.array([2, 3, 4, 4, 4, 5, 6, 8, 9, 10], np.uint8), size=size)
        else:
            values = rng.integers(1, 12_000, size=size).astype(np.uint16)
            values[rng.random(size) < holes] = 0
        if no_data is not None:
            rows, cols = no_data
            step = 2 if coarse else 1
            values[_scaled(rows, step), _scaled(cols, step)] = 0
        path = item_folder / f"{band}.tif"
        hrefs[band] = str(write_cog(path, values, 20.0 if coarse else 10.0, origin=origin))
    acquired = dt.datetime(2024, 3, 5, 3, 20, tzinfo=dt.UTC)
    return SceneRef(
        item_id=name,
        collection="sentinel-2-l2a",
        acquired_utc=acquired,
        available_utc=acquired + dt.timedelta(hours=6),
        processing_baseline="05.10" if boa_offset_dn else "02.14",
        boa_offset_dn=boa_offset_dn,
        cloud_cover=10.0,
        asset_hrefs=hrefs,
        crs=CRS,
        platform="sentinel-2a",
        solar_day=acquired.date(),
    )


def _scaled(part: slice, step: int) -> slice:
    start = None if part.start is None else part.start // step
    stop = None if part.stop is None else part.stop // step
    return slice(start, stop)
