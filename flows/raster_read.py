"""The one module that reads rasters: STAC scene assets onto an analysis grid.

Each asset is opened (local path or URL, through GDAL's COG-aware HTTP reader) and warped with
nearest-neighbour resampling onto the grid, with the grid's CRS and transform always given
explicitly. Nearest keeps SCL classes and DN 0 (nodata) exact and puts 20 m bands on a 10 m grid
by repeating pixels. GDAL only fetches the COG blocks under the grid, so a small grid over a
whole tile reads a few blocks, not the tile. An asset on the grid's pixel lattice (same CRS,
pixels the grid's size or a whole multiple of it, origin a whole number of grid pixels away:
Sentinel-2 on a grid snapped to 10 m) skips the warper: a plain windowed read, pixels repeated
for 20 m and 60 m, gives the same array byte for byte at a fraction of the cost.

:class:`SolarDayStrips` reads a solar day a strip of grid rows at a time, each asset opened
once, so memory follows the strip, not the tile; it can read just some pixels of a strip
(the parcels'), gathered from the assets' own resolution.

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
import functools
import math
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import MaskFlags, Resampling
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds

from pestcast.core.errors import ConfigError, DataError, SceneReadError, SourceError
from pestcast.features.reflectance import dn_to_reflectance
from pestcast.flows.crs import check_projected_crs
from pestcast.flows.signing import CollectionSigner, TokenError, collection_signer
from pestcast.flows.stac_search import SceneRef

__all__ = [
    "DEFAULT_GDAL_OPTIONS",
    "AnalysisGrid",
    "SceneArrays",
    "SolarDayStrips",
    "analysis_grid",
    "check_projected_crs",
    "mosaic_solar_day",
    "read_asset_values",
    "read_scene",
    "read_solar_day",
    "scene_block_bytes",
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

_T = TypeVar("_T")

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
    dn = read_asset_values(
        scene,
        grid,
        bands=[*wanted, SCL_BAND],
        sign_href=sign_href,
        gdal_options=gdal_options,
        max_concurrent_reads=max_concurrent_reads,
    )
    reflectance = {
        band: dn_to_reflectance(dn[band], offset_dn=scene.boa_offset_dn) for band in wanted
    }
    return SceneArrays(reflectance=reflectance, scl=dn[SCL_BAND].astype(np.uint8))


def read_asset_values(
    scene: SceneRef,
    grid: AnalysisGrid,
    *,
    bands: Sequence[str],
    sign_href: SignHref | None = None,
    gdal_options: Mapping[str, str | int] | None = None,
    max_concurrent_reads: int | None = None,
) -> dict[str, npt.NDArray[Any]]:
    """The raw values of the ``bands`` assets of ``scene`` on ``grid`` (nearest), unconverted:
    for sources whose assets are physical values already (Sentinel-1 RTC linear gamma0).

    0 wherever an asset has nodata or does not reach; the options and errors are those of
    :func:`read_scene` (no SCL is read).
    """
    wanted = list(dict.fromkeys(bands))
    _check_bands(scene, wanted)
    reader = _asset_reader(scene, grid, sign_href, gdal_options)
    workers = max_concurrent_reads or scene.access.max_concurrent_reads
    return dict(zip(wanted, _read_all(reader, wanted, workers), strict=True))


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


def scene_block_bytes(scene: SceneRef, grid: AnalysisGrid, *, bands: Sequence[str]) -> int:
    """Compressed bytes of the full-resolution blocks of the ``bands`` (and SCL) assets of
    ``scene`` that lie under ``grid`` (TIFF tile byte counts): what reading the scene onto the
    grid fetches, headers and overviews aside. An asset that cannot be opened or does not say
    (not a tiled GeoTIFF) counts 0. Opens each asset again; over HTTP its header is usually
    still in GDAL's cache."""
    reader = _asset_reader(scene, grid, None, None)
    total = 0
    with rasterio.Env(**DEFAULT_GDAL_OPTIONS):
        for band in dict.fromkeys([*bands, SCL_BAND]):
            try:
                with rasterio.open(reader.signed(band, scene.asset_hrefs[band])) as source:
                    total += _block_bytes_under(source, grid)
            except (RasterioError, OSError, KeyError, ValueError):
                continue
    return total


