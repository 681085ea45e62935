"""The one module that reads rasters: STAC scene assets onto an analysis grid.

Each asset is opened (local path or URL, through GDAL's COG-aware HTTP reader) and warped with
nearest-neighbour resampling onto the grid, with the grid's CRS and transform always given
explicitly. Nearest keeps SCL classes and DN 0 (nodata) exact and puts 20 m bands on a 10 m grid
by repeating pixels. GDAL only fetches the COG blocks under the grid, so a small grid over a
whole tile reads a few blocks, not the tile.

The assets of one scene are read concurrently (``SceneRef.access.max_concurrent_reads``: over
HTTP a read waits mostly on round trips) by a thread pool shared by the whole process, so the
bound holds however many scenes are read at once. Each asset is read whole by one thread, so
the arrays are the same, byte for byte, as when the assets are read one after another.

DN → reflectance happens through :func:`features.reflectance.dn_to_reflectance` with the
scene's ``boa_offset_dn`` and nowhere else. Failures raise :class:`SceneReadError` naming the
item, asset and href; a grid that misses an asset entirely is not a failure but reads as all
nodata (NaN reflectance, SCL 0), so a solar day's mosaic can fill it from another tile.

Hrefs of sources that need signing (Planetary Computer) are signed right before each open with
the collection's cached token (``flows.signing``); a failed signed read is retried once with a
new token. Error messages show the unsigned href only.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds

from pestcast.core.errors import ConfigError, DataError, SceneReadError
from pestcast.features.reflectance import dn_to_reflectance
from pestcast.flows.crs import check_projected_crs
from pestcast.flows.signing import CollectionSigner, TokenError, collection_signer
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
"""GDAL settings for every read, set by each reading thread; ``read_scene(gdal_options=...)``
overrides single keys. ``GDAL_CACHEMAX`` is left alone: GDAL's block cache is process-wide
(rasterio sets it with ``GDALSetCacheMax``, so a per-read value would be switched back and forth
by concurrent reads), and every block is decoded once per read anyway
(``bench/results/concurrent_reads.md``)."""

SignHref = Callable[[str], str]

_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}
"""Reading pools by (process id, size): a forked child never inherits its parent's threads."""
_POOLS_LOCK = threading.Lock()


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
    max_concurrent_reads: int | None = None,
) -> SceneArrays:
    """Read ``bands`` (logical names) and SCL of ``scene`` onto ``grid`` as reflectance.

    ``scl`` is always read; listing it in ``bands`` is allowed. ``sign_href`` is called on each
    href right before it is opened; by default the scene's source decides
    (``scene.access.signing``: Planetary Computer SAS tokens). The unsigned href is what error
    messages show. ``max_concurrent_reads`` (default ``scene.access.max_concurrent_reads``)
    assets are read at once. Raises SceneReadError naming item, asset and href (of the first
    band in ``bands`` order that failed).
    """
    wanted = [band for band in dict.fromkeys(bands) if band != SCL_BAND]
    _check_bands(scene, [*wanted, SCL_BAND])
    reader = _AssetReader(
        scene,
        grid,
        sign_href if sign_href is not None else _source_signer(scene),
        {**DEFAULT_GDAL_OPTIONS, **(gdal_options or {})},
    )
    workers = max_concurrent_reads or scene.access.max_concurrent_reads
    *dn, scl = _read_all(reader, [*wanted, SCL_BAND], workers)
    reflectance = {
        band: dn_to_reflectance(values, offset_dn=scene.boa_offset_dn)
        for band, values in zip(wanted, dn, strict=True)
    }
    return SceneArrays(reflectance=reflectance, scl=scl.astype(np.uint8))


