"""A synthetic rice province on one full Sentinel-2 tile, for the scale benchmarks.

Parcels are strips of 20–75 m by 100–400 m (0.2–3 ha, the size of Mekong delta rice fields) laid
out in rows along canals over tile 48PWS (An Giang), thinned at random to the wanted count with
the density of 500,000 parcels on the full 10980 × 10980 px tile: fewer parcels cover a smaller
square in the tile's north-west corner at the same density, so every neighbourhood holds as many
parcels at 20,000 as at 500,000 and only the size of the province changes. Communes are 5 km
squares, districts 25 km.

The values are plausible, not an epidemic: each parcel has a sowing date, NDVI follows a rice
season from it, scenes every 5 days carry per-commune clouds, weather is noise around the delta's
normals and a few parcels are surveyed each week. What the benchmarks measure (time, memory) does
not depend on the values, but the classes and reasons the forecast publishes should look like a
real week, so they are not pure noise.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

TILE_WEST, TILE_NORTH = 499_980.0, 1_200_000.0
"""Upper-left corner of tile 48PWS in EPSG:32648 (the demo region lies in it)."""
TILE_PX = 10_980
PIXEL_M = 10.0
CRS = "EPSG:32648"
FULL_TILE_PARCELS = 500_000
COMMUNE_M, DISTRICT_M = 5_000.0, 25_000.0
BUND_M = 1.0
"""Half the width of the bund between two fields: parcels never touch."""
STRIP_WIDTH_M = (20.0 + 2 * BUND_M, 75.0)
STRIP_LENGTH_M = (100.0 + 2 * BUND_M, 400.0)
SCENE_INTERVAL_DAYS = 5
INDICES = ("ndvi", "evi", "ndre", "lswi")


@dataclass(frozen=True)
class Province:
    """One synthetic province's tables."""

    parcels: gpd.GeoDataFrame
    observations: pd.DataFrame
    weather: pd.DataFrame
    surveys: pd.DataFrame


def province_side_m(n_parcels: int) -> float:
    """Side of the square that holds ``n_parcels`` at full-tile density."""
    return TILE_PX * PIXEL_M * math.sqrt(min(n_parcels, FULL_TILE_PARCELS) / FULL_TILE_PARCELS)


def province_parcels(n_parcels: int, *, seed: int = 0) -> gpd.GeoDataFrame:
    """``n_parcels`` strip fields with ``parcel_id``, ``commune``, ``district``, ``province``."""
    rng = np.random.default_rng(seed)
    side = province_side_m(n_parcels)
    west, north = TILE_WEST, TILE_NORTH
    boxes: list[npt.NDArray[np.float64]] = []
    top = north
    while top - STRIP_LENGTH_M[0] >= north - side:
        bottom = max(top - rng.uniform(*STRIP_LENGTH_M), north - side)
        edges = np.cumsum(rng.uniform(*STRIP_WIDTH_M, size=int(side / STRIP_WIDTH_M[0]) + 2))
        edges = np.concatenate([[0.0], edges[edges < side]]) + west
        row = np.column_stack(
            [edges[:-1], np.full(edges.size - 1, bottom), edges[1:], np.full(edges.size - 1, top)]
        )
        boxes.append(row)
        top = bottom
    cells = np.concatenate(boxes)
    if len(cells) < n_parcels:
        raise ValueError(f"only {len(cells):,} fields fit; ask for fewer than {n_parcels:,}")
    keep = np.sort(rng.choice(len(cells), size=n_parcels, replace=False))
    west_e, south_e, east_e, north_e = (cells[keep, i] for i in range(4))
    geometry = shapely.box(west_e + BUND_M, south_e + BUND_M, east_e - BUND_M, north_e - BUND_M)
    centre_x, centre_y = (west_e + east_e) / 2, (south_e + north_e) / 2
    commune = _block_names("X", centre_x, centre_y, COMMUNE_M)
    district = _block_names("H", centre_x, centre_y, DISTRICT_M)
    return gpd.GeoDataFrame(
        {
            "parcel_id": [f"P{i:07d}" for i in range(n_parcels)],
            "commune": commune,
            "district": district,
            "province": "Synthetic",
        },
        geometry=geometry,
        crs=CRS,
    )


