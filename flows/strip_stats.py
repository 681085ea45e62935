"""Per-parcel index statistics of one solar day, read and reduced a strip of grid rows at a time.

Memory follows the strip, not the tile: each strip of :data:`STRIP_ROWS` grid rows is read for
every band (``flows.raster_read.SolarDayStrips``: assets opened once, plain windowed reads where
the imagery lies on the grid's lattice), and only its parcel pixels are converted to
reflectance, turned into indices and added to running per-parcel sums
(``features.scene_stats.ParcelIndexAccumulator``). A strip without parcel pixels is not read at
all; the next strip is read while one is reduced. The table is
:func:`features.scene_stats.parcel_index_stats` of :func:`flows.raster_read.read_solar_day`
(exactly for parcels inside one strip, to float64 rounding for parcels across strips), so
cached observations stay valid. A consumer (``on_strip``) can have each strip's whole mosaic,
e.g. to keep the pixels.

:func:`band_parcel_stats` does the same for one band of any raster, with the parcels' strips
(:func:`parcel_strips`) built once and reused for every band and date.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
from rasterio.windows import Window

from pestcast.core.errors import DataError
from pestcast.features.cloud_mask import DEFAULT_SCL_MASK_CLASSES
from pestcast.features.index_catalog import DEFAULT_PARCEL_INDICES
from pestcast.features.scene_stats import ParcelIndexAccumulator
from pestcast.features.zonal import ZonalAccumulator
from pestcast.flows.raster_read import (
    AnalysisGrid,
    SceneArrays,
    SignHref,
    SolarDayStrips,
    read_band_strips,
)
from pestcast.flows.stac_search import SceneRef

__all__ = [
    "STRIP_ROWS",
    "ParcelStrip",
    "ParcelStrips",
    "StripConsumer",
    "band_parcel_stats",
    "grid_strips",
    "parcel_strips",
    "solar_day_parcel_stats",
]

_T = TypeVar("_T")

STRIP_ROWS = 1024
"""Grid rows read and reduced at a time. Sentinel-2 COGs have 1024-pixel blocks, so on a grid
aligned with the tile a strip is one row of 10 m blocks and half a row of 20 m blocks (the other
half waits in GDAL's block cache for the next strip). Memory per strip in flight: about bands ×
STRIP_ROWS × grid columns × 2 bytes of DN, plus the indices of its parcel pixels; two strips
are in flight (one read while the other is reduced), GDAL's block cache comes on top."""

StripConsumer = Callable[[Window, SceneArrays], None]
"""Called as ``on_strip(window, arrays)`` for every strip, top to bottom: ``window`` is the
strip's place on the grid (``col_off`` 0, ``row_off`` its first row, full width) and ``arrays``
the day's mosaic there (reflectance float32 0–1 with NaN nodata, SCL uint8 with 0 nodata, each
of shape ``(window.height, window.width)``), as :func:`flows.raster_read.read_solar_day` would
give them in those rows. The arrays are the consumer's to keep."""


def solar_day_parcel_stats(
    scenes: Sequence[SceneRef],
    grid: AnalysisGrid,
    labels: npt.NDArray[np.integer],
    *,
    bands: Sequence[str],
    n_parcels: int,
    indices: Sequence[str] = DEFAULT_PARCEL_INDICES,
    mask_classes: Iterable[int] = DEFAULT_SCL_MASK_CLASSES,
    on_strip: StripConsumer | None = None,
    strip_rows: int = STRIP_ROWS,
    sign_href: SignHref | None = None,
    gdal_options: Mapping[str, str | int] | None = None,
    max_concurrent_reads: int | None = None,
) -> pd.DataFrame:
    """``parcel_index_stats`` of the solar day's mosaic of ``bands`` on ``grid``, strip by strip.

    ``labels`` is the parcel label raster on ``grid`` (0 outside parcels, ``i + 1`` in parcel
    ``i``). With ``on_strip`` every strip is read whole and handed over (see
    :data:`StripConsumer`); without, only strips holding parcel pixels are read. Raises
    SceneReadError like :func:`flows.raster_read.read_scene`, whose options the others are.
    """
    _check_labels(labels, grid, strip_rows)
    accumulator = ParcelIndexAccumulator(n_parcels, indices=indices, mask_classes=mask_classes)
    options: dict[str, Any] = {
        "sign_href": sign_href,
        "gdal_options": gdal_options,
        "max_concurrent_reads": max_concurrent_reads,
    }
    whole = on_strip is not None

    def strips(day: SolarDayStrips) -> Iterator[tuple[range, _StripLabels, SceneArrays]]:
        for rows, strip_labels, positions in _labelled_strips(labels, grid, strip_rows):
            if whole or positions.size:
                arrays = day.read(rows, None if whole else positions)
                yield rows, (strip_labels, positions), arrays

    with (
        SolarDayStrips(scenes, grid, bands=bands, **options) as day,
        closing(_read_ahead(strips(day))) as ahead,
    ):
        for rows, (strip_labels, positions), arrays in ahead:
            pixels = _at(arrays, positions) if whole else arrays
            if on_strip is not None:
                on_strip(Window(0, rows.start, grid.shape[1], len(rows)), arrays)
            accumulator.add(pixels.reflectance, pixels.scl, strip_labels[positions])
    return accumulator.table()


_StripLabels = tuple[npt.NDArray[np.integer], npt.NDArray[np.intp]]
"""A strip's labels (flat) and the flat positions of its parcel pixels."""
_END = object()


def _read_ahead(items: Iterator[_T]) -> Generator[_T, None, None]:
    """``items``, each produced in a helper thread while the caller works on the one before:
    the next strip is read (GDAL decodes without holding the GIL) while this one is reduced.
    One item waits at most; errors reach the caller when it asks for that item. Close it
    (``contextlib.closing``) before closing what the items are read from: closing waits for the
    item being read."""
    with ThreadPoolExecutor(1, thread_name_prefix="pestcast-read-ahead") as helper:
        coming = helper.submit(next, items, _END)
        while (item := coming.result()) is not _END:
            coming = helper.submit(next, items, _END)
            yield item  # type: ignore[misc]


@dataclass(frozen=True)
class ParcelStrip:
    """The parcel pixels of one strip of grid rows."""

    rows: range
    """Grid rows of the strip."""
    positions: npt.NDArray[np.intp]
    """Flat, row-major positions of its parcel pixels within the strip."""
    labels: npt.NDArray[np.int32]
    """Their labels (parcel position + 1)."""


@dataclass(frozen=True)
class ParcelStrips:
    """A label raster cut into strips, parcel pixels only: built once per grid and parcel set,
    then every band of every date is reduced with it, without scanning the raster again."""

    grid: AnalysisGrid
    strips: tuple[ParcelStrip, ...]
    """The strips holding parcel pixels, top to bottom."""
    n_parcels: int


def parcel_strips(
    labels: npt.NDArray[np.integer],
    grid: AnalysisGrid,
    *,
    n_parcels: int,
    strip_rows: int = STRIP_ROWS,
) -> ParcelStrips:
    """``labels`` (on ``grid``, 0 outside parcels) as :class:`ParcelStrips`."""
    _check_labels(labels, grid, strip_rows)
    strips = tuple(
        ParcelStrip(rows, positions, strip_labels[positions].astype(np.int32))
        for rows, strip_labels, positions in _labelled_strips(labels, grid, strip_rows)
        if positions.size
    )
    return ParcelStrips(grid=grid, strips=strips, n_parcels=n_parcels)


def band_parcel_stats(href: str, parcels: ParcelStrips, *, name: str = "value") -> pd.DataFrame:
    """Per-parcel ``n_px``, ``n_valid_px`` and ``<name>_mean`` of band 1 of the raster at
    ``href`` (its own values, e.g. DN; 0 is nodata), read onto the parcels' grid strip by strip.

    The counts and means of :func:`features.zonal.zonal_statistics` with the pixel-centre rule
    of the label raster; only strips holding parcel pixels are read.
    """
    accumulator = ZonalAccumulator([name], parcels.n_parcels, std=False)
    wanted = ((strip.rows, strip.positions) for strip in parcels.strips)
    with closing(_read_ahead(read_band_strips(href, parcels.grid, wanted))) as reads:
        for strip, values in zip(parcels.strips, reads, strict=True):
            accumulator.add({name: values}, strip.labels, values != 0)
    return accumulator.table()


def _labelled_strips(
    labels: npt.NDArray[np.integer], grid: AnalysisGrid, strip_rows: int
) -> Iterator[tuple[range, npt.NDArray[np.integer], npt.NDArray[np.intp]]]:
    """Each strip: its rows, its labels (flat) and the flat positions of its parcel pixels."""
    for rows in grid_strips(grid.shape[0], strip_rows):
        strip_labels = np.asarray(labels[rows.start : rows.stop]).ravel()
        yield rows, strip_labels, np.flatnonzero(strip_labels != 0)  # 3× faster than on ints


def grid_strips(n_rows: int, strip_rows: int = STRIP_ROWS) -> Iterator[range]:
    """Consecutive ranges of at most ``strip_rows`` rows covering ``0 … n_rows − 1``."""
    for start in range(0, n_rows, strip_rows):
        yield range(start, min(start + strip_rows, n_rows))


def _at(arrays: SceneArrays, positions: npt.NDArray[np.intp]) -> SceneArrays:
    """The strip's pixels at flat ``positions``."""
    return SceneArrays(
        reflectance={band: v.ravel()[positions] for band, v in arrays.reflectance.items()},
        scl=arrays.scl.ravel()[positions],
    )


def _check_labels(labels: npt.NDArray[np.integer], grid: AnalysisGrid, strip_rows: int) -> None:
    if np.shape(labels) != grid.shape:
        raise DataError(
            f"label raster shape {np.shape(labels)} differs from the grid's {grid.shape}; "
            "rasterize the parcels on the analysis grid the scenes are read onto"
        )
    if strip_rows < 1:
        raise DataError(f"strip_rows must be at least 1, got {strip_rows}")
