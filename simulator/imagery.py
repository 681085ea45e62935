"""Render simulated Sentinel-2 L2A scenes and write them as one COG per band.

The surface is rendered on a 5 m grid (land-cover row per 5 m pixel, spectrum from the scene's
surface tables plus a static within-field texture) and block-averaged to 10 m (B02 B03 B04 B08)
and 20 m (B05 B8A B11 B12, and the SCL), so boundary pixels are mixtures.

Pest damage is patchy. Each field's 5 m sub-pixels are ranked by a static, smooth random patch
propensity (Gaussian-filtered noise, σ ``PATCH_SCALE_M`` = 10 m, so patches are some 20–40 m
across [A: hopperburn starts as round patches that spread and merge]) and cut into
``PATCH_BINS`` equal-area bins, most prone first. A field with burnt share *s* shows the patch
spectrum on bins 0 … 16 s (the last one in part): patches appear at the most prone spots, grow
and merge as *s* rises, and stay where they are from one scene to the next. Then, per band:
aerosol haze, cloud shadow (−65 % × shading opacity), sensor noise (σ 0.003 reflectance at
reflectance 0.3, scaling with the square root of the signal as photon noise does, over a 0.0008
floor; applied to the surface signal only, so opaque clouds are smooth and compress well), cloud
(opacity blend with a bright cloud spectrum) and cirrus.

The scene classification (SCL, 20 m) flags clouds as Sen2Cor would, imperfectly: opacity ≥ 0.6
→ 9, ≥ 0.25 → 8 (thinner cloud edges stay unflagged), cirrus ≥ 0.08 → 10, shading ≥ 0.35 → 3;
other pixels are 4 vegetation / 5 bare / 6 water by their observed NDVI (B8A, B04) and NIR, and
0 beyond a swath edge. DN = reflectance · 10000 (+ 1000 from processing baseline 04.00), uint16,
nodata 0.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine
from rasterio.features import rasterize
from scipy import sparse
from scipy.ndimage import gaussian_filter

from pestcast.core.atomic import atomic_path
from pestcast.core.errors import PublishError
from pestcast.simulator.clouds import CloudLayers, CloudPlan, cloud_layers, swath_nodata
from pestcast.simulator.encoding import encode_dn
from pestcast.simulator.geometry import CRS, RegionLayout, SceneGrid
from pestcast.simulator.surface import BANDS, STATIC_COVERS, SurfaceTables

__all__ = [
    "BAND_RESOLUTION_M",
    "PATCH_BINS",
    "PATCH_SCALE_M",
    "SENSOR_NOISE",
    "RenderContext",
    "RenderedScene",
    "SceneResult",
    "SceneSpec",
    "binned_tables",
    "cover_raster",
    "patch_bins",
    "render_context",
    "render_scene",
    "write_cog",
    "write_scenes",
]

BAND_RESOLUTION_M = {
    "B02": 10,
    "B03": 10,
    "B04": 10,
    "B05": 20,
    "B08": 10,
    "B8A": 20,
    "B11": 20,
    "B12": 20,
    "SCL": 20,
}
SENSOR_NOISE = 0.003
"""Sensor noise (reflectance standard deviation) at the reference reflectance."""
NOISE_REFERENCE = 0.3
"""Reflectance at which the noise is ``SENSOR_NOISE``; photon noise scales as its square root."""
NOISE_FLOOR = 0.0008
"""Signal-independent (read-out) noise, reflectance."""
CLOUD_SPECTRUM = np.array([0.62, 0.60, 0.58, 0.57, 0.56, 0.55, 0.42, 0.30], dtype=np.float32)
CIRRUS_SPECTRUM = np.array([0.35, 0.33, 0.31, 0.30, 0.29, 0.28, 0.20, 0.14], dtype=np.float32)
HAZE_SPECTRUM = np.array([0.020, 0.012, 0.007, 0.005, 0.002, 0.002, 0.0, 0.0], dtype=np.float32)
SHADOW_DARKENING = 0.65
PATCH_BINS = 16
"""Equal-area bins of each field's patch propensity; burnt shares resolve to 1/16 of a field."""
PATCH_SCALE_M = 10.0
"""Standard deviation of the Gaussian filter that makes the patch propensity smooth, metres."""
_BAND_INDEX = {band: i for i, band in enumerate(BANDS)}
_BANDS_10M = tuple(b for b in BANDS if BAND_RESOLUTION_M[b] == 10)
_BANDS_20M = tuple(b for b in BANDS if BAND_RESOLUTION_M[b] == 20)
_BANDS_20M_AND_RED = (*_BANDS_20M, "B04")
"""The 20 m bands plus red at 20 m, which the scene classification needs."""


