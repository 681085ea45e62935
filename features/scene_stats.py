"""One scene's reflectance and scene classification reduced to index statistics per parcel."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from pestcast.core.errors import DataError
from pestcast.features.cloud_mask import (
    DEFAULT_SCL_MASK_CLASSES,
    clear_sky_mask,
    validate_scl_mask_classes,
)
from pestcast.features.index_catalog import DEFAULT_PARCEL_INDICES, INDEX_BANDS
from pestcast.features.indices import INDEX_FUNCTIONS
from pestcast.features.zonal import ZonalAccumulator

__all__ = [
    "ParcelIndexAccumulator",
    "index_from_bands",
    "parcel_index_stats",
]


def parcel_index_stats(
    bands: Mapping[str, npt.NDArray[np.float32]],
    scl: npt.NDArray[np.integer],
    labels: npt.NDArray[np.integer],
    *,
    n_parcels: int,
    indices: Sequence[str] = DEFAULT_PARCEL_INDICES,
    mask_classes: Iterable[int] = DEFAULT_SCL_MASK_CLASSES,
) -> pd.DataFrame:
    """Per-parcel ``n_px``, ``n_valid_px``, ``<index>_mean`` and ``<index>_std`` of one scene.

    ``bands`` hold reflectance (0–1, NaN nodata) keyed by logical band name (``red``, ``nir``,
    ``nir08``…, see :data:`features.index_catalog.INDEX_BANDS`), all on the grid of ``scl`` and
    ``labels``. A pixel is valid when its SCL class is not in ``mask_classes`` and every index is
    finite there; one row per parcel position ``0 … n_parcels − 1``. Indices are computed on
    parcel pixels only, which on a sparse parcel layer is most of the work saved.
    """
    scl = np.asarray(scl)
    if np.shape(labels) != scl.shape:
        raise DataError(
            f"label raster shape {np.shape(labels)} differs from the SCL shape {scl.shape}; "
            "rasterize the parcels on the analysis grid the scene was read onto"
        )
    flat_labels = np.asarray(labels).ravel()
    inside = flat_labels > 0
    pixels = _parcel_pixels(bands, indices, scl.shape, inside)
    accumulator = ParcelIndexAccumulator(n_parcels, indices=indices, mask_classes=mask_classes)
    accumulator.add(pixels, scl.ravel()[inside], flat_labels[inside])
    return accumulator.table()


class ParcelIndexAccumulator:
    """:func:`parcel_index_stats` gathered piece by piece (strips of a tile, parcel pixels).

    Each :meth:`add` takes the parcel pixels of one piece as flat arrays; :meth:`table` gives
    the table :func:`parcel_index_stats` gives for all pieces at once (exactly for parcels
    inside one piece, to float64 rounding for parcels split between pieces).
    """

    def __init__(
        self,
        n_parcels: int,
        *,
        indices: Sequence[str] = DEFAULT_PARCEL_INDICES,
        mask_classes: Iterable[int] = DEFAULT_SCL_MASK_CLASSES,
    ) -> None:
        unknown = [name for name in indices if name not in INDEX_FUNCTIONS]
        if unknown:
            raise DataError(
                f"unknown index {unknown[0]!r}; choose from {', '.join(INDEX_FUNCTIONS)}"
            )
        self.indices = tuple(indices)
        self.mask_classes = validate_scl_mask_classes(mask_classes)
        self.zonal = ZonalAccumulator(self.indices, n_parcels)

    def add(
        self,
        bands: Mapping[str, npt.NDArray[np.float32]],
        scl: npt.NDArray[np.integer],
        labels: npt.NDArray[np.integer],
    ) -> None:
        """Add pixels: reflectance of :attr:`bands`, SCL and labels (0 outside parcels), all
        flat and of one length."""
        values = {name: index_from_bands(name, bands) for name in self.indices}
        clear = clear_sky_mask(np.asarray(scl), self.mask_classes)
        self.zonal.add(values, labels, clear)

    def table(self) -> pd.DataFrame:
        """One row per parcel position: ``n_px``, ``n_valid_px``, ``<index>_mean``/``_std``."""
        return self.zonal.table()


def index_from_bands(
    name: str, bands: Mapping[str, npt.NDArray[np.floating]]
) -> npt.NDArray[np.floating]:
    """Index ``name`` computed from reflectance ``bands`` (logical names, see ``INDEX_BANDS``)."""
    _check_bands_for(name, bands)
    return INDEX_FUNCTIONS[name](*(np.asarray(bands[band]) for band in INDEX_BANDS[name]))


def _check_bands_for(name: str, bands: Mapping[str, npt.NDArray[np.floating]]) -> None:
    if name not in INDEX_FUNCTIONS:
        raise DataError(f"unknown index {name!r}; choose from {', '.join(INDEX_FUNCTIONS)}")
    for band in INDEX_BANDS[name]:
        if band not in bands:
            raise DataError(
                f"band {band!r} is needed for index {name!r} but was not read "
                f"(bands present: {', '.join(bands) or 'none'}); add it to the bands read"
            )


def _parcel_pixels(
    bands: Mapping[str, npt.NDArray[np.float32]],
    indices: Sequence[str],
    shape: tuple[int, ...],
    inside: npt.NDArray[np.bool_],
) -> dict[str, npt.NDArray[np.float32]]:
    """The parcel pixels of every band the indices need, as flat arrays."""
    pixels = {}
    for name in indices:
        _check_bands_for(name, bands)
        for band in INDEX_BANDS[name]:
            array = np.asarray(bands[band])
            if array.shape != shape:
                raise DataError(
                    f"band {band!r} has shape {array.shape}, the SCL has {shape}; "
                    "read every band onto the same analysis grid"
                )
            pixels[band] = array.ravel()[inside]
    return pixels
