"""Parcel label rasters and per-parcel pixel statistics (zonal statistics).

Parcels are rasterized once per analysis grid into an integer label raster; every scene is then
reduced to one row per parcel with :func:`numpy.bincount`, without a loop over parcels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from affine import Affine
from shapely.geometry.base import BaseGeometry

from pestcast.core.errors import DataError, ParcelError

__all__ = ["ZonalAccumulator", "burn_polygons", "parcel_pixel_labels", "zonal_statistics"]


def parcel_pixel_labels(
    geometries: Sequence[BaseGeometry],
    *,
    transform: Affine,
    shape: tuple[int, int],
    inward_buffer_m: float = 5.0,
    min_pixels_after_buffer: int = 1,
) -> npt.NDArray[np.int32]:
    """Label raster of ``shape`` (rows, cols): 0 = no parcel, ``i + 1`` = ``geometries[i]``.

    Geometries must already be in the raster CRS (metres). A pixel belongs to a parcel when its
    centre lies inside the parcel shrunk by ``inward_buffer_m`` (metres), which keeps mixed edge
    pixels (bunds, canals, the neighbour's crop) out of the statistics. A parcel whose shrunk
    polygon covers fewer than ``min_pixels_after_buffer`` pixels falls back to its unbuffered
    polygon, so a small parcel shows up with a small ``n_px`` instead of vanishing; a parcel
    smaller than a pixel may still get 0 pixels and then has ``n_px == 0``.

    Parcels are expected not to overlap. If they do, the later one in ``geometries`` wins each
    shared pixel; fallback outlines only fill pixels no shrunk parcel claimed.
    """
    _check_label_arguments(geometries, shape, inward_buffer_m, min_pixels_after_buffer)
    polygons = np.asarray(geometries, dtype=object)
    shrunk = shapely.buffer(polygons, -inward_buffer_m) if inward_buffer_m > 0 else polygons
    labels = burn_polygons(
        shrunk, np.arange(1, len(polygons) + 1), transform=transform, shape=shape
    )
    counts = np.bincount(labels.ravel(), minlength=len(polygons) + 1)[1:]
    too_small = np.flatnonzero(counts < min_pixels_after_buffer)
    if too_small.size:
        outlines = burn_polygons(
            polygons[too_small], too_small + 1, transform=transform, shape=shape
        )
        unclaimed = labels == 0
        labels[unclaimed] = outlines[unclaimed]
    return labels


def _check_label_arguments(
    geometries: Sequence[BaseGeometry],
    shape: tuple[int, int],
    inward_buffer_m: float,
    min_pixels_after_buffer: int,
) -> None:
    if len(shape) != 2 or min(shape) <= 0:
        raise DataError(f"raster shape {shape} must be two positive sizes (rows, cols)")
    if len(geometries) >= np.iinfo(np.int32).max:
        raise DataError(f"{len(geometries)} parcels do not fit an int32 label raster")
    if not np.isfinite(inward_buffer_m) or inward_buffer_m < 0:
        raise DataError(f"inward_buffer_m must be a finite distance ≥ 0 m, got {inward_buffer_m}")
    if min_pixels_after_buffer < 0:
        raise DataError(f"min_pixels_after_buffer must be ≥ 0, got {min_pixels_after_buffer}")
    missing = [i for i, geometry in enumerate(geometries) if geometry is None]
    if missing:
        raise ParcelError(
            f"parcels at positions {missing[:5]} have no geometry; repair or drop them first"
        )


def burn_polygons(
    polygons: npt.NDArray[np.object_],
    values: npt.NDArray[np.integer],
    *,
    transform: Affine,
    shape: tuple[int, int],
) -> npt.NDArray[np.int32]:
    """Rasterize ``polygons`` with the pixel-centre rule; empty polygons burn nothing."""
    from rasterio.features import rasterize  # here: configs load without rasterio

    keep = ~shapely.is_empty(polygons)
    if not keep.any():
        return np.zeros(shape, dtype=np.int32)
    shapes = zip(polygons[keep], values[keep].tolist(), strict=True)
    burnt = rasterize(
        shapes, out_shape=shape, transform=transform, fill=0, all_touched=False, dtype="int32"
    )
    return np.asarray(burnt, dtype=np.int32)


def zonal_statistics(
    values: Mapping[str, npt.NDArray[np.floating]],
    labels: npt.NDArray[np.integer],
    valid: npt.NDArray[np.bool_],
    n_parcels: int,
) -> pd.DataFrame:
    """Per-parcel pixel counts, means and population standard deviations.

    Returns one row per parcel position ``0 … n_parcels − 1`` (label ``i + 1``) with

    ========================  ===================================================================
    ``n_px``                  pixels labelled with the parcel (int)
    ``n_valid_px``            of those, pixels that are ``valid`` and finite in every array (int)
    ``<name>_mean``           mean over the valid pixels (float32, NaN if ``n_valid_px == 0``)
    ``<name>_std``            population standard deviation over the same pixels (float32)
    ========================  ===================================================================

    A pixel counts for every statistic or for none, so all means describe the same pixels.
    """
    accumulator = ZonalAccumulator(values, n_parcels)
    accumulator.add(values, labels, valid)
    return accumulator.table()


class ZonalAccumulator:
    """:func:`zonal_statistics` gathered over pieces of the grid (strips, blocks, pixel sets).

    Each piece is reduced to per-parcel counts, means and sums of squared deviations from its
    own means (two passes, which stay accurate for large means); pieces are merged with Chan's
    pairwise update in float64. A parcel seen in one piece gets exactly the statistics of
    :func:`zonal_statistics`; one split over pieces agrees to float64 rounding.
    """

    def __init__(self, names: Iterable[str], n_parcels: int, *, std: bool = True) -> None:
        self.names = list(names)
        self.n_parcels = int(n_parcels)
        self.std = std
        """False: means and counts only (no ``<name>_std`` column), from plain sums."""
        size = self.n_parcels + 1
        self.n_px = np.zeros(size, dtype=np.intp)
        self.n_valid_px = np.zeros(size, dtype=np.intp)
        self.mean = {name: np.zeros(size) for name in self.names}
        """Per parcel: mean so far (with ``std``) or sum (without)."""
        self.squares = {name: np.zeros(size) for name in self.names}
        """Per parcel: sum of squared deviations from its mean (M2)."""

    def add(
        self,
        values: Mapping[str, npt.NDArray[np.floating]],
        labels: npt.NDArray[np.integer],
        valid: npt.NDArray[np.bool_],
    ) -> None:
        """Add the pixels of one piece: arrays of the same size, labels 0 outside parcels."""
        if sorted(values) != sorted(self.names):
            raise DataError(
                f"arrays {sorted(values)} differ from the ones started with {self.names}"
            )
        flat_labels = _flat_labels(labels, self.n_parcels)
        usable = _usable_pixels(values, flat_labels, valid)
        usable_labels = flat_labels[usable]
        size = self.n_parcels + 1
        counts = np.bincount(usable_labels, minlength=size)
        seen = np.flatnonzero(counts)  # a strip of a tile holds a few of its parcels
        self.n_px += np.bincount(flat_labels, minlength=size)
        for name, array in values.items():
            pixel_values = np.asarray(array).ravel()[usable].astype(np.float64)
            if not self.std:  # plain sums: the mean is their quotient in table()
                self.mean[name] += np.bincount(usable_labels, weights=pixel_values, minlength=size)
                continue
            mean, squares = _grouped_mean_squares(pixel_values, usable_labels, counts)
            before = (self.n_valid_px[seen], self.mean[name][seen], self.squares[name][seen])
            merged = _merged_moments(before, (counts[seen], mean[seen], squares[seen]))
            self.mean[name][seen], self.squares[name][seen] = merged
        self.n_valid_px += counts

    def table(self) -> pd.DataFrame:
        """One row per parcel position; the columns of :func:`zonal_statistics`."""
        columns: dict[str, npt.NDArray[np.generic]] = {
            "n_px": self.n_px[1:],
            "n_valid_px": self.n_valid_px[1:],
        }
        counts = self.n_valid_px[1:]
        for name in self.names:
            with np.errstate(divide="ignore", invalid="ignore"):
                mean = self.mean[name][1:] if self.std else self.mean[name][1:] / counts
                mean = np.where(counts > 0, mean, np.nan)
                std = np.sqrt(self.squares[name][1:] / counts)
            columns[f"{name}_mean"] = mean.astype(np.float32)
            if self.std:
                columns[f"{name}_std"] = std.astype(np.float32)
        return pd.DataFrame(columns)


_Moments = tuple[npt.NDArray[np.intp], npt.NDArray[np.float64], npt.NDArray[np.float64]]
"""Per parcel: count, mean, sum of squared deviations from the mean."""


def _merged_moments(
    before: _Moments, piece: _Moments
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Mean and M2 of two pixel sets together (Chan et al.); either side taken as it is when
    the other is empty, so a parcel seen once keeps its values bit for bit."""
    n_a, mean_a, squares_a = before
    n_b, mean_b, squares_b = piece
    n = n_a + n_b
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = mean_b - mean_a
        mean = np.where(n_a == 0, mean_b, np.where(n_b == 0, mean_a, mean_a + delta * n_b / n))
        squares = np.where(
            n_a == 0,
            squares_b,
            np.where(n_b == 0, squares_a, squares_a + squares_b + delta**2 * n_a * n_b / n),
        )
    return mean, squares


def _flat_labels(labels: npt.NDArray[np.integer], n_parcels: int) -> npt.NDArray[np.intp]:
    flat = np.asarray(labels).ravel()
    if not np.issubdtype(flat.dtype, np.integer):
        raise DataError(f"the label raster must hold integers, not {flat.dtype}")
    if flat.size and (flat.min() < 0 or flat.max() > n_parcels):
        raise DataError(
            f"label raster values span {flat.min()}…{flat.max()} but n_parcels is {n_parcels}; "
            "rebuild the labels from the same parcel list"
        )
    return flat.astype(np.intp)


def _usable_pixels(
    values: Mapping[str, npt.NDArray[np.floating]],
    flat_labels: npt.NDArray[np.intp],
    valid: npt.NDArray[np.bool_],
) -> npt.NDArray[np.bool_]:
    """Labelled, valid and finite in every array."""
    if np.size(valid) != flat_labels.size:
        raise DataError(f"valid mask has {np.size(valid)} pixels, labels {flat_labels.size}")
    usable: npt.NDArray[np.bool_] = (flat_labels > 0) & np.asarray(valid, dtype=bool).ravel()
    for name, array in values.items():
        if np.size(array) != flat_labels.size:
            raise DataError(
                f"array {name!r} has {np.size(array)} pixels but the label raster has "
                f"{flat_labels.size}; put every array on the label raster's grid"
            )
        usable = usable & np.isfinite(np.asarray(array)).ravel()
    return usable


def _grouped_mean_squares(
    pixel_values: npt.NDArray[np.float64],
    pixel_labels: npt.NDArray[np.intp],
    counts: npt.NDArray[np.intp],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Mean and sum of squared deviations per label; two passes, accurate for large means."""
    size = counts.size
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.bincount(pixel_labels, weights=pixel_values, minlength=size) / counts
    deviations = np.subtract(pixel_values, mean[pixel_labels])
    summed = np.bincount(
        pixel_labels, weights=np.square(deviations, out=deviations), minlength=size
    )
    return mean, np.asarray(summed, dtype=np.float64)
