"""``fetch_flow`` with ``imagery.indices`` extended: the observations gain ``<index>_mean`` and
``_std`` for CIG, CIRE and NDWI, equal to numpy on the real 29RKH COGs, and a default fetch in
the same work folder beforehand leaves its own cache files (the list is in the cache key: the
longer list re-reads the scene, nothing is mixed or set aside as corrupt).

One solar day of the Planetary Computer stand-in of ``test_fetch_planetary_computer``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import rasterio
from prefect.testing.utilities import prefect_test_harness

from pestcast.features import DEFAULT_PARCEL_INDICES
from pestcast.flows.config import PestcastConfig
from pestcast.flows.pipeline import fetch_flow
from tests.flows.planetary_computer_stand_in import (
    PlanetaryComputerStandIn,
    planetary_computer_item,
)
from tests.flows.stac_api_server import RECORDED, RecordedStacApi, load_features
from tests.flows.test_fetch_planetary_computer import MASKED, PIXEL, parcel_windows, write_parcels
from tests.flows.test_raster_read import TILE

ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date(2020, 2, 19)
EXTRA = ("cig", "cire", "ndwi")


def _config(root: Path, api_url: str, token_url: str, indices: tuple[str, ...]) -> PestcastConfig:
    return PestcastConfig.model_validate(
        {
            "region": {"name": "pc-indices", "crs": "EPSG:32629"},
            "sources": {
                "stac": {
                    "profile": "planetary-computer",
                    "url": api_url,
                    "signing": {"token_url": token_url},
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
                "indices": list(indices),
            },
            "paths": {
                "work_dir": root / "work",
                "output_dir": root / "outputs",
                "model_registry": root / "registry",
            },
        }
    )


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("pc-indices")
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
        api.items.append(
            planetary_computer_item(template, scene, day=DAY, stand_in=stand_in, tile_dir=TILE)
        )
        patch.chdir(ROOT)  # the profile is found in config/stac_profiles/
        observations = root / "work" / "parcel_observations.parquet"
        fetch_flow(_config(root, api.url, stand_in.token_url, DEFAULT_PARCEL_INDICES))
        default = pd.read_parquet(observations)
        summary = fetch_flow(
            _config(root, api.url, stand_in.token_url, (*DEFAULT_PARCEL_INDICES, *EXTRA))
        )
        yield {
            "summary": summary,
            "default": default,
            "extended": pd.read_parquet(observations),
            "cache_files": sorted(p.name for p in (root / "work" / "observations").iterdir()),
        }


def _cog_indices() -> tuple[npt.NDArray[np.bool_], dict[str, npt.NDArray[np.float64]]]:
    """Pixel validity and every index, straight from the COGs on the 300 × 300 test grid."""

    def band(stem: str) -> npt.NDArray[np.float64]:
        with rasterio.open(TILE / f"{stem}.tif") as source:
            values = source.read(1).astype(np.float64)
        return values if values.shape == (300, 300) else np.kron(values, np.ones((2, 2)))

    blue, green, red, rededge1, nir, nir08, swir16 = (
        band(s) / 1e4 for s in ("B02", "B03", "B04", "B05", "B08", "B8A", "B11")
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        index = {
            "ndvi": (nir - red) / (nir + red),
            "evi": 2.5 * (nir - red) / (nir + 6 * red - 7.5 * blue + 1),
            "ndre": (nir - rededge1) / (nir + rededge1),
            "lswi": (nir08 - swir16) / (nir08 + swir16),
            "cig": nir / green - 1.0,
            "cire": nir / rededge1 - 1.0,
            "ndwi": (green - nir) / (green + nir),
        }
    valid = ~np.isin(band("SCL"), MASKED)
    for values in index.values():
        valid &= np.isfinite(values)
    return valid, index


def test_extra_indices_are_in_the_observations(fetched: dict[str, Any]) -> None:
    extended, default = fetched["extended"], fetched["default"]
    for name in EXTRA:
        assert {f"{name}_mean", f"{name}_std"} <= set(extended.columns)
        assert not {f"{name}_mean", f"{name}_std"} & set(default.columns)
    assert extended[[f"{name}_mean" for name in EXTRA]].notna().any().all()
    assert fetched["summary"]["scenes_used"] == 1


def test_extra_index_means_are_those_of_the_cogs(fetched: dict[str, Any]) -> None:
    valid, index = _cog_indices()
    got = fetched["extended"].sort_values("parcel_id").reset_index(drop=True)
    for i, (row, col, n_rows, n_cols) in enumerate(parcel_windows()):
        window = (slice(row, row + n_rows), slice(col, col + n_cols))
        clear = valid[window]
        assert got.loc[i, "n_valid_px"] == clear.sum()
        for name in EXTRA:
            expected = index[name][window][clear].mean() if clear.any() else np.nan
            np.testing.assert_allclose(got.loc[i, f"{name}_mean"], expected, rtol=1e-5)


def test_the_longer_list_reread_the_scene_into_its_own_cache_file(fetched: dict[str, Any]) -> None:
    files = fetched["cache_files"]
    assert len(files) == 2, files  # one per index list, for the one solar day
    assert not [name for name in files if ".corrupt" in name]
    # No pixel of this tile has green or red edge 0, so the extra indices leave the joint
    # validity rule, and with it every default column, as the default list had them.
    default = fetched["default"]
    pd.testing.assert_frame_equal(
        fetched["extended"][default.columns].sort_values("parcel_id").reset_index(drop=True),
        default.sort_values("parcel_id").reset_index(drop=True),
    )
