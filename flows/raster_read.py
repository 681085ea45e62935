"""The one module that reads rasters: STAC scene assets onto an analysis grid.

Each asset is opened (local path or URL, through GDAL's COG-aware HTTP reader) and warped with
nearest-neighbour resampling onto the grid, with the grid's CRS and transform always given
explicitly. Nearest keeps SCL classes and DN 0 (nodata) exact and puts 20 m bands on a 10 m grid
by repeating pixels. GDAL only fetches the COG blocks under the grid, so a small grid over a
whole tile reads a few blocks, not the tile.

DN → reflectance happens through :func:`features.reflectance.dn_to_reflectance` with the
scene's ``boa_offset_dn`` and nowhere else. Failures raise :class:`SceneReadError` naming the
item, asset and href; a grid that misses an asset entirely is not a failure but reads as all
nodata (NaN reflectance, SCL 0), so a solar day's mosaic can fill it from another tile.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import CRSError, RasterioError
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds

from pestcast.core.errors import ConfigError, DataError, SceneReadError
from pestcast.features.reflectance import dn_to_reflectance
from pestcast.flows.stac_search import SceneRef

__all__ = [
    "DEFAULT_GDAL_OPTIONS",
    "AnalysisGrid",
    "SceneArrays",
    "analysis_grid",
    "check_projected_crs",
    "mosaic_solar_day",
    "read_scene",
    "read_solar_day",
]

SCL_BAND = "scl"
"""Logical name of the scene classification layer: always read, never converted."""

DEFAULT_GDAL_OPTIONS: Mapping[str, str | int] = {
    "GDAL_HTTP_TIMEOUT": 30,  # seconds per request; Prefect cannot time out sync tasks
    "GDAL_HTTP_CONNECTTIMEOUT": 10,
    "GDAL_HTTP_MAX_RETRY": 3,  # retries 429/5xx with the delay below, doubling
    "GDAL_HTTP_RETRY_DELAY": 1,
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",  # no directory listing per COG over HTTP
    "GDAL_HTTP_MULTIRANGE": "YES",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "VSI_CACHE": "TRUE",
}
"""GDAL settings for every read; ``read_scene(gdal_options=...)`` overrides single keys."""

SignHref = Callable[[str], str]


@dataclasses.dataclass(frozen=True)
class AnalysisGrid:
    """The pixel grid every scene is read onto."""

    crs: str
    """CRS of the grid, e.g. ``"EPSG:32648"``."""
    transform: Affine
    """Affine transform of the top-left pixel corner (north-up)."""
    shape: tuple[int, int]
    """(rows, cols)."""

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in grid CRS units."""
        rows, cols = self.shape
        t = self.transform
        west, north = t.c, t.f
        east, south = t.c + cols * t.a, t.f + rows * t.e
        return (min(west, east), min(south, north), max(west, east), max(south, north))


@dataclasses.dataclass(frozen=True)
class SceneArrays:
    """One scene (or one solar day's mosaic) on an analysis grid."""

    reflectance: dict[str, npt.NDArray[np.float32]]
    """Logical band → surface reflectance (0–1, float32, NaN where nodata), shape (rows, cols)."""
    scl: npt.NDArray[np.uint8]
    """Sentinel-2 scene classification (0 where nodata), shape (rows, cols)."""


def analysis_grid(
    bounds: tuple[float, float, float, float], *, crs: str, resolution_m: float = 10.0
) -> AnalysisGrid:
    """A north-up grid of ``resolution_m`` metres covering ``bounds`` (west, south, east, north in
    ``crs``), snapped outward so its origin is a multiple of the resolution, as Sentinel-2 tiles
    are: 10 m and 20 m pixels of the imagery then line up with it exactly."""
    west, south, east, north = (float(v) for v in bounds)
    if not (all(map(math.isfinite, (west, south, east, north))) and west < east and south < north):
        raise ConfigError(f"grid bounds {bounds} are not (west, south, east, north) with area")
    if not resolution_m > 0:
        raise ConfigError(f"grid resolution {resolution_m} m must be positive")
    check_projected_crs(crs, what="grid CRS")
    res = float(resolution_m)
    eps = 1e-9  # absorbs float noise such as 19997.999999999996 for 199980 / 10
    west, south = math.floor(west / res + eps) * res, math.floor(south / res + eps) * res
    east, north = math.ceil(east / res - eps) * res, math.ceil(north / res - eps) * res
    shape = (round((north - south) / res), round((east - west) / res))
    return AnalysisGrid(crs=crs, transform=Affine(res, 0.0, west, 0.0, -res, north), shape=shape)


def read_scene(
    scene: SceneRef,
    grid: AnalysisGrid,
    *,
    bands: Sequence[str],
    sign_href: SignHref | None = None,
    gdal_options: Mapping[str, str | int] | None = None,
) -> SceneArrays:
    """Read ``bands`` (logical names) and SCL of ``scene`` onto ``grid`` as reflectance.

    ``scl`` is always read; listing it in ``bands`` is allowed. ``sign_href`` is called on each
    href right before it is opened (Planetary Computer: ``planetary_computer.sign``); the
    unsigned href is what error messages show. Raises SceneReadError naming item, asset and href.
    """
    wanted = [band for band in dict.fromkeys(bands) if band != SCL_BAND]
    _check_bands(scene, [*wanted, SCL_BAND])
    options = {**DEFAULT_GDAL_OPTIONS, **(gdal_options or {})}
    with rasterio.Env(**options):
        reflectance = {
            band: dn_to_reflectance(
                _read_asset(scene, band, grid, sign_href), offset_dn=scene.boa_offset_dn
            )
            for band in wanted
        }
        scl = _read_asset(scene, SCL_BAND, grid, sign_href).astype(np.uint8)
    return SceneArrays(reflectance=reflectance, scl=scl)


