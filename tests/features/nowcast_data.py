"""Small hand-made observation tables shared by the nowcast feature tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

T = pd.Timestamp("2024-02-05")  # a Monday
FLOODED = {"ndvi": 0.2, "evi": 0.2, "ndre": 0.1, "lswi": 0.3}
"""LSWI + 0.05 ≥ EVI and NDVI < 0.3: a flooding signal."""
BARE = {"ndvi": 0.2, "evi": 0.15, "ndre": 0.05, "lswi": -0.1}
"""Dry stubble or soil: low NDVI without a flooding signal."""


def green(
    ndvi: float = 0.7, *, ndre: float | None = None, evi: float | None = None
) -> dict[str, float]:
    """A canopy observation (no flooding signal)."""
    return {
        "ndvi": ndvi,
        "evi": ndvi * 0.8 if evi is None else evi,
        "ndre": ndvi * 0.5 if ndre is None else ndre,
        "lswi": 0.1,
    }


def obs(
    parcel: str,
    acquired: str | pd.Timestamp,
    values: dict[str, float],
    *,
    ndre_std: float = 0.02,
    n_valid_px: int = 20,
    available: str | None = None,
) -> dict[str, Any]:
    """One parcel observation acquired 10:30 local, available the same evening (UTC)."""
    acquired_utc = pd.Timestamp(f"{pd.Timestamp(acquired):%Y-%m-%d} 03:30", tz="UTC")
    available_utc = (
        pd.Timestamp(available, tz="UTC") if available else acquired_utc + pd.Timedelta(hours=8)
    )
    return {
        "parcel_id": parcel,
        "scene_id": f"S2_{acquired_utc:%Y%m%d}",
        "acquired_utc": acquired_utc,
        "available_utc": available_utc,
        "n_px": 30,
        "n_valid_px": n_valid_px,
        **{f"{name}_mean": np.float32(value) for name, value in values.items()},
        **{f"{name}_std": np.float32(0.01) for name in values},
        "ndre_std": np.float32(ndre_std),
    }


def days_before(days: int) -> pd.Timestamp:
    return T - pd.Timedelta(days=days)
