"""Vegetation and water indices from surface reflectance (0–1), after awesome-spectral-indices.

Formulas follow the awesome-spectral-indices catalogue (Montero et al. 2023, Sci. Data 10:197,
doi:10.1038/s41597-023-02096-0; ``output/spectral-indices-table.csv``), whose Sentinel-2 bands
(``output/bands.json``) are G = B03, RE1 = B05, N = B08, N2 = B8A, S1 = B11; names are its short
names in lower case, except ``ndre`` (its NDREI). One deliberate departure: LSWI reads the 20 m
pair B8A/B11, not B08/B11.
Each function takes numpy arrays or xarray DataArrays of reflectance and returns the same kind
(DataArrays keep their coords and attrs). Division by zero gives NaN, never ±inf.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import xarray as xr

from pestcast.features.index_catalog import INDEX_BANDS, INDEX_NAMES

__all__ = [
    "INDEX_BANDS",
    "INDEX_FUNCTIONS",
    "INDEX_NAMES",
    "cig",
    "cire",
    "evi",
    "lswi",
    "msavi",
    "ndre",
    "ndvi",
    "ndwi",
    "savi",
]

Reflectance = TypeVar("Reflectance", npt.NDArray[np.floating], xr.DataArray)


def _ratio(numerator: Reflectance, denominator: Reflectance) -> Reflectance:
    """numerator / denominator, NaN wherever the denominator is 0 (0/0 included) or the quotient
    overflows (a plain ratio such as CIG over a subnormal denominator): never ±inf."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = numerator / denominator
    bad = (denominator == 0) | np.isinf(out)
    if isinstance(out, xr.DataArray):
        return out.where(~bad)
    return np.where(bad, np.nan, out)


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


def cig(nir: Reflectance, green: Reflectance) -> Reflectance:
    """Green chlorophyll index, GCI (B08, B03): N / G − 1; awesome-spectral-indices ``CIG``.

    Gitelson, Gritz & Merzlyak (2003), doi:10.1078/0176-1617-00887. The catalogue's short name
    is CIG ("Chlorophyll Index Green"), so that is the name here; GCI is the same index.
    """
    return _ratio(nir, green) - 1.0


def cire(nir: Reflectance, rededge1: Reflectance) -> Reflectance:
    """Red-edge chlorophyll index (B08, B05): N / RE1 − 1; awesome-spectral-indices ``CIRE``.

    Gitelson, Gritz & Merzlyak (2003), doi:10.1078/0176-1617-00887.
    """
    return _ratio(nir, rededge1) - 1.0


def ndwi(green: Reflectance, nir: Reflectance) -> Reflectance:
    """McFeeters' normalised difference water index (B03, B08): (G − N) / (G + N).

    Open water, not canopy moisture: awesome-spectral-indices ``NDWI``, McFeeters (1996),
    doi:10.1080/01431169608948714. Gao's NDWI (NIR − SWIR) is :func:`lswi`.
    """
    return _ratio(green - nir, green + nir)


INDEX_FUNCTIONS: dict[str, Callable[..., npt.NDArray[np.floating]]] = {
    "ndvi": ndvi,
    "evi": evi,
    "ndre": ndre,
    "lswi": lswi,
    "savi": savi,
    "msavi": msavi,
    "cig": cig,
    "cire": cire,
    "ndwi": ndwi,
}
"""Index name → function, called with the bands of :data:`INDEX_BANDS` in order."""
