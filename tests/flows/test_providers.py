"""STAC provider profiles (config/stac_profiles/) checked against recorded items of each provider,
and the example An Giang config that uses one."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pestcast.core.errors import ConfigError
from pestcast.flows.config import DEFAULT_CONFIG, StacSourceConfig, load_config
from pestcast.flows.providers import stac_profile_names
from pestcast.flows.stac_search import SceneRef, search_scenes
from tests.flows.stac_api_server import RECORDED, RecordedStacApi, load_features

ROOT = Path(__file__).resolve().parents[2]
AN_GIANG = ROOT / "config" / "an_giang_earth_search.yaml"
RECORDED_ITEMS = {
    "earth-search-c1": "earth_search_v1_items.json",
    "earth-search-l2a": "earth_search_v1_items.json",
    "planetary-computer": "planetary_computer_items.json",
}
WORLD = (-180.0, -90.0, 180.0, 90.0)
COMMON_NAMES = {
    "blue": {"blue"},
    "green": {"green"},
    "red": {"red"},
    "rededge1": {"rededge", "rededge1"},
    "nir": {"nir"},
    "nir08": {"nir08", "rededge"},  # Planetary Computer calls B8A "rededge" (red edge 4)
    "swir16": {"swir16"},
    "swir22": {"swir22"},
    "scl": set(),  # SCL has no eo:bands
}
"""eo:bands common names an asset of each logical band may carry, as the recorded items do."""

# pystac's storage-extension migration cannot parse the Earth Search S3 https hrefs; harmless.
pytestmark = pytest.mark.filterwarnings("ignore:Could not parse bucket:UserWarning")


@pytest.fixture(autouse=True)
def _at_the_project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Profile names resolve against the working directory, as every relative config path."""
    monkeypatch.chdir(ROOT)


def stac(**keys: Any) -> StacSourceConfig:
    return StacSourceConfig.model_validate(keys)


def write_config(tmp_path: Path, stac_section: dict[str, Any]) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["sources"]["stac"] = stac_section
    path = tmp_path / "provider.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_four_profiles_ship() -> None:
    assert stac_profile_names() == [
        "earth-search-c1",
        "earth-search-l2a",
        "planetary-computer",
        "planetary-computer-s1-rtc",
    ]


@pytest.mark.parametrize("profile", sorted(RECORDED_ITEMS))
def test_profile_asset_keys_are_those_of_the_providers_recorded_items(profile: str) -> None:
    source = stac(profile=profile)
    items = [
        item
        for item in load_features(RECORDED_ITEMS[profile])
        if item["collection"] == source.collection
    ]

    assert items, f"no recorded item of {source.collection}"
    for item in items:
        missing = sorted(set(source.asset_keys.values()) - set(item["assets"]))
        assert not missing, f"{item['id']} lacks {missing}"
        for band, key in source.asset_keys.items():
            named = {b.get("common_name") for b in item["assets"][key].get("eo:bands", [])}
            assert named <= COMMON_NAMES[band], f"{item['id']}: asset {key} is {named}, not {band}"
            assert named or band == "scl", f"{item['id']}: asset {key} has no eo:bands"


def test_profile_urls_are_the_recorded_api_roots() -> None:
    landing = json.loads((RECORDED / "earth_search_v1_landing.json").read_text())
    (earth_search,) = [link["href"] for link in landing["links"] if link["rel"] == "self"]
    pc_item = load_features("planetary_computer_items.json")[0]
    (pc_root,) = [link["href"] for link in pc_item["links"] if link["rel"] == "root"]

    assert stac(profile="earth-search-c1").url == earth_search.rstrip("/")
    assert stac(profile="earth-search-l2a").url == earth_search.rstrip("/")
    assert stac(profile="planetary-computer").url == pc_root.rstrip("/")


def test_only_planetary_computer_signs() -> None:
    assert stac(profile="planetary-computer").signing.method == "planetary-computer"
    assert stac(profile="earth-search-c1").signing.method == "none"
    assert stac(profile="earth-search-l2a").signing.method == "none"


def search_with(profile: str, start: dt.date) -> list[SceneRef]:
    """Scenes of the profile's collection among its provider's recorded items, on 127.0.0.1."""
    collection = json.loads(
        (RECORDED / "planetary_computer_sentinel-2-l2a_collection.json").read_text()
    )
    items = load_features(RECORDED_ITEMS[profile])
    with RecordedStacApi(items, collections={"sentinel-2-l2a": collection}, page_size=50) as api:
        source = stac(profile=profile, url=api.url)
        return search_scenes(
            source.url,
            collection=source.collection,
            bbox_wgs84=WORLD,
            start=start,
            end=start + dt.timedelta(days=365 * 7),
            asset_keys=source.asset_keys,
            boa_offset=source.boa_offset,
            access=source.access(),
            retry_backoff_s=0.0,
        )