def _block_names(
    prefix: str, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], size_m: float
) -> npt.NDArray[np.object_]:
    column = ((x - TILE_WEST) // size_m).astype(int)
    row = ((TILE_NORTH - y) // size_m).astype(int)
    return np.array([f"{prefix}{r:02d}-{c:02d}" for r, c in zip(row, column, strict=True)])


def synthetic_province(
    n_parcels: int, *, forecast_date: dt.date, history_days: int, seed: int = 0
) -> Province:
    """Parcels, ``history_days`` of observations before ``forecast_date``, weather, surveys."""
    rng = np.random.default_rng(seed + 1)
    parcels = province_parcels(n_parcels, seed=seed)
    first = pd.Timestamp(forecast_date) - pd.Timedelta(days=history_days)
    return Province(
        parcels=parcels,
        observations=_observations(rng, parcels, first, pd.Timestamp(forecast_date)),
        weather=_weather(rng, sorted(set(parcels["commune"])), first, forecast_date),
        surveys=_surveys(rng, parcels, pd.Timestamp(forecast_date)),
    )


def _observations(
    rng: np.random.Generator, parcels: gpd.GeoDataFrame, first: pd.Timestamp, last: pd.Timestamp
) -> pd.DataFrame:
    """One row per parcel and scene (10:26 local, available a day later), rice-like indices."""
    acquired = pd.date_range(first + pd.Timedelta(hours=3, minutes=26), last, freq="5D", tz="UTC")
    n_parcels, n_scenes = len(parcels), len(acquired)
    sowing_day = rng.uniform(-100, 20, n_parcels)  # days after `first` + 90
    age = (np.arange(n_scenes) * SCENE_INTERVAL_DAYS)[:, None] - 90 - sowing_day[None, :]
    growth = 1 / (1 + np.exp(-(age - 35) / 8)) * (age < 105)
    ndvi = 0.15 + 0.7 * growth + rng.normal(0, 0.04, (n_scenes, n_parcels))
    flooded = (age > -10) & (age < 15)
    n_px = np.maximum(parcels.geometry.area.to_numpy() / PIXEL_M**2, 1).astype(np.int64)
    communes = pd.factorize(parcels["commune"])[0]
    cloud = rng.beta(0.6, 0.9, (n_scenes, communes.max() + 1))[:, communes]
    clear = rng.random((n_scenes, n_parcels)) > cloud
    values = {
        "ndvi": ndvi,
        "evi": 0.8 * ndvi + rng.normal(0, 0.03, ndvi.shape),
        "ndre": 0.55 * ndvi + rng.normal(0, 0.03, ndvi.shape),
        "lswi": np.where(flooded, 0.35, 0.1 + 0.2 * growth) + rng.normal(0, 0.04, ndvi.shape),
    }
    table = pd.DataFrame(
        {
            "parcel_id": np.tile(parcels["parcel_id"].to_numpy(), n_scenes),
            "scene_id": np.repeat([f"S2X_{a:%Y%m%d}_T48PWS" for a in acquired], n_parcels),
            "acquired_utc": np.repeat(acquired, n_parcels),
            "available_utc": np.repeat(acquired + pd.Timedelta(hours=22), n_parcels),
            "n_px": np.tile(n_px, n_scenes),
            "n_valid_px": np.where(clear, np.tile(n_px, (n_scenes, 1)), 0).ravel(),
        }
    )
    for name in INDICES:
        table[f"{name}_mean"] = np.where(clear, values[name], np.nan).astype(np.float32).ravel()
        spread = np.abs(rng.normal(0.04, 0.01, ndvi.shape))
        table[f"{name}_std"] = np.where(clear, spread, np.nan).astype(np.float32).ravel()
    return table


def _weather(
    rng: np.random.Generator, communes: list[str], first: pd.Timestamp, last: dt.date
) -> pd.DataFrame:
    days = pd.date_range(first - pd.Timedelta(days=30), pd.Timestamp(last), freq="D")
    n = len(days) * len(communes)
    tmin = rng.normal(24.0, 0.8, n)
    rh = np.clip(rng.normal(80, 6, n), 40, 100)
    return pd.DataFrame(
        {
            "commune": np.tile(communes, len(days)),
            "date": np.repeat(days, len(communes)),
            "tmin_c": tmin.round(1),
            "tmax_c": (tmin + rng.normal(8, 1.2, n)).round(1),
            "rh_mean_pct": rh.round(1),
            "rh_max_pct": np.clip(rh + 10, 0, 100).round(1),
            "rain_mm": np.where(rng.random(n) < 0.4, rng.gamma(0.8, 12, n), 0.0).round(1),
        }
    )


def _surveys(
    rng: np.random.Generator, parcels: gpd.GeoDataFrame, last: pd.Timestamp
) -> pd.DataFrame:
    """Each week of the last eight, 1 % of parcels checked for each pest."""
    rows = []
    ids = parcels["parcel_id"].to_numpy()
    for week in range(8):
        survey_date = last - pd.Timedelta(days=7 * week + 3)
        for pest in ("bph", "blast"):
            picked = rng.choice(ids, size=max(len(ids) // 100, 1), replace=False)
            found = rng.random(picked.size)
            rows.append(
                pd.DataFrame(
                    {
                        "parcel_id": picked,
                        "survey_date": survey_date,
                        "report_date": survey_date + pd.Timedelta(days=1),
                        "pest": pest,
                        "density_per_m2": np.where(pest == "bph", found * 3000, np.nan),
                        "incidence_pct": np.where(pest == "blast", found * 40, np.nan),
                        "severity": pd.cut(
                            found, [0, 0.6, 0.85, 0.95, 1.0], labels=SEVERITIES, include_lowest=True
                        ).astype(str),
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


SEVERITIES = ["none", "light", "medium", "heavy"]


def write_province(province: Province, folder: Path) -> dict[str, Path]:
    """Parcels (GeoPackage), weather and surveys (Parquet) under ``folder``; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "parcels": folder / "parcels.gpkg",
        "weather": folder / "weather.parquet",
        "surveys": folder / "surveys.parquet",
    }
    province.parcels.to_file(paths["parcels"], layer="parcels", driver="GPKG", engine="pyogrio")
    province.weather.to_parquet(paths["weather"], index=False)
    province.surveys.to_parquet(paths["surveys"], index=False)
    return paths
