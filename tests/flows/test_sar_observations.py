"""Sentinel-1 RTC per parcel: exact linear means and dB from real COGs, nodata, slices of a pass,
the content cache, the Planetary Computer item shape signed through its profile, the config, and
the radar part of the fetch on a small simulated region (real Prefect tasks)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pystac
import pytest
import rasterio
import yaml
from affine import Affine
from prefect.testing.utilities import prefect_test_harness

from pestcast.core.errors import ConfigError
from pestcast.features.sar import SAR_OBSERVATION_COLUMNS
from pestcast.flows.config import PestcastConfig, SarSourceConfig, load_config
from pestcast.flows.layout import RunLayout
from pestcast.flows.raster_read import AnalysisGrid
from pestcast.flows.sar_observations import (
    fetch_sar_observations,
    observe_sar_day,
    read_sar_day,
    sar_cache_path,
)
from pestcast.flows.stac_search import SceneRef, scene_from_item
from pestcast.flows.tables import read_parcels
from pestcast.flows.tasks import parcel_labels
from pestcast.simulator import DemoSettings, generate_demo_region
from tests.flows.planetary_computer_stand_in import PlanetaryComputerStandIn

# Tasks called outside a flow log only locally; Prefect says so once per message.
pytestmark = pytest.mark.filterwarnings("ignore:Logger 'prefect.task_runs' attempted:UserWarning")

ROOT = Path(__file__).resolve().parents[2]
PC_ITEM = ROOT / "tests" / "data" / "stac" / "planetary_computer_s1_rtc_item.json"
NODATA = -32768.0
WEST, NORTH = 300_000.0, 3_400_000.0  # inside the recorded item's footprint (EPSG:32614)
GRID = AnalysisGrid("EPSG:32614", Affine(10.0, 0.0, WEST, 0.0, -10.0, NORTH), (6, 6))
LABELS = np.array([[1, 1, 1, 2, 2, 2]] * 5 + [[0, 0, 3, 3, 0, 0]], dtype=np.int32)
PARCELS = ["west", "east", "strip"]


def backscatter(seed: int) -> dict[str, npt.NDArray[np.float32]]:
    rng = np.random.default_rng(seed)
    vv = (0.1 * rng.gamma(4.4, 1 / 4.4, GRID.shape)).astype(np.float32)
    vh = (0.02 * rng.gamma(4.4, 1 / 4.4, GRID.shape)).astype(np.float32)
    vv[0, 0] = vh[1, 4] = NODATA  # one nodata pixel in each parcel
    vv[5, 2:4] = NODATA  # parcel "strip" entirely nodata
    return {"vv": vv, "vh": vh}


def write_cog(
    path: Path, values: npt.NDArray[np.float32], transform: Affine = GRID.transform
) -> Path:
    profile = {
        "driver": "COG",
        "width": values.shape[1],
        "height": values.shape[0],
        "count": 1,
        "dtype": "float32",
        "nodata": NODATA,
        "crs": "EPSG:32614",
        "transform": transform,
        "compress": "DEFLATE",
    }
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(values, 1)
    return path


def pc_item(hrefs: dict[str, str], *, item_id: str | None = None) -> pystac.Item:
    """The recorded Planetary Computer item with its assets pointed at ``hrefs``."""
    raw: dict[str, Any] = json.loads(PC_ITEM.read_text(encoding="utf-8"))
    raw["id"] = item_id or raw["id"]
    for key, href in hrefs.items():
        raw["assets"][key]["href"] = href
    return pystac.Item.from_dict(raw)


def radar_scene(item: pystac.Item, source: SarSourceConfig | None = None) -> SceneRef:
    source = source or SarSourceConfig()
    return scene_from_item(
        item, asset_keys=source.asset_keys, boa_offset=None, access=source.access()
    )


def expected(bands: dict[str, npt.NDArray[np.float32]], parcel: int) -> dict[str, float]:
    valid = (parcel == LABELS) & (bands["vv"] > 0) & (bands["vh"] > 0)
    vv, vh = (bands[p][valid].astype(np.float64).mean() for p in ("vv", "vh"))
    return {"n_valid_px": int(valid.sum()), "vv_linear_mean": vv, "vh_linear_mean": vh}


def test_parcel_backscatter_is_the_mean_linear_power_of_valid_pixels(tmp_path: Path) -> None:
    bands = backscatter(1)
    hrefs = {p: str(write_cog(tmp_path / f"{p}.tif", bands[p])) for p in bands}
    scene = radar_scene(pc_item(hrefs))
    cache = sar_cache_path(tmp_path / "cache", [scene], GRID, "parcels-v1")

    table, cached = observe_sar_day([scene], GRID, LABELS, PARCELS, cache_path=cache)
    again, cached_again = observe_sar_day([scene], GRID, LABELS, PARCELS, cache_path=cache)

    assert list(table.columns) == list(SAR_OBSERVATION_COLUMNS)
    for row, parcel in zip(table.itertuples(), (1, 2), strict=False):
        want = expected(bands, parcel)
        assert row.n_valid_px == want["n_valid_px"] == 14
        assert row.vv_linear_mean == pytest.approx(want["vv_linear_mean"], rel=1e-12)
        assert row.vh_linear_mean == pytest.approx(want["vh_linear_mean"], rel=1e-12)
        assert row.vv_db == pytest.approx(10 * np.log10(want["vv_linear_mean"]), abs=1e-9)
        assert row.vh_db == pytest.approx(10 * np.log10(want["vh_linear_mean"]), abs=1e-9)
    strip = table.iloc[2]
    assert strip["n_valid_px"] == 0
    assert np.isnan(strip["vv_db"])
    assert not cached
    assert cached_again
    pd.testing.assert_frame_equal(table, again)


def test_slices_of_one_pass_are_mosaicked_first_valid_pixel_first(tmp_path: Path) -> None:
    first, second = backscatter(2), backscatter(3)
    second["vv"][0, 0] = 0.05  # valid in the second slice where the first has nodata
    west_half = {p: v[:, :3] for p, v in first.items()}  # the first slice ends mid-grid
    hrefs_1 = {p: str(write_cog(tmp_path / f"a_{p}.tif", west_half[p])) for p in first}
    hrefs_2 = {p: str(write_cog(tmp_path / f"b_{p}.tif", second[p])) for p in second}
    scenes = [
        radar_scene(pc_item(hrefs, item_id=f"slice-{i}"))
        for i, hrefs in enumerate((hrefs_1, hrefs_2))
    ]

    mosaic = read_sar_day(scenes, GRID)

    valid_1 = np.zeros(GRID.shape, dtype=bool)
    valid_1[:, :3] = (west_half["vv"] > 0) & (west_half["vh"] > 0)
    valid_2 = (second["vv"] > 0) & (second["vh"] > 0)
    for band in ("vv", "vh"):
        want = np.full(GRID.shape, np.nan, dtype=np.float32)
        want[valid_2] = second[band][valid_2]
        want[valid_1] = first[band][valid_1]
        np.testing.assert_array_equal(mosaic[band], want)
    assert mosaic["vv"][0, 0] == np.float32(0.05)


def test_the_planetary_computer_item_is_read_through_its_profile_signed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bands = backscatter(4)
    files = {f"rtc/{p}.tif": write_cog(tmp_path / f"{p}.tif", bands[p]) for p in bands}
    monkeypatch.chdir(ROOT)  # profiles are found in config/stac_profiles/
    with PlanetaryComputerStandIn(files) as stand_in:
        source = SarSourceConfig.model_validate(
            {"profile": "planetary-computer-s1-rtc", "signing": {"token_url": stand_in.token_url}}
        )
        item = pc_item({p: stand_in.href(f"rtc/{p}.tif") for p in bands})
        scene = radar_scene(item, source)
        mosaic = read_sar_day([scene], GRID)
        counts = dict(stand_in.counts)

    assert source.url == "https://planetarycomputer.microsoft.com/api/stac/v1"
    assert (source.collection, source.signing.method) == ("sentinel-1-rtc", "planetary-computer")
    assert scene.crs == "EPSG:32614"
    assert scene.platform == "SENTINEL-1A"
    assert (scene.boa_offset_dn, scene.processing_baseline, scene.cloud_cover) == (0.0, None, None)
    acquired = dt.datetime(2019, 12, 15, 0, 43, 51, 816143, tzinfo=dt.UTC)
    assert scene.acquired_utc == acquired
    assert scene.available_utc == acquired + dt.timedelta(days=1)  # PC items carry no `created`
    valid = (bands["vv"] > 0) & (bands["vh"] > 0)
    np.testing.assert_array_equal(mosaic["vh"][valid], bands["vh"][valid])
    assert np.isnan(mosaic["vv"][~valid]).all()
    assert counts["token"] >= 1
    assert counts["signed"] >= 2
    assert counts.get("refused", 0) == 0


def demo_raw(data: Path, work: Path, **sentinel1: Any) -> dict[str, Any]:
    """A config of the simulated region in ``data``, its radar source ``sentinel1``."""
    keys = ("B02", "B03", "B04", "B05", "B08", "B8A", "B11", "B12", "SCL")
    bands = ("blue", "green", "red", "rededge1", "nir", "nir08", "swir16", "swir22", "scl")
    return {
        "region": {"name": "radar"},
        "sources": {
            "stac": {
                "url": str(data / "stac" / "catalog.json"),
                "asset_keys": dict(zip(bands, keys, strict=True)),
            },
            "parcels": {"path": str(data / "parcels.gpkg"), "layer": "parcels"},
            "weather": {"path": str(data / "weather.parquet")},
            "surveys": {"path": str(data / "surveys.parquet")},
            "sentinel1": sentinel1,
        },
        "imagery": {"start": "2022-01-10", "end": "2022-02-20"},
        "paths": {
            "work_dir": str(work),
            "output_dir": str(work / "out"),
            "model_registry": str(work / "registry"),
        },
    }


def demo_config(data: Path, work: Path, **sentinel1: Any) -> PestcastConfig:
    return PestcastConfig.model_validate(demo_raw(data, work, **sentinel1))


def test_a_radar_source_without_url_is_searched_where_the_optical_one_is(tmp_path: Path) -> None:
    config = demo_config(tmp_path, tmp_path / "work")
    own = demo_config(
        tmp_path, tmp_path / "work", url="https://example.org/stac", signing={"method": "none"}
    )

    assert config.sources.sentinel1 is not None
    assert own.sources.sentinel1 is not None
    assert config.sources.sentinel1.url == str(tmp_path / "stac" / "catalog.json")
    assert config.sources.sentinel1.asset_keys == {"vv": "vv", "vh": "vh"}
    assert own.sources.sentinel1.url == "https://example.org/stac"


def test_radar_asset_keys_must_name_both_polarisations(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    raw = demo_raw(tmp_path, tmp_path / "work", asset_keys={"vv": "vv"})
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")

    with pytest.raises(ConfigError, match=r"sources\.sentinel1\.asset_keys.*vv, vh"):
        load_config(path, check_paths=False)


def test_a_radar_catalog_of_its_own_must_exist(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    raw = demo_raw(tmp_path, tmp_path / "work", url=str(tmp_path / "radar" / "catalog.json"))
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")

    with pytest.raises(ConfigError, match=r"key 'sources\.sentinel1\.url'.*does not exist"):
        load_config(path)


TINY = DemoSettings(seed=5, n_parcels=30, start=dt.date(2022, 1, 10), end=dt.date(2022, 2, 20))


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("radar-fetch")
    generate_demo_region(root / "data", TINY, max_workers=1)
    config = demo_config(root / "data", root / "work")
    layout = RunLayout.from_config(config)
    parcels = read_parcels(config.sources.parcels.path, layer="parcels", crs=config.region.crs)
    with prefect_test_harness(server_startup_timeout=120):
        raster = parcel_labels.fn(parcels, config)
        first = fetch_sar_observations(config, parcels, raster, layout)
        second = fetch_sar_observations(config, parcels, raster, layout)
    return {
        "first": first["sentinel1"],
        "second": second["sentinel1"],
        "table": pd.read_parquet(layout.sar_observations),
        "catalog": pystac.Catalog.from_file(str(root / "data" / "stac" / "catalog.json")),
        "n_parcels": len(parcels),
    }


def test_the_fetch_reduces_every_simulated_radar_scene(fetched: dict[str, Any]) -> None:
    items = list(fetched["catalog"].get_child("sentinel-1-rtc").get_items())
    table = fetched["table"]

    assert fetched["first"]["solar_days_found"] == len(items) == 4  # 12-day revisit in 2022
    assert fetched["first"]["scenes_used"] == len(items)
    assert len(table) == len(items) * fetched["n_parcels"] == fetched["first"]["rows"]
    assert list(table.columns) == list(SAR_OBSERVATION_COLUMNS)
    assert (table["n_valid_px"] > 0).mean() > 0.9
    assert table["vh_db"].between(-30, -5).mean() > 0.9
    created = {pd.Timestamp(i.properties["created"]) for i in items}
    assert set(table["available_utc"]) == created
    assert (table["available_utc"] > table["acquired_utc"]).all()


def test_a_second_fetch_reads_every_radar_day_from_the_cache(fetched: dict[str, Any]) -> None:
    assert fetched["second"]["scenes_read_from_cache"] == fetched["second"]["solar_days_found"]
    assert fetched["first"]["scenes_read_from_cache"] == 0


def test_without_a_radar_source_the_fetch_adds_nothing(tmp_path: Path) -> None:
    raw = demo_raw(tmp_path, tmp_path / "work")
    del raw["sources"]["sentinel1"]
    config = PestcastConfig.model_validate(raw)
    layout = RunLayout.from_config(config)

    assert config.sources.sentinel1 is None
    assert fetch_sar_observations(config, None, None, layout) == {}  # type: ignore[arg-type]