def test_each_profile_decides_the_offset_its_providers_way() -> None:
    c1 = search_with("earth-search-c1", dt.date(2019, 1, 1))
    l2a = search_with("earth-search-l2a", dt.date(2023, 1, 1))
    pc = search_with("planetary-computer", dt.date(2018, 12, 1))

    # Collection 1 is raw DN at baseline 05.11; sentinel-2-l2a was shifted already (flag true).
    assert {(s.collection, s.boa_offset_dn) for s in c1} == {("sentinel-2-c1-l2a", -1000.0)}
    assert {(s.collection, s.boa_offset_dn) for s in l2a} == {("sentinel-2-l2a", 0.0)}
    assert {s.processing_baseline for s in l2a} == {"05.09", "05.11"}
    # Planetary Computer items of 2019 are baseline 02.12: raw DN without offset.
    assert {(s.processing_baseline, s.boa_offset_dn) for s in pc} == {("02.12", 0.0)}
    assert len(pc) == 5
    assert all(s.access.signing.method == "planetary-computer" for s in pc)
    assert all(s.access.signing.method == "none" for s in c1 + l2a)


def test_keys_given_in_the_config_override_the_profile() -> None:
    source = stac(
        profile="planetary-computer",
        url="http://127.0.0.1:9/api",
        asset_keys={"scl": "SCL_20m"},
        signing={"token_url": "http://127.0.0.1:9/token"},
        max_concurrent_reads=2,
    )

    assert source.url == "http://127.0.0.1:9/api"
    assert source.asset_keys["scl"] == "SCL_20m"
    assert source.asset_keys["blue"] == "B02"  # the rest of the mapping is the profile's
    assert source.signing.method == "planetary-computer"
    assert source.signing.token_url == "http://127.0.0.1:9/token"
    assert source.max_concurrent_reads == 2
    assert source.collection == "sentinel-2-l2a"


def test_a_profile_can_be_a_yaml_file(tmp_path: Path) -> None:
    own = tmp_path / "my-mirror.yaml"
    settings = yaml.safe_load((ROOT / "config/stac_profiles/earth-search-c1.yaml").read_text())
    own.write_text(yaml.safe_dump({**settings, "url": "https://stac.example.org/v1"}))

    source = stac(profile=str(own))

    assert source.url == "https://stac.example.org/v1"
    assert source.boa_offset == "baseline"


def test_an_unknown_profile_names_the_key_and_the_profiles_there_are(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"profile": "earth-search-c2"})

    with pytest.raises(ConfigError) as raised:
        load_config(path, check_paths=False)

    message = str(raised.value)
    assert "sources.stac" in message
    assert "earth-search-c2" in message
    assert "earth-search-c1, earth-search-l2a, planetary-computer" in message


def test_a_profile_may_only_set_source_keys(tmp_path: Path) -> None:
    own = tmp_path / "bad.yaml"
    own.write_text("url: https://stac.example.org/v1\nresolution_m: 20\n")

    with pytest.raises(ConfigError, match=r"unknown key\(s\) resolution_m"):
        load_config(write_config(tmp_path, {"profile": str(own)}), check_paths=False)


def test_the_an_giang_example_config_is_complete_and_valid() -> None:
    config = load_config(AN_GIANG, check_paths=False)  # the parcels are the user's to provide

    stac_source = config.sources.stac
    assert stac_source.profile == "earth-search-c1"
    assert stac_source.url == "https://earth-search.aws.element84.com/v1"
    assert stac_source.collection == "sentinel-2-c1-l2a"
    assert stac_source.boa_offset == "baseline"
    assert stac_source.signing.method == "none"
    assert config.region.crs == "EPSG:32648"  # the whole delta is UTM 48N
    assert config.sources.parcels.path == Path("data/an_giang/parcels.gpkg")
    assert config.imagery.end - config.imagery.start > dt.timedelta(days=365)
    assert {2, 6}.isdisjoint(config.imagery.scl_mask_classes)


def test_the_an_giang_example_says_which_files_to_provide() -> None:
    if (ROOT / "data" / "an_giang").exists():
        pytest.skip("someone provided the An Giang files")
    with pytest.raises(ConfigError) as raised:
        load_config(AN_GIANG)
    message = str(raised.value)
    for key in ("sources.parcels.path", "sources.weather.path", "sources.surveys.path"):
        assert key in message
    assert "data/an_giang/parcels.gpkg does not exist" in message