@dataclass(frozen=True)
class RenderContext:
    """What every scene shares: the grid, the 5 m → 10/20 m mixing operators, the output root.

    A pixel's surface reflectance is ``mixing @ bin_reflectance + texture @ bin_gradient``:
    ``mixing`` holds the share of the pixel's 5 m sub-pixels in each patch bin of each land-cover
    row (column ``row · PATCH_BINS + bin``; fields, then static covers), ``texture`` the same
    weighted by each sub-pixel's texture value.
    """

    grid: SceneGrid
    mixing: dict[int, sparse.csr_matrix]
    """Resolution (10, 20 m) → (pixel, row × patch bin) area shares."""
    texture: dict[int, sparse.csr_matrix]
    """Resolution → (pixel, row × patch bin) texture-weighted shares."""
    collection_dir: Path
    """Folder holding one sub-folder per item."""


@dataclass(frozen=True)
class SceneSpec:
    """One scene to render: its surface, atmosphere and random stream."""

    index: int
    item_id: str
    processing_baseline: str
    surface: SurfaceTables
    clouds: CloudPlan
    seed: tuple[int, ...]
    """Entropy of the scene's own random generator (independent of worker scheduling)."""


@dataclass(frozen=True)
class RenderedScene:
    """Digital numbers of each band (uint16; SCL uint8) and the true cloud cover."""

    bands: dict[str, npt.NDArray[np.uint16] | npt.NDArray[np.uint8]]
    cloud_cover_pct: float
    """Share of the valid pixels under cloud or cirrus of opacity ≥ 0.05, percent."""


@dataclass(frozen=True)
class SceneResult:
    index: int
    cloud_cover_pct: float


def render_context(
    layout: RegionLayout,
    collection_dir: Path,
    rng: np.random.Generator,
    *,
    patch_rng: np.random.Generator,
) -> RenderContext:
    """Rasterise the landscape once at 5 m, draw the within-field texture and the patch
    propensity (from ``rng`` and ``patch_rng``), build the mixers."""
    cover = cover_raster(layout)
    texture = gaussian_filter(rng.standard_normal(cover.shape), 3.0)
    texture /= texture.std()
    n_rows = layout.n_fields + len(STATIC_COVERS)
    # only registered parcels carry pests: other rows keep one bin, and the mixers fewer entries
    bins = np.where(cover < layout.n_parcels, patch_bins(cover, patch_rng, n_rows), 0)
    columns = cover * PATCH_BINS + bins
    mixing, weighted = {}, {}
    for resolution in (10, 20):
        mixing[resolution] = _mixer(columns, np.ones_like(texture), resolution, n_rows * PATCH_BINS)
        weighted[resolution] = _mixer(columns, texture, resolution, n_rows * PATCH_BINS)
    return RenderContext(layout.grid, mixing, weighted, collection_dir)