def read_solar_day(
    scenes: Sequence[SceneRef],
    grid: AnalysisGrid,
    *,
    bands: Sequence[str],
    sign_href: SignHref | None = None,
    gdal_options: Mapping[str, str | int] | None = None,
    max_concurrent_reads: int | None = None,
) -> SceneArrays:
    """Read the items of one solar day (in the given order) and mosaic them on ``grid``.

    Stops reading once every pixel has data, so a grid inside one tile reads one item. The
    options are those of :func:`read_scene`.
    """
    if not scenes:
        raise DataError("read_solar_day needs at least one scene; group_by_solar_day gives lists")
    options: dict[str, Any] = {
        "bands": bands,
        "sign_href": sign_href,
        "gdal_options": gdal_options,
        "max_concurrent_reads": max_concurrent_reads,
    }
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


def _source_signer(scene: SceneRef) -> CollectionSigner | None:
    return collection_signer(scene.access.signing, scene.collection)


def _read_all(reader: _AssetReader, bands: Sequence[str], workers: int) -> list[npt.NDArray[Any]]:
    """Every band's array, in order; read by a shared pool of ``workers`` threads."""
    if workers <= 1 or len(bands) == 1:
        return [reader.read(band) for band in bands]
    # map() hands results back in order and raises the first failure in that order.
    return list(_pool(workers).map(reader.read, bands))


def _pool(workers: int) -> ThreadPoolExecutor:
    """The process-wide pool of ``workers`` reading threads: its threads (and GDAL's HTTP
    connections, kept per thread) serve every scene, and it bounds concurrent reads. Its tasks
    never submit to it, so it cannot deadlock."""
    key = (os.getpid(), workers)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = ThreadPoolExecutor(workers, thread_name_prefix="pestcast-read")
        return pool


@dataclasses.dataclass(frozen=True)
class _AssetReader:
    """Reads single assets of one scene onto the grid, in whichever thread calls it."""

    scene: SceneRef
    grid: AnalysisGrid
    sign_href: SignHref | None
    gdal_options: Mapping[str, str | int]

    def read(self, band: str) -> npt.NDArray[Any]:
        """The asset of ``band`` on the grid. A read signed with a collection token is retried
        once with a new token: one that expired or was revoked mid-read shows only as a failed
        block read, not as HTTP 403."""
        href = self.scene.asset_hrefs[band]
        # GDAL options set in one thread do not reach another: every reading thread sets them.
        with rasterio.Env(**self.gdal_options):
            try:
                return self._read(band, href)
            except SceneReadError:
                if not isinstance(self.sign_href, CollectionSigner):
                    raise
            return self._read(band, href)

    def _read(self, band: str, href: str) -> npt.NDArray[Any]:
        url = self._signed(band, href)
        try:
            return _open_and_warp(url, self.grid)
        except (RasterioError, OSError) as error:
            if isinstance(self.sign_href, CollectionSigner):
                self.sign_href.forget(url)
            # GDAL's messages repeat the signed URL: chain the error only if nothing was signed.
            raise self._failure(band, href, url, error) from (error if url == href else None)

    def _signed(self, band: str, href: str) -> str:
        if self.sign_href is None:
            return href
        try:
            return self.sign_href(href)
        except TokenError:
            raise  # the signing service, not this scene, is at fault: stop, retry the run later
        except Exception as error:  # the hook is the caller's: any failure is a failed read
            raise SceneReadError(
                f"cannot sign the href of asset {band!r} of item {self.scene.item_id} "
                f"({href}): {error}"
            ) from error

    def _failure(self, band: str, href: str, url: str, error: BaseException) -> SceneReadError:
        detail = str(error) if error.__cause__ is None else f"{error} ({error.__cause__})"
        detail = detail.replace(url, href)  # never log a signed URL's token
        if url != href:
            detail = detail.replace(url.removeprefix(href), "")
        return SceneReadError(
            f"cannot read asset {band!r} of item {self.scene.item_id} from {href}: {detail}; "
            "check that the file exists and is a GeoTIFF (for URLs: the network, and for "
            "sources that need signing: sources.stac.signing)"
        )


def _open_and_warp(url: str, grid: AnalysisGrid) -> npt.NDArray[Any]:
    with rasterio.open(url) as source:
        return _warp_to_grid(source, grid)


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