def read_solar_day(
    scenes: Sequence[SceneRef],
    grid: AnalysisGrid,
    *,
    bands: Sequence[str],
    sign_href: SignHref | None = None,
    gdal_options: Mapping[str, str | int] | None = None,
) -> SceneArrays:
    """Read the items of one solar day (in the given order) and mosaic them on ``grid``.

    Stops reading once every pixel has data, so a grid inside one tile reads one item.
    """
    if not scenes:
        raise DataError("read_solar_day needs at least one scene; group_by_solar_day gives lists")
    options: dict[str, Any] = {"bands": bands, "sign_href": sign_href, "gdal_options": gdal_options}
    mosaic = read_scene(scenes[0], grid, **options)
    for scene in scenes[1:]:
        if _valid_pixels(mosaic).all():
            break
        mosaic = mosaic_solar_day([mosaic, read_scene(scene, grid, **options)])
    return mosaic


def mosaic_solar_day(layers: Sequence[SceneArrays]) -> SceneArrays:
    """Combine layers of one solar day: each pixel comes whole from the first layer where it is
    valid (SCL not 0 and every band finite), so bands and SCL of a pixel share one source."""
    first, *rest = layers
    reflectance = {band: values.copy() for band, values in first.reflectance.items()}
    scl = first.scl.copy()
    filled = _valid_pixels(first)
    for layer in rest:
        take = _valid_pixels(layer) & ~filled
        scl[take] = layer.scl[take]
        for band, values in reflectance.items():
            values[take] = layer.reflectance[band][take]
        filled |= take
    return SceneArrays(reflectance=reflectance, scl=scl)


def _valid_pixels(arrays: SceneArrays) -> npt.NDArray[np.bool_]:
    valid = np.not_equal(arrays.scl, 0)
    for values in arrays.reflectance.values():
        valid &= np.isfinite(values)
    return valid


def check_projected_crs(crs: str, *, what: str) -> None:
    """Refuse a CRS that pyproj does not know or that is not projected (metres)."""
    try:
        parsed = CRS.from_user_input(crs)
    except CRSError as error:
        raise ConfigError(f"{what} {crs!r} is not a CRS: {error}") from error
    if not parsed.is_projected:
        raise ConfigError(
            f"{what} {crs!r} is not projected; use a metric CRS such as the UTM zone "
            "(e.g. EPSG:32648) so distances and resolutions are in metres"
        )


def _check_bands(scene: SceneRef, bands: Sequence[str]) -> None:
    missing = [band for band in bands if band not in scene.asset_hrefs]
    lacking = {band: scene.missing_assets[band] for band in missing if band in scene.missing_assets}
    if lacking:
        assets = ", ".join(f"{key!r} (band {band!r})" for band, key in lacking.items())
        raise SceneReadError(
            f"item {scene.item_id} has no asset {assets}, though other items of the source "
            "have it: the provider's item is incomplete; imagery.on_read_error: skip leaves this "
            "scene out, raise stops here"
        )
    if missing:
        raise SceneReadError(
            f"item {scene.item_id} has no asset for band(s) {missing} (it has "
            f"{sorted(scene.asset_hrefs)}); add them to sources.stac.asset_keys"
        )


def _read_asset(
    scene: SceneRef, band: str, grid: AnalysisGrid, sign_href: SignHref | None
) -> npt.NDArray[Any]:
    href = scene.asset_hrefs[band]
    url = _signed(scene, band, href, sign_href)
    try:
        with rasterio.open(url) as source:
            return _warp_to_grid(source, grid)
    except (RasterioError, OSError) as error:
        detail = str(error).replace(url, href)  # never log a signed URL's token
        raise SceneReadError(
            f"cannot read asset {band!r} of item {scene.item_id} from {href}: {detail}; check "
            "that the file exists and is a GeoTIFF (for URLs: the network, and that "
            "Planetary Computer hrefs are signed with sign_href)"
        ) from error


def _signed(scene: SceneRef, band: str, href: str, sign_href: SignHref | None) -> str:
    if sign_href is None:
        return href
    try:
        return sign_href(href)
    except Exception as error:  # the hook is the caller's: any failure is a failed read
        raise SceneReadError(
            f"cannot sign the href of asset {band!r} of item {scene.item_id} ({href}): {error}"
        ) from error


def _warp_to_grid(source: DatasetReader, grid: AnalysisGrid) -> npt.NDArray[Any]:
    """Band 1 of ``source`` on ``grid`` (nearest); 0 wherever the source has no data."""
    if not _overlaps(source, grid):
        return np.zeros(grid.shape, dtype=source.dtypes[0])
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


def _overlaps(source: DatasetReader, grid: AnalysisGrid) -> bool:
    west, south, east, north = transform_bounds(grid.crs, source.crs, *grid.bounds, densify_pts=21)
    left, bottom, right, top = source.bounds
    return bool(west < right and east > left and south < top and north > bottom)