def patch_bins(
    cover: npt.NDArray[np.int32], rng: np.random.Generator, n_rows: int
) -> npt.NDArray[np.int32]:
    """Patch bin 0 … ``PATCH_BINS`` − 1 of each 5 m pixel: its propensity rank within its row.

    Bin 0 holds the most prone sixteenth of the row's area, where damage shows first.
    """
    propensity = gaussian_filter(rng.standard_normal(cover.shape), PATCH_SCALE_M / 5.0).ravel()
    rows = cover.ravel()
    order = np.lexsort((-propensity, rows))
    counts = np.bincount(rows, minlength=n_rows)
    starts = np.cumsum(counts) - counts
    rank = np.empty(rows.size, dtype=np.int64)
    rank[order] = np.arange(rows.size) - starts[rows[order]]
    return ((rank * PATCH_BINS) // counts[rows]).astype(np.int32).reshape(cover.shape)


def _mixer(
    cover: npt.NDArray[np.int32],
    weight: npt.NDArray[np.float64],
    resolution: int,
    n_rows: int,
) -> sparse.csr_matrix:
    """(pixel at ``resolution``, row) sums of ``weight`` over 5 m sub-pixels, over their count."""
    factor = resolution // 5
    rows, cols = cover.shape
    pixel_row = np.arange(rows)[:, None] // factor
    pixel_col = np.arange(cols)[None, :] // factor
    pixel = (pixel_row * (cols // factor) + pixel_col).ravel()
    n_pixels = (rows // factor) * (cols // factor)
    return sparse.csr_matrix(
        (weight.ravel() / factor**2, (pixel, cover.ravel())), shape=(n_pixels, n_rows)
    )


def cover_raster(layout: RegionLayout) -> npt.NDArray[np.int32]:
    """Land-cover row of each 5 m pixel: fields, then villages, houses, roads and canals on top."""
    grid = layout.grid
    row = {name: layout.n_fields + i for i, name in enumerate(STATIC_COVERS)}
    layers = [
        (layout.field_polygons, np.arange(layout.n_fields)),
        (layout.villages, np.full(len(layout.villages), row["village"])),
        (layout.houses, np.full(len(layout.houses), row["house"])),
        (layout.roads, np.full(len(layout.roads), row["road"])),
        (layout.water, np.full(len(layout.water), row["canal"])),
    ]
    shapes = [
        (geometry, int(value))
        for geometries, values in layers
        for geometry, value in zip(geometries, values, strict=True)
    ]
    return rasterize(  # type: ignore[no-any-return]
        shapes,
        out_shape=grid.shape(5),
        transform=Affine(*grid.transform(5)),
        fill=row["bank"],
        dtype="int32",
    )


def render_scene(context: RenderContext, spec: SceneSpec) -> RenderedScene:
    """Render one scene's bands (DN) and SCL."""
    rng = np.random.default_rng(list(spec.seed))
    layers_20m = cloud_layers(spec.clouds, context.grid.shape(20), rng)
    layers_10m = _upsample(layers_20m)
    nodata_10m = swath_nodata(spec.clouds.swath_edge, context.grid.shape(10))
    nodata_20m = swath_nodata(spec.clouds.swath_edge, context.grid.shape(20))
    observed_10m = _observe(context, spec, 10, _BANDS_10M, layers=layers_10m, rng=rng)
    observed_20m = _observe(context, spec, 20, _BANDS_20M_AND_RED, layers=layers_20m, rng=rng)
    baseline = spec.processing_baseline
    bands: dict[str, npt.NDArray[np.uint16] | npt.NDArray[np.uint8]] = {
        name: encode_dn(values, baseline, nodata_10m)
        for name, values in zip(_BANDS_10M, observed_10m, strict=True)
    }
    bands.update(
        (name, encode_dn(values, baseline, nodata_20m))
        for name, values in zip(_BANDS_20M, observed_20m, strict=False)
    )
    red, nir = observed_20m[-1], observed_20m[_BANDS_20M.index("B8A")]
    bands["SCL"] = _scene_classification(red, nir, layers_20m, nodata_20m)
    return RenderedScene(bands=bands, cloud_cover_pct=_true_cloud_cover(layers_20m, nodata_20m))


def _true_cloud_cover(layers: CloudLayers, nodata: npt.NDArray[np.bool_]) -> float:
    """Percentage of valid pixels under cloud or cirrus of opacity ≥ 0.05."""
    cloudy = (layers.opacity >= 0.05) | (layers.cirrus >= 0.05)
    valid = ~nodata
    return round(100.0 * float(cloudy[valid].mean()), 2) if valid.any() else 0.0


def _surface(
    context: RenderContext, tables: SurfaceTables, resolution: int, names: Sequence[str]
) -> npt.NDArray[np.float32]:
    """Surface reflectance (band, row, col) of the named bands at ``resolution``."""
    columns = [_BAND_INDEX[name] for name in names]
    reflectance, gradient = binned_tables(tables)
    mixed = context.mixing[resolution] @ reflectance[:, columns]
    mixed += context.texture[resolution] @ gradient[:, columns]
    rows, cols = context.grid.shape(resolution)
    return np.ascontiguousarray(mixed.T, dtype=np.float32).reshape(len(columns), rows, cols)


def binned_tables(
    tables: SurfaceTables,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """(row × patch bin, band) reflectance and texture gradient of the scene.

    In a field with burnt share *s*, bin *k* is burnt over a share clip(16 s − k, 0, 1).
    """
    reflectance = np.repeat(tables.reflectance, PATCH_BINS, axis=0)
    gradient = np.repeat(tables.texture_gradient, PATCH_BINS, axis=0)
    burnt = np.clip(
        tables.patch_share[:, None] * PATCH_BINS - np.arange(PATCH_BINS), 0.0, 1.0
    ).astype(np.float32)
    columns = (tables.patch_rows[:, None] * PATCH_BINS + np.arange(PATCH_BINS)).ravel()
    for binned, healthy, patch in (
        (reflectance, tables.reflectance, tables.patch_reflectance),
        (gradient, tables.texture_gradient, tables.patch_texture_gradient),
    ):
        change = patch - healthy[tables.patch_rows]
        binned[columns] += (burnt[:, :, None] * change[:, None, :]).reshape(-1, change.shape[1])
    return reflectance, gradient


def _upsample(layers: CloudLayers) -> CloudLayers:
    """Linear 20 m → 10 m of every layer (pixel areas stay aligned)."""
    return CloudLayers(
        opacity=_double(layers.opacity),
        brightness=_double(layers.brightness),
        cirrus=_double(layers.cirrus),
        shadow=_double(layers.shadow),
    )


def _double(values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Twice the resolution along both axes by linear interpolation (edges held)."""
    if not values.any():
        return np.zeros((values.shape[0] * 2, values.shape[1] * 2), dtype=values.dtype)
    for axis in (0, 1):
        before = np.concatenate(
            [values.take([0], axis), values.take(range(values.shape[axis] - 1), axis)], axis
        )
        after = np.concatenate(
            [values.take(range(1, values.shape[axis]), axis), values.take([-1], axis)], axis
        )
        pair = np.stack(
            [0.75 * values + 0.25 * before, 0.75 * values + 0.25 * after], axis=axis + 1
        )
        shape = list(values.shape)
        shape[axis] *= 2
        values = pair.reshape(shape)
    return values


def _observe(
    context: RenderContext,
    spec: SceneSpec,
    resolution: int,
    names: Sequence[str],
    *,
    layers: CloudLayers,
    rng: np.random.Generator,
) -> npt.NDArray[np.float32]:
    """Observed reflectance (band, row, col): haze, shadow, noise, cloud and cirrus."""
    columns = [_BAND_INDEX[name] for name in names]
    haze = (spec.clouds.haze * HAZE_SPECTRUM[columns])[:, None, None]
    surface = _surface(context, spec.surface, resolution, names)
    signal = (surface + haze) * (1.0 - SHADOW_DARKENING * layers.shadow)
    noise_sd = np.sqrt(NOISE_FLOOR**2 + SENSOR_NOISE**2 * np.maximum(signal, 0.0) / NOISE_REFERENCE)
    signal += (
        noise_sd * rng.standard_normal(signal.shape, dtype=np.float32) * (1.0 - layers.opacity)
    )
    cloud = layers.brightness * CLOUD_SPECTRUM[columns][:, None, None]
    clouded = (1.0 - layers.opacity) * signal + layers.opacity * cloud
    cirrus = CIRRUS_SPECTRUM[columns][:, None, None]
    observed = (1.0 - layers.cirrus) * clouded + layers.cirrus * cirrus
    return np.asarray(observed, dtype=np.float32)


def _scene_classification(
    red: npt.NDArray[np.float32],
    nir: npt.NDArray[np.float32],
    layers: CloudLayers,
    nodata: npt.NDArray[np.bool_],
) -> npt.NDArray[np.uint8]:
    """Sen2Cor-like SCL at 20 m from the observed B04/B8A and the (imperfectly) seen clouds."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ndvi = (nir - red) / (nir + red)
    scl = np.full(red.shape, 5, dtype=np.uint8)
    scl[ndvi >= 0.4] = 4
    scl[(ndvi < 0.05) & (nir < 0.1)] = 6
    scl[layers.shadow >= 0.35] = 3
    scl[layers.cirrus >= 0.08] = 10
    scl[layers.opacity >= 0.25] = 8
    scl[layers.opacity >= 0.6] = 9
    scl[nodata] = 0
    return scl


def write_scene(context: RenderContext, spec: SceneSpec) -> SceneResult:
    """Render one scene and write ``<item_id>/<band>.tif`` COGs (each atomically)."""
    scene = render_scene(context, spec)
    folder = context.collection_dir / spec.item_id
    folder.mkdir(parents=True, exist_ok=True)
    for band, values in scene.bands.items():
        resolution = BAND_RESOLUTION_M[band]
        transform = Affine(*context.grid.transform(resolution))
        # The COG driver names predictors: horizontal differencing (2) is "STANDARD".
        predictor = "NO" if band == "SCL" else "STANDARD"
        write_cog(folder / f"{band}.tif", values, transform, predictor=predictor)
    return SceneResult(index=spec.index, cloud_cover_pct=scene.cloud_cover_pct)


def write_cog(
    path: Path,
    values: npt.NDArray[Any],
    transform: Affine,
    *,
    predictor: str,
    nodata: float = 0,
    creation: Mapping[str, Any] | None = None,
    what: str = "demo scene band",
) -> None:
    """Write one band as a DEFLATE COG of 256-pixel blocks without overviews, atomically;
    ``creation`` adds creation options. ``what`` names the file in the error."""
    profile = {
        "driver": "COG",
        "width": values.shape[1],
        "height": values.shape[0],
        "count": 1,
        "dtype": values.dtype.name,
        "nodata": nodata,
        "crs": CRS,
        "transform": transform,
        "compress": "DEFLATE",
        "predictor": predictor,
        "blocksize": 256,
        "overviews": "NONE",
        **(creation or {}),
    }
    try:
        with atomic_path(path) as temporary, rasterio.open(temporary, "w", **profile) as dataset:
            dataset.write(values, 1)
    except (OSError, rasterio.errors.RasterioError) as error:
        raise PublishError(f"cannot write {what} {path}: {error}; check free disk space") from error


_WORKER: dict[str, RenderContext] = {}


def _worker_start_method() -> BaseContext:
    """``fork`` where the platform has it, else ``spawn``.

    Forked workers inherit the render context without pickling and, unlike ``spawn`` and
    ``forkserver``, never re-run the caller's ``__main__`` module (an unguarded script would
    otherwise start a second simulation inside each worker).
    """
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _start_worker(context: RenderContext) -> None:
    _WORKER["context"] = context


def _write_scene_in_worker(spec: SceneSpec) -> SceneResult:
    return write_scene(_WORKER["context"], spec)


def write_scenes(
    context: RenderContext,
    specs: Sequence[SceneSpec],
    *,
    max_workers: int,
    progress: Callable[[str], None],
) -> list[SceneResult]:
    """Render and write every scene, in ``max_workers`` processes (1: in this process)."""
    results: list[SceneResult] = []

    def report(result: SceneResult) -> None:
        results.append(result)
        if len(results) % 20 == 0 or len(results) == len(specs):
            progress(f"demo region: {len(results)}/{len(specs)} scenes written")

    if max_workers <= 1 or multiprocessing.current_process().daemon:
        # daemonic processes (e.g. pool workers) may not start children: render here
        for spec in specs:
            report(write_scene(context, spec))
        return results
    with ProcessPoolExecutor(
        max_workers=max_workers,
        mp_context=_worker_start_method(),
        initializer=_start_worker,
        initargs=(context,),
    ) as pool:
        for result in pool.map(_write_scene_in_worker, specs, chunksize=4):
            report(result)
    return results
