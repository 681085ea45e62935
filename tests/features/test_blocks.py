"""The feature table built in blocks of whole communes equals the table built in one piece."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pestcast.features import DEFAULT_FEATURE_SETTINGS, build_feature_table
from pestcast.features.blocks import ParcelBlock, feature_halo_m, in_blocks, parcel_blocks

T = pd.Timestamp("2024-06-03")  # a Monday
DATES = pd.date_range(T - pd.Timedelta(weeks=5), T, freq="7D")
COMMUNE_M = 2_000.0
N_PARCELS = 600


def region(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Parcels on 6 × 6 km (communes 2 km squares), rice-like observations, weather, surveys."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 6_000, N_PARCELS), rng.uniform(0, 6_000, N_PARCELS)
    ids = np.array([f"P{i:04d}" for i in range(N_PARCELS)])
    commune = np.array(
        [f"C{int(a // COMMUNE_M)}{int(b // COMMUNE_M)}" for a, b in zip(x, y, strict=True)]
    )
    parcels = pd.DataFrame({"parcel_id": ids, "commune": commune, "x": x, "y": y})
    acquired = pd.date_range(T - pd.Timedelta(days=200), T, freq="5D") + pd.Timedelta(hours=3)
    sowing = rng.uniform(-60, 140, N_PARCELS)
    age = (acquired - acquired[0]).days.to_numpy()[:, None] - sowing[None, :]
    ndvi = 0.15 + 0.7 / (1 + np.exp(-(age - 35) / 8)) * (age < 105) + rng.normal(0, 0.05, age.shape)
    flooded = (age > -10) & (age < 12)
    clear = rng.random(age.shape) < 0.6
    observations = pd.DataFrame(
        {
            "parcel_id": np.tile(ids, len(acquired)),
            "scene_id": np.repeat([f"S{i}" for i in range(len(acquired))], N_PARCELS),
            "acquired_utc": np.repeat(acquired.tz_localize("UTC"), N_PARCELS),
            "available_utc": np.repeat(
                acquired.tz_localize("UTC") + pd.Timedelta(hours=20), N_PARCELS
            ),
            "n_valid_px": np.where(clear, 30, 0).ravel(),
            "ndvi_mean": np.where(clear, ndvi, np.nan).ravel(),
            "evi_mean": np.where(clear, 0.8 * ndvi, np.nan).ravel(),
            "ndre_mean": np.where(clear, 0.5 * ndvi, np.nan).ravel(),
            "lswi_mean": np.where(clear, np.where(flooded, 0.4, 0.1), np.nan).ravel(),
            "ndre_std": np.where(clear, rng.uniform(0.01, 0.06, age.shape), np.nan).ravel(),
        }
    )
    days = pd.date_range(T - pd.Timedelta(days=60), T, freq="D")
    communes = sorted(set(commune))
    weather = pd.DataFrame(
        {
            "commune": np.tile(communes, len(days)),
            "date": np.repeat(days, len(communes)),
            "tmin_c": rng.normal(24, 1, len(days) * len(communes)),
            "tmax_c": rng.normal(32, 1, len(days) * len(communes)),
            "rh_mean_pct": rng.uniform(60, 95, len(days) * len(communes)),
            "rh_max_pct": 98.0,
            "rain_mm": rng.gamma(0.5, 8, len(days) * len(communes)),
        }
    )
    surveyed = rng.choice(N_PARCELS, 400)
    survey_date = T - pd.to_timedelta(rng.integers(-30, 60, 400), "D")
    surveys = pd.DataFrame(
        {
            "parcel_id": ids[surveyed],
            "survey_date": survey_date,
            "report_date": survey_date + pd.Timedelta(days=1),
            "pest": rng.choice(["bph", "blast"], 400),
            "severity": rng.choice(["none", "light", "medium", "heavy"], 400),
        }
    )
    return observations, parcels, weather, surveys


def test_blocks_hold_whole_communes_and_every_parcel_once() -> None:
    _, parcels, _, _ = region()
    blocks = parcel_blocks(parcels, max_parcels=150, halo_m=750.0)
    assert len(blocks) > 2
    own = np.concatenate([block.own for block in blocks])
    assert sorted(own) == list(range(N_PARCELS))
    for block in blocks:
        assert set(block.own) <= set(block.members)
        communes = set(parcels["commune"].iloc[block.own])
        assert set(np.flatnonzero(parcels["commune"].isin(communes))) == set(block.own)


def test_one_block_when_every_parcel_fits() -> None:
    _, parcels, _, _ = region()
    (block,) = parcel_blocks(parcels, max_parcels=N_PARCELS, halo_m=750.0)
    assert list(block.own) == list(block.members) == list(range(N_PARCELS))


def block_builder(
    tables: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame], **options: Any
) -> Callable[[ParcelBlock], pd.DataFrame]:
    """Builds a block's table as the flows do: its members' observations, every survey."""
    observations, parcels, weather, surveys = tables
    ids = pd.Index(parcels["parcel_id"])

    def build(block: ParcelBlock) -> pd.DataFrame:
        members = ids[block.members]
        return build_feature_table(
            observations[observations["parcel_id"].isin(members)],
            parcels.iloc[block.members],
            weather,
            surveys,
            region_parcel_ids=ids,
            **options,
        )

    return build


@pytest.mark.parametrize("max_parcels", [70, 150, 400])
def test_the_table_in_blocks_equals_the_table_in_one_piece(max_parcels: int) -> None:
    tables = region()
    options: dict[str, Any] = {"forecast_dates": DATES, "horizons": (7, 14)}
    whole = build_feature_table(*tables, **options)
    parcels = tables[1]
    halo = feature_halo_m(DEFAULT_FEATURE_SETTINGS)
    blocks = parcel_blocks(parcels, max_parcels=max_parcels, halo_m=halo)
    assert len(blocks) > 1
    blocked = in_blocks(blocks, pd.Index(parcels["parcel_id"]), block_builder(tables, **options))
    pd.testing.assert_frame_equal(blocked, whole, rtol=1e-12)


def test_a_halo_too_small_would_change_the_neighbour_features() -> None:
    tables = region()
    options: dict[str, Any] = {"forecast_dates": DATES[-1:], "horizons": (7,)}
    whole = build_feature_table(*tables, **options)
    parcels = tables[1]
    blocks = parcel_blocks(parcels, max_parcels=150, halo_m=0.0)
    blocked = in_blocks(blocks, pd.Index(parcels["parcel_id"]), block_builder(tables, **options))
    assert not blocked["nbr_count"].equals(whole["nbr_count"])
