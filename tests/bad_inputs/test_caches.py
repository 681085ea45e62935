"""Bad observation-cache files: a truncated, corrupt or foreign Parquet file at a cache path is
reported, moved aside byte for byte to ``*.corrupt`` and rebuilt from the rasters; every other
file already written stays as it was."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pystac
import pytest
import rasterio

from pestcast.flows.observations import (
    ObservationSettings,
    observation_cache_path,
    observe_solar_day,
)
from pestcast.flows.raster_read import AnalysisGrid
from pestcast.flows.stac_search import SceneRef, scene_from_item
from tests.bad_inputs import folder_hashes

TILE = Path(__file__).resolve().parents[1] / "data" / "s2_l2a_29RKH_20200219"
KEYS = {band: band for band in ("blue", "red", "nir", "scl")}
SETTINGS = ObservationSettings(
    indices=("ndvi",), mask_classes=(0, 1, 3, 8, 9, 10), parcels_fingerprint="corpus"
)
PARCEL_IDS = ["p1", "p2"]


def _scene() -> SceneRef:
    item = pystac.Item.from_dict(json.loads((TILE / "S2A_29RKH_20200219_0_L2A.json").read_text()))
    item.clear_links()
    for key in KEYS:
        item.assets[key].href = str(TILE / Path(item.assets[key].href).name)
    return scene_from_item(item, asset_keys=KEYS)


def _grid() -> AnalysisGrid:
    with rasterio.open(TILE / "B02.tif") as source:
        return AnalysisGrid(crs="EPSG:32629", transform=source.transform, shape=source.shape)


def _labels(grid: AnalysisGrid) -> np.ndarray:
    labels = np.zeros(grid.shape, dtype=np.int32)
    labels[:10, :10] = 1
    labels[20:30, 20:30] = 2
    return labels


def _observe(cache_path: Path) -> pd.DataFrame:
    grid = _grid()
    return observe_solar_day(
        [_scene()], grid, _labels(grid), PARCEL_IDS, settings=SETTINGS, cache_path=cache_path
    )


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The day's statistics computed without any cache."""
    return _observe(tmp_path_factory.mktemp("fresh") / "day.parquet")


def _truncated(path: Path, good: bytes) -> None:
    path.write_bytes(good[: len(good) // 2])


def _garbage(path: Path, good: bytes) -> None:
    path.write_bytes(b"\x00\xffnot parquet at all" * 10)


def _empty(path: Path, good: bytes) -> None:
    path.write_bytes(b"")


def _tail_cut(path: Path, good: bytes) -> None:
    path.write_bytes(good[:-12])  # the footer (metadata length + PAR1) is gone


def _other_table(path: Path, good: bytes) -> None:
    pd.DataFrame({"parcel_id": PARCEL_IDS, "risk": [0.1, 0.2]}).to_parquet(path)


def _other_parcels(path: Path, good: bytes) -> None:
    cached = pd.read_parquet(path)
    cached.iloc[:1].assign(parcel_id="p9").to_parquet(path)


@pytest.mark.parametrize(
    ("spoil", "fragment"),
    [
        pytest.param(_truncated, "cannot be read", id="truncated-half"),
        pytest.param(_tail_cut, "cannot be read", id="footer-cut-off"),
        pytest.param(_garbage, "cannot be read", id="not-parquet"),
        pytest.param(_empty, "cannot be read", id="zero-bytes"),
        pytest.param(_other_table, "lacks column(s) scene_id", id="another-table"),
        pytest.param(_other_parcels, "parcel rows that are not the 2 parcels", id="other-parcels"),
    ],
)
def test_a_bad_cache_file_is_set_aside_and_rebuilt(
    tmp_path: Path,
    fresh: pd.DataFrame,
    caplog: pytest.LogCaptureFixture,
    spoil: Callable[[Path, bytes], None],
    fragment: str,
) -> None:
    cache_dir = tmp_path / "observations"
    cache_path = observation_cache_path(cache_dir, [_scene()], _grid(), SETTINGS)
    _observe(cache_path)
    neighbour = cache_dir / "2020-02-18_0123456789abcdef.parquet"  # another day, written earlier
    fresh.to_parquet(neighbour)
    spoil(cache_path, cache_path.read_bytes())
    spoilt = cache_path.read_bytes()
    before = folder_hashes(cache_dir)

    with caplog.at_level(logging.WARNING, logger="pestcast.flows.observations"):
        rebuilt = _observe(cache_path)

    pd.testing.assert_frame_equal(rebuilt, fresh)
    pd.testing.assert_frame_equal(pd.read_parquet(cache_path), fresh)
    corrupt = cache_path.with_name(cache_path.name + ".corrupt")
    assert corrupt.read_bytes() == spoilt  # moved aside, byte for byte
    after = folder_hashes(cache_dir)
    assert after[neighbour.name] == before[neighbour.name]
    assert set(after) == {*before, corrupt.name}
    (record,) = caplog.records
    assert str(cache_path) in record.getMessage()
    assert fragment in record.getMessage()
    assert str(corrupt) in record.getMessage()


def test_a_second_corruption_keeps_the_first_one_set_aside(
    tmp_path: Path, fresh: pd.DataFrame
) -> None:
    cache_path = tmp_path / "day.parquet"
    first, second = b"first broken file", b"second broken file"
    for spoilt in (first, second):
        cache_path.write_bytes(spoilt)
        pd.testing.assert_frame_equal(_observe(cache_path), fresh)
    assert (tmp_path / "day.parquet.corrupt").read_bytes() == first
    assert (tmp_path / "day.parquet.corrupt2").read_bytes() == second


def test_a_good_cache_file_is_read_not_rebuilt(tmp_path: Path, fresh: pd.DataFrame) -> None:
    cache_path = tmp_path / "day.parquet"
    _observe(cache_path)
    before, written = folder_hashes(tmp_path), cache_path.stat().st_mtime_ns
    pd.testing.assert_frame_equal(_observe(cache_path), fresh)
    assert folder_hashes(tmp_path) == before
    assert cache_path.stat().st_mtime_ns == written
