"""Vegetation and water indices from surface reflectance (0–1), after awesome-spectral-indices.

Each function takes numpy arrays or xarray DataArrays of reflectance and returns the same kind
(DataArrays keep their coords and attrs). Division by zero gives NaN, never ±inf.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import xarray as xr

__all__ = [
    "INDEX_BANDS",
    "INDEX_FUNCTIONS",
    "INDEX_NAMES",
    "evi",
    "lswi",
    "msavi",
    "ndre",
    "ndvi",
    "savi",
]

Reflectance = TypeVar("Reflectance", npt.NDArray[np.floating], xr.DataArray)


def _ratio(numerator: Reflectance, denominator: Reflectance) -> Reflectance:
    """numerator / denominator, NaN wherever the denominator is 0 (0/0 included)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = numerator / denominator
    zero = denominator == 0
    if isinstance(out, xr.DataArray):
        return out.where(~zero)
    return np.where(zero, np.nan, out)


def ndvi(nir: Reflectance, red: Reflectance) -> Reflectance:
    """Normalised difference vegetation index (B08, B04): (N − R) / (N + R)."""
    return _ratio(nir - red, nir + red)


def evi(nir: Reflectance, red: Reflectance, blue: Reflectance) -> Reflectance:
    """Enhanced vegetation index (B08, B04, B02): 2.5 (N − R) / (N + 6R − 7.5B + 1)."""
    return _ratio(2.5 * (nir - red), nir + 6.0 * red - 7.5 * blue + 1.0)


def ndre(nir: Reflectance, rededge1: Reflectance) -> Reflectance:
    """Normalised difference red-edge index (B08, B05): (N − RE1) / (N + RE1)."""
    return _ratio(nir - rededge1, nir + rededge1)


def lswi(nir08: Reflectance, swir16: Reflectance) -> Reflectance:
    """Land surface water index, Gao's NDWI / NDMI (B8A, B11): (N8A − S1) / (N8A + S1).

    Not McFeeters' NDWI (green − NIR), which measures open water, not canopy and paddy moisture.
    """
    return _ratio(nir08 - swir16, nir08 + swir16)


def savi(nir: Reflectance, red: Reflectance, soil_factor: float = 0.5) -> Reflectance:
    """Soil-adjusted vegetation index: (1 + L)(N − R) / (N + R + L)."""
    return _ratio((1.0 + soil_factor) * (nir - red), nir + red + soil_factor)


def msavi(nir: Reflectance, red: Reflectance) -> Reflectance:
    """Modified soil-adjusted vegetation index: 0.5 (2N + 1 − √((2N + 1)² − 8(N − R))).

    The radicand is computed as (2N − 1)² + 8R, the same number, because in float32 the textbook
    form rounds below zero for R = 0 and N ≥ 0.5 and gave NaN for valid pixels.
    """
    with np.errstate(invalid="ignore"):
        return 0.5 * (2.0 * nir + 1.0 - np.sqrt((2.0 * nir - 1.0) ** 2 + 8.0 * red))


INDEX_BANDS: dict[str, tuple[str, ...]] = {
    "ndvi": ("nir", "red"),
    "evi": ("nir", "red", "blue"),
    "ndre": ("nir", "rededge1"),
    "lswi": ("nir08", "swir16"),
    "savi": ("nir", "red"),
    "msavi": ("nir", "red"),
}
"""Logical band names (Earth Search common names) each index needs, in argument order."""

INDEX_NAMES = tuple(INDEX_BANDS)

INDEX_FUNCTIONS: dict[str, Callable[..., npt.NDArray[np.floating]]] = {
    "ndvi": ndvi,
    "evi": evi,
    "ndre": ndre,
    "lswi": lswi,
    "savi": savi,
    "msavi": msavi,
}
"""Index name → function, called with the bands of :data:`INDEX_BANDS` in order."""
