"""``fetch_flow`` with the Planetary Computer profile, as a real Prefect flow, against 127.0.0.1:
a STAC API serving PC-shaped items of the real 29RKH scene, PC's SAS token endpoint and a blob
store that refuses unsigned or expired URLs. The parcel statistics it writes are checked against
an independent numpy computation on the local COGs."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import rasterio
from prefect.testing.utilities import prefect_test_harness
from shapely.geometry import box

from pestcast.flows.config import PestcastConfig
from pestcast.flows.pipeline import fetch_flow
from tests.flows.planetary_computer_stand_in import (
    PlanetaryComputerStandIn,
    planetary_computer_item,
)
from tests.flows.stac_api_server import RECORDED, RecordedStacApi, load_features
from tests.flows.test_raster_read import TILE

ROOT = Path(__file__).resolve().parents[2]
DAYS = (dt.date(2020, 2, 19), dt.date(2020, 2, 24))
MASKED = (0, 1, 3, 8, 9, 10)
WEST, NORTH, PIXEL = 277980.0, 2800020.0, 100.0  # the 100 m grid of the cropped 10 m bands


def parcel_windows() -> list[tuple[int, int, int, int]]:
    """(row, col, rows, cols) of each parcel on the 100 m grid: seeded, over bare soil and cloud."""
    rng = np.random.default_rng(11)
    return [
        (int(rng.integers(0, 290)), int(rng.integers(0, 290)), *map(int, rng.integers(2, 9, 2)))
        for _ in range(12)
    ]


def write_parcels(path: Path) -> None:
    shapes = [
        box(
            WEST + col * PIXEL,
            NORTH - (row + rows) * PIXEL,
            WEST + (col + cols) * PIXEL,
            NORTH - row * PIXEL,
        )
        for row, col, rows, cols in parcel_windows()
    ]
    n = len(shapes)
    parcels = gpd.GeoDataFrame(
        {"parcel_id": [f"P{i:02d}" for i in range(n)], "commune": "c", "district": "d"},
        geometry=shapes,
        crs="EPSG:32629",
    )
    parcels.to_file(path, layer="parcels")


def expected_statistics() -> pd.DataFrame:
    """NDVI and LSWI means and valid pixel counts per parcel, straight from the COGs."""

    def band(stem: str) -> npt.NDArray[np.float64]:
        with rasterio.open(TILE / f"{stem}.tif") as source:
            values = source.read(1).astype(np.float64)
        return values if values.shape == (300, 300) else np.kron(values, np.ones((2, 2)))

    blue, red, nir, nir08, swir16, rededge1 = (
        band(s) / 1e4 for s in ("B02", "B04", "B08", "B8A", "B11", "B05")
    )
    scl = band("SCL")
    with np.errstate(divide="ignore", invalid="ignore"):
        ndvi = (nir - red) / (nir + red)
        lswi = (nir08 - swir16) / (nir08 + swir16)
        evi = 2.5 * (nir - red) / (nir + 6 * red - 7.5 * blue + 1)
        ndre = (nir - rededge1) / (nir + rededge1)
    valid = ~np.isin(scl, MASKED)
    for index in (ndvi, lswi, evi, ndre):
        valid &= np.isfinite(index)
    rows = []
    for i, (row, col, n_rows, n_cols) in enumerate(parcel_windows()):
        window = (slice(row, row + n_rows), slice(col, col + n_cols))
        clear = valid[window]
        rows.append(
            {
                "parcel_id": f"P{i:02d}",
                "n_valid_px": int(clear.sum()),
                "ndvi_mean": ndvi[window][clear].mean() if clear.any() else np.nan,
                "lswi_mean": lswi[window][clear].mean() if clear.any() else np.nan,
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("pc-fetch")
    write_parcels(root / "parcels.gpkg")
    template = load_features("planetary_computer_items.json")[0]
    scene = json.loads((TILE / "S2A_29RKH_20200219_0_L2A.json").read_text())
    collection = json.loads(
        (RECORDED / "planetary_computer_sentinel-2-l2a_collection.json").read_text()
    )
    with (
        PlanetaryComputerStandIn({}) as stand_in,
        RecordedStacApi([], collections={"sentinel-2-l2a": collection}) as api,
        pytest.MonkeyPatch.context() as patch,
        prefect_test_harness(server_startup_timeout=120),
    ):
        for day in DAYS:
            api.items.append(
                planetary_computer_item(template, scene, day=day, stand_in=stand_in, tile_dir=TILE)
            )
        patch.chdir(ROOT)  # the profile is found in config/stac_profiles/
        config = PestcastConfig.model_validate(
            {
                "region": {"name": "pc-fetch", "crs": "EPSG:32629"},
                "sources": {
                    "stac": {
                        "profile": "planetary-computer",
                        "url": api.url,
                        "signing": {"token_url": stand_in.token_url},
                    },
                    "parcels": {"path": root / "parcels.gpkg", "layer": "parcels"},
                    "weather": {"path": root / "unused.parquet"},
                    "surveys": {"path": root / "unused.parquet"},
                },
                "imagery": {
                    "start": "2020-02-01",
                    "end": "2020-02-29",
                    "resolution_m": PIXEL,
                    "inward_buffer_m": 0,
                    "min_parcel_px": 1,
                },
                "paths": {
                    "work_dir": root / "work",
                    "output_dir": root / "outputs",
                    "model_registry": root / "registry",
                },
            }
        )
        stand_in.revoke_after(20)  # the first token stops working during the run
        summary = fetch_flow(config)
        yield {
            "summary": summary,
            "counts": dict(stand_in.counts),
            "observations": pd.read_parquet(root / "work" / "parcel_observations.parquet"),
        }


def test_every_scene_is_read_and_none_skipped(fetched: dict[str, Any]) -> None:
    summary = fetched["summary"]
    assert summary["solar_days_found"] == len(DAYS)
    assert summary["scenes_used"] == len(DAYS)
    assert summary["scenes_skipped"] == {}


def test_parcel_statistics_are_those_of_the_cogs(fetched: dict[str, Any]) -> None:
    observations = fetched["observations"]
    expected = expected_statistics()
    assert expected["n_valid_px"].gt(0).sum() >= 6  # the check means something
    assert expected["n_valid_px"].lt(expected["n_valid_px"].max()).any()  # clouds in some
    for _, day in observations.groupby("scene_id"):
        got = day.sort_values("parcel_id").reset_index(drop=True)
        assert got["parcel_id"].tolist() == expected["parcel_id"].tolist()
        np.testing.assert_array_equal(got["n_valid_px"], expected["n_valid_px"])
        for column in ("ndvi_mean", "lswi_mean"):
            np.testing.assert_allclose(got[column], expected[column], rtol=1e-5, equal_nan=True)


def test_only_signed_urls_were_read_and_the_token_was_renewed_mid_run(
    fetched: dict[str, Any],
) -> None:
    counts = fetched["counts"]
    assert counts.get("unsigned", 0) == 0
    assert counts["refused"] >= 1  # reads with the revoked token were refused ...
    assert counts["token"] == 2  # ... and retried with one renewed token
    assert counts["signed"] > 20


def test_availability_follows_the_items(fetched: dict[str, Any]) -> None:
    # PC items carry no created/published: available one day after acquisition.
    observations = fetched["observations"]
    delay = observations["available_utc"] - observations["acquired_utc"]
    assert (delay == pd.Timedelta(days=1)).all()
    assert sorted(observations["acquired_utc"].dt.date.unique()) == list(DAYS)