def _block_bytes_under(source: DatasetReader, grid: AnalysisGrid) -> int:
    bounds = transform_bounds(grid.crs, source.crs, *grid.bounds, densify_pts=21)
    window = from_bounds(*bounds, transform=source.transform)
    row0 = max(0, math.floor(window.row_off))
    row1 = min(source.height, math.ceil(window.row_off + window.height))
    col0 = max(0, math.floor(window.col_off))
    col1 = min(source.width, math.ceil(window.col_off + window.width))
    if row0 >= row1 or col0 >= col1:
        return 0
    height, width = source.block_shapes[0]
    return sum(
        source.block_size(1, i, j) or 0
        for i in range(row0 // height, (row1 - 1) // height + 1)
        for j in range(col0 // width, (col1 - 1) // width + 1)
    )


class SolarDayStrips:
    """The items of one solar day opened on ``grid`` and read a strip of grid rows at a time.

    Each asset is opened once, when first needed, and stays open (with GDAL's cache of its
    decoded blocks) until :meth:`close`, so a block shared by two strips decodes once. Every
    strip is mosaicked like :func:`read_solar_day`, whose arrays it gives row for row, byte for
    byte: the items in the given order, each pixel from the first that has it, the next item
    read only while a pixel asked for lacks data. The options are those of :func:`read_scene`.
    """

    def __init__(
        self,
        scenes: Sequence[SceneRef],
        grid: AnalysisGrid,
        *,
        bands: Sequence[str],
        sign_href: SignHref | None = None,
        gdal_options: Mapping[str, str | int] | None = None,
        max_concurrent_reads: int | None = None,
    ) -> None:
        if not scenes:
            raise DataError(
                "SolarDayStrips needs at least one scene; group_by_solar_day gives lists"
            )
        self.bands = [band for band in dict.fromkeys(bands) if band != SCL_BAND]
        for scene in scenes:
            _check_bands(scene, [*self.bands, SCL_BAND])
        self.grid = grid
        self._scenes = [
            _SceneStrips(_asset_reader(scene, grid, sign_href, gdal_options)) for scene in scenes
        ]
        self._workers = max_concurrent_reads or scenes[0].access.max_concurrent_reads

    def read(self, rows: range, positions: npt.NDArray[np.intp] | None = None) -> SceneArrays:
        """Grid ``rows`` of the day's mosaic: arrays of shape (len(rows), columns), or only the
        pixels at flat ``positions`` in the strip (row-major), as 1-D arrays in their order."""
        if not (0 <= rows.start < rows.stop <= self.grid.shape[0]) or rows.step != 1:
            raise DataError(f"rows {rows} are not a strip of the grid's {self.grid.shape[0]} rows")
        width = self.grid.shape[1]
        pixels = None if positions is None else _StripPixels(rows, width, positions)
        mosaic = self._scene_strip(0, rows, pixels)
        for number in range(1, len(self._scenes)):
            if _valid_pixels(mosaic).all():
                break
            mosaic = mosaic_solar_day([mosaic, self._scene_strip(number, rows, pixels)])
        return mosaic

    def _scene_strip(self, number: int, rows: range, pixels: _StripPixels | None) -> SceneArrays:
        scene = self._scenes[number]
        bands = [*self.bands, SCL_BAND]
        if self._workers <= 1:
            *dn, scl = [scene.read(band, rows, pixels) for band in bands]
        else:
            *dn, scl = _map_all(self._workers, lambda band: scene.read(band, rows, pixels), bands)
        offset = scene.reader.scene.boa_offset_dn
        reflectance = {
            band: dn_to_reflectance(values, offset_dn=offset)
            for band, values in zip(self.bands, dn, strict=True)
        }
        return SceneArrays(reflectance=reflectance, scl=scl.astype(np.uint8))

    def close(self) -> None:
        """Close every open asset."""
        for scene in self._scenes:
            scene.close()

    def __enter__(self) -> SolarDayStrips:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class _SceneStrips:
    """The assets of one scene, each opened on the grid when first read and kept open."""

    def __init__(self, reader: _AssetReader) -> None:
        self.reader = reader
        self._open: dict[str, tuple[DatasetReader, _GridAsset]] = {}
        self._urls: dict[str, str] = {}
        """The (signed) URL each open asset was opened with."""

    def read(self, band: str, rows: range, pixels: _StripPixels | None) -> npt.NDArray[Any]:
        """DN of ``band`` on grid ``rows``, or at ``pixels`` of them."""
        return self.reader.retrying(lambda: self._read(band, rows, pixels))

    def _read(self, band: str, rows: range, pixels: _StripPixels | None) -> npt.NDArray[Any]:
        href = self.reader.scene.asset_hrefs[band]
        url = self._urls.get(band) or self.reader.signed(band, href)
        try:
            if band not in self._open:
                source = rasterio.open(url)
                self._urls[band], self._open[band] = (
                    url,
                    (source, _GridAsset(source, self.reader.grid)),
                )
            asset = self._open[band][1]
            return asset.rows(rows) if pixels is None else asset.pixels(pixels)
        except (RasterioError, OSError) as error:
            self._close(band)  # a retry opens it again, with a new token if it is signed
            raise self.reader.failed(band, href, url, error) from (error if url == href else None)

    def _close(self, band: str) -> None:
        self._urls.pop(band, None)
        source, asset = self._open.pop(band, (None, None))
        if asset is not None:
            asset.close()
        if source is not None:
            source.close()

    def close(self) -> None:
        for band in list(self._open):
            self._close(band)


def read_band_strips(
    href: str,
    grid: AnalysisGrid,
    strips: Iterable[tuple[range, npt.NDArray[np.intp] | None]],
) -> Iterator[npt.NDArray[Any]]:
    """Band 1 of the raster at ``href`` on ``grid``, one strip of grid rows at a time.

    For each ``(rows, positions)`` of ``strips`` in turn, yields the values of grid ``rows``
    (shape (len(rows), columns)), or with ``positions`` only those at the flat positions in the
    strip. Values are as :func:`read_scene` reads them before conversion: the raster's own type,
    0 where it has no data. The raster stays open between strips. Raises SourceError naming
    ``href`` if it cannot be read.
    """
    try:
        with rasterio.open(href) as source, _GridAsset(source, grid) as band:
            for rows, positions in strips:
                if positions is None:
                    yield band.rows(rows)
                else:
                    yield band.pixels(_StripPixels(rows, grid.shape[1], positions))
    except (RasterioError, OSError) as error:
        raise SourceError(
            f"cannot read {href}: {error}; check that the file exists and is a GeoTIFF"
        ) from error


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


def _asset_reader(
    scene: SceneRef,
    grid: AnalysisGrid,
    sign_href: SignHref | None,
    gdal_options: Mapping[str, str | int] | None,
) -> _AssetReader:
    """The reader of ``scene``'s assets: signed by ``sign_href``, else as its source says, with
    :data:`DEFAULT_GDAL_OPTIONS` overridden by ``gdal_options``."""
    signer = sign_href if sign_href is not None else _source_signer(scene)
    return _AssetReader(scene, grid, signer, {**DEFAULT_GDAL_OPTIONS, **(gdal_options or {})})


def _source_signer(scene: SceneRef) -> CollectionSigner | None:
    return collection_signer(scene.access.signing, scene.collection)


def _read_all(reader: _AssetReader, bands: Sequence[str], workers: int) -> list[npt.NDArray[Any]]:
    """Every band's array, in order; read by a shared pool of ``workers`` threads."""
    if workers <= 1 or len(bands) == 1:
        return [reader.read(band) for band in bands]
    return _map_all(workers, reader.read, bands)


def _map_all(workers: int, function: Callable[[str], _T], bands: Sequence[str]) -> list[_T]:
    """``function(band)`` for every band on the shared pool, in order. Every call has ended
    before the first failure (in band order) is raised: a caller that then closes the datasets
    of the other bands must not pull them from under a read still running in the pool (that was
    a segfault in libtiff, seen in CI)."""
    futures = [_pool(workers).submit(function, band) for band in bands]
    wait(futures)
    return [future.result() for future in futures]


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
        """The asset of ``band`` on the grid."""
        return self.retrying(lambda: self._read(band, self.scene.asset_hrefs[band]))

    def retrying(self, attempt: Callable[[], _T]) -> _T:
        """``attempt()`` under the GDAL options; a read signed with a collection token is
        retried once with a new token: one that expired or was revoked mid-read shows only as a
        failed block read, not as HTTP 403."""
        # GDAL options set in one thread do not reach another: every reading thread sets them.
        with rasterio.Env(**self.gdal_options):
            try:
                return attempt()
            except SceneReadError:
                if not isinstance(self.sign_href, CollectionSigner):
                    raise
            return attempt()

    def _read(self, band: str, href: str) -> npt.NDArray[Any]:
        url = self.signed(band, href)
        try:
            return _open_and_warp(url, self.grid)
        except (RasterioError, OSError) as error:
            raise self.failed(band, href, url, error) from (error if url == href else None)

    def failed(self, band: str, href: str, url: str, error: BaseException) -> SceneReadError:
        """The error for a failed read of ``url``, whose token is then no longer trusted.

        Raise it ``from error`` only if ``url == href``: GDAL's messages repeat a signed URL."""
        if isinstance(self.sign_href, CollectionSigner):
            self.sign_href.forget(url)
        return self._failure(band, href, url, error)

    def signed(self, band: str, href: str) -> str:
        """``href`` signed for reading (itself without a signer)."""
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
    with _GridAsset(source, grid) as asset:
        return asset.rows(range(grid.shape[0]))


@dataclasses.dataclass(frozen=True)
class _Lattice:
    """A source on the grid's pixel lattice: each source pixel covers ``factor`` × ``factor``
    grid pixels (1 for 10 m on 10 m, 2 for 20 m on 10 m) and the grid's first pixel lies
    ``row``, ``col`` grid pixels from the source's first pixel (negative: before it)."""

    factor: int
    row: int
    col: int


def _lattice(source: DatasetReader, grid: AnalysisGrid) -> _Lattice | None:
    """How ``source`` lines up with ``grid``, or None if only a warp puts it there.

    Nearest-neighbour warping then takes, for every grid pixel, the source pixel holding its
    centre, which is what a plain windowed read (and pixel repetition) gives, byte for byte,
    without the warper's cost. Sources whose nodata is not 0 (the warper rewrites their valid
    zeros) or that carry a mask band go through the warper.
    """
    src, dst = source.transform, grid.transform
    if source.nodata not in (None, 0) or source.mask_flag_enums[0] not in _PLAIN_MASKS:
        return None
    if src.b or src.d or dst.b or dst.d or not (src.a > 0 > src.e and dst.a > 0 > dst.e):
        return None
    factor = _whole(src.a / dst.a)
    if factor is None or factor < 1 or _whole(src.e / dst.e) != factor:
        return None
    row, col = _whole((dst.f - src.f) / dst.e), _whole((dst.c - src.c) / dst.a)
    if row is None or col is None or source.crs != _crs(grid.crs):
        return None
    return _Lattice(factor, row, col)


_PLAIN_MASKS = ([MaskFlags.nodata], [MaskFlags.all_valid])
"""Mask flags of a band whose only mask is its nodata value (or that has none)."""


def _whole(value: float) -> int | None:
    """``value`` as an int if it is one up to float noise far below a pixel's size."""
    nearest = round(value)
    return nearest if abs(value - nearest) < 1e-6 else None


@functools.lru_cache(maxsize=16)
def _crs(crs: str) -> CRS:
    return CRS.from_user_input(crs)


class _GridAsset:
    """Band 1 of an open source on the grid, read a strip of grid rows at a time.

    A source on the grid's lattice is read with plain windowed reads; any other is warped
    (nearest) by a WarpedVRT kept open, so its blocks decode once however the rows are split.
    """

    def __init__(self, source: DatasetReader, grid: AnalysisGrid) -> None:
        self.source, self.grid = source, grid
        self.dtype = np.dtype(source.dtypes[0])
        self.covers = _overlaps(source, grid)
        self.lattice = _lattice(source, grid) if self.covers else None
        self.warped: WarpedVRT | None = None
        if self.covers and self.lattice is None:
            rows, cols = grid.shape
            self.warped = WarpedVRT(
                source,
                crs=grid.crs,
                transform=grid.transform,
                width=cols,
                height=rows,
                resampling=Resampling.nearest,
                src_nodata=0 if source.nodata is None else source.nodata,
                nodata=0,
            )

    def rows(self, rows: range) -> npt.NDArray[Any]:
        """Grid rows ``rows`` (every column) of the band."""
        cols = self.grid.shape[1]
        if self.warped is not None:
            return np.asarray(self.warped.read(1, window=Window(0, rows.start, cols, len(rows))))
        if self.lattice is None:
            return np.zeros((len(rows), cols), dtype=self.dtype)
        native, first_row, first_col = self._native(rows)
        factor = self.lattice.factor
        if factor == 1:
            return native
        row_phase = self.lattice.row + rows.start - first_row * factor
        col_phase = self.lattice.col - first_col * factor
        tall = np.repeat(native, factor, axis=0)[row_phase : row_phase + len(rows)]
        return np.repeat(tall, factor, axis=1)[:, col_phase : col_phase + cols]

    def pixels(self, pixels: _StripPixels) -> npt.NDArray[Any]:
        """The band at ``pixels`` (flat positions in their strip of rows), without building the
        strip on the grid when the source is coarser than the grid."""
        if self.lattice is None or self.lattice.factor == 1:
            return self.rows(pixels.rows).ravel()[pixels.positions]
        native, first_row, first_col = self._native(pixels.rows)
        under = pixels.native_positions(self.lattice, first_row, first_col, native)
        return np.take(native.ravel(), under)

    def _native(self, rows: range) -> tuple[npt.NDArray[Any], int, int]:
        """Source pixels under grid ``rows`` (0 off the source), with the source row and column
        of the first."""
        assert self.lattice is not None
        factor, cols = self.lattice.factor, self.grid.shape[1]
        first_row = (self.lattice.row + rows.start) // factor
        last_row = (self.lattice.row + rows.stop - 1) // factor
        first_col = self.lattice.col // factor
        last_col = (self.lattice.col + cols - 1) // factor
        window = Window(first_col, first_row, last_col - first_col + 1, last_row - first_row + 1)
        return _read_filled(self.source, window, self.dtype), first_row, first_col

    def close(self) -> None:
        if self.warped is not None:
            self.warped.close()

    def __enter__(self) -> _GridAsset:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _read_filled(source: DatasetReader, window: Window, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """Band 1 in ``window``, 0 where the window leaves the source."""
    height, width = int(window.height), int(window.width)
    row, col = int(window.row_off), int(window.col_off)
    top, left = max(row, 0), max(col, 0)
    bottom, right = min(row + height, source.height), min(col + width, source.width)
    if top == row and left == col and bottom == row + height and right == col + width:
        return np.asarray(source.read(1, window=window))
    filled = np.zeros((height, width), dtype=dtype)
    if top < bottom and left < right:
        inner = Window(left, top, right - left, bottom - top)
        filled[top - row : bottom - row, left - col : right - col] = source.read(1, window=inner)
    return filled


class _StripPixels:
    """Some pixels of a strip of grid rows: flat, row-major positions within the strip."""

    def __init__(self, rows: range, width: int, positions: npt.NDArray[np.intp]) -> None:
        self.rows, self.width, self.positions = rows, width, positions
        self._row_col: tuple[npt.NDArray[np.integer], npt.NDArray[np.integer]] | None = None
        self._native: dict[tuple[_Lattice, int, int, int], npt.NDArray[np.integer]] = {}

    def native_positions(
        self, lattice: _Lattice, first_row: int, first_col: int, native: npt.NDArray[Any]
    ) -> npt.NDArray[np.integer]:
        """Flat positions in ``native`` (source pixels from ``first_row``, ``first_col``) of the
        source pixel under each pixel; computed once per lattice, shared by its bands."""
        key = (lattice, first_row, first_col, native.shape[1])
        if key not in self._native:
            row, col = self._rows_and_columns()
            index = _index_type(native.size)
            factor = lattice.factor
            strip_rows = np.arange(self.rows.start, self.rows.stop, dtype=index)
            source_row = (lattice.row + strip_rows) // factor - first_row
            source_col = (lattice.col + np.arange(self.width, dtype=index)) // factor - first_col
            under = source_row[row] * index(native.shape[1]) + source_col[col]
            self._native[key] = under.astype(np.intp, copy=False)  # what take() indexes with
        return self._native[key]

    def _rows_and_columns(self) -> tuple[npt.NDArray[np.integer], npt.NDArray[np.integer]]:
        if self._row_col is None:
            index = _index_type(len(self.rows) * self.width)
            row, col = np.divmod(self.positions.astype(index), index(self.width))
            self._row_col = (row, col)
        return self._row_col


def _index_type(size: int) -> type[np.integer]:
    """int32 where it holds every position: its division and gathers are several times faster."""
    return np.int32 if size < np.iinfo(np.int32).max else np.intp


def _overlaps(source: DatasetReader, grid: AnalysisGrid) -> bool:
    west, south, east, north = transform_bounds(grid.crs, source.crs, *grid.bounds, densify_pts=21)
    left, bottom, right, top = source.bounds
    return bool(west < right and east > left and south < top and north > bottom)
