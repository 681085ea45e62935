"""search_scenes against a local STAC API serving recorded Earth Search / Planetary Computer
items, and against a static catalog built from the real 29RKH item."""

from __future__ import annotations

import datetime as dt
import functools
import json
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pystac
import pytest

from pestcast.core.errors import ConfigError, SourceError
from pestcast.flows.stac_search import (
    SceneRef,
    group_by_solar_day,
    local_solar_day,
    scene_from_item,
    search_scenes,
)
from tests.flows.stac_api_server import RECORDED, RecordedStacApi, load_features

DATA = Path(__file__).resolve().parents[1] / "data"
TILE_29RKH = DATA / "s2_l2a_29RKH_20200219"
ITEM_29RKH = TILE_29RKH / "S2A_29RKH_20200219_0_L2A.json"

PC_KEYS = {
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "rededge1": "B05",
    "nir": "B08",
    "nir08": "B8A",
    "swir16": "B11",
    "swir22": "B12",
    "scl": "SCL",
}
ES_KEYS = {band: band for band in PC_KEYS}  # Earth Search names the assets by logical band
WORLD = (-180.0, -90.0, 180.0, 90.0)
UTC = dt.UTC

# pystac's storage-extension migration cannot parse the Earth Search S3 https hrefs; harmless.
pytestmark = pytest.mark.filterwarnings("ignore:Could not parse bucket:UserWarning")


def pc_search(api: RecordedStacApi, **options: Any) -> list[SceneRef]:
    arguments: dict[str, Any] = {
        "collection": "sentinel-2-l2a",
        "bbox_wgs84": (173.6, 57.62, 173.7, 57.7),
        "start": dt.date(2019, 1, 1),
        "end": dt.date(2019, 1, 1),
        "asset_keys": PC_KEYS,
        "retry_backoff_s": 0.0,
    }
    return search_scenes(api.url, **(arguments | options))


def es_search(api: RecordedStacApi, collection: str, **options: Any) -> list[SceneRef]:
    arguments: dict[str, Any] = {
        "collection": collection,
        "bbox_wgs84": WORLD,
        "start": dt.date(2023, 1, 1),
        "end": dt.date(2025, 12, 31),
        "asset_keys": ES_KEYS,
        "retry_backoff_s": 0.0,
    }
    return search_scenes(api.url, **(arguments | options))


@pytest.fixture
def pc_api() -> Any:
    recorded = RECORDED / "planetary_computer_sentinel-2-l2a_collection.json"
    collection = json.loads(recorded.read_text())
    with RecordedStacApi(
        load_features("planetary_computer_items.json"),
        collections={"sentinel-2-l2a": collection},
        page_size=2,
    ) as api:
        yield api


@pytest.fixture
def es_api() -> Any:
    with RecordedStacApi(load_features("earth_search_v1_items.json"), page_size=2) as api:
        yield api


# --- STAC API: recorded Planetary Computer items ---------------------------------------------


def test_planetary_computer_items_become_scene_refs(pc_api: RecordedStacApi) -> None:
    scenes = pc_search(pc_api)

    # The bbox overlaps 4 of the 5 recorded tiles (58VFJ lies further west).
    assert {s.item_id.split("_")[4] for s in scenes} == {"T60VUK", "T60VUJ", "T59VPE", "T59VPD"}
    first = next(s for s in scenes if "T60VUK" in s.item_id)
    assert first.collection == "sentinel-2-l2a"
    assert first.processing_baseline == "02.12"
    assert first.boa_offset_dn == 0.0  # baseline before 04.00: no offset
    assert first.cloud_cover == pytest.approx(56.297088)
    assert first.crs == "EPSG:32660"
    assert first.platform == "Sentinel-2A"
    assert first.acquired_utc == dt.datetime(2019, 1, 1, 0, 0, 1, 24000, tzinfo=UTC)
    # No created/published on these items: available one day after acquisition.
    assert first.available_utc == first.acquired_utc + dt.timedelta(days=1)
    assert first.solar_day == dt.date(2019, 1, 1)
    assert set(first.asset_hrefs) == set(PC_KEYS)
    assert first.asset_hrefs["blue"].endswith("/IMG_DATA/R10m/T60VUK_20190101T000001_B02_10m.tif")
    assert first.asset_hrefs["scl"].endswith("/IMG_DATA/R20m/T60VUK_20190101T000001_SCL_20m.tif")
    assert first.asset_hrefs["nir08"].startswith("https://sentinel2l2a01.blob.core.windows.net/")


def test_paging_is_followed_and_the_search_is_sent_once_per_page(pc_api: RecordedStacApi) -> None:
    pc_api.page_size = 1

    scenes = pc_search(pc_api)

    assert len(scenes) == 4
    assert pc_api.requests["/search"] == 4
    bodies = pc_api.search_bodies
    assert bodies[0]["collections"] == ["sentinel-2-l2a"]
    assert bodies[0]["bbox"] == [173.6, 57.62, 173.7, 57.7]
    assert bodies[0]["datetime"] == "2019-01-01T00:00:00.000Z/2019-01-01T23:59:59.999Z"
    assert [b.get("next") for b in bodies] == [None, "1", "2", "3"]


def test_scenes_are_sorted_unique_and_grouped_by_solar_day(pc_api: RecordedStacApi) -> None:
    scenes = pc_search(pc_api)

    keys = [(s.acquired_utc, s.item_id) for s in scenes]
    assert keys == sorted(keys)
    assert len({s.item_id for s in scenes}) == len(scenes)
    # One satellite pass over four tile overlaps: one solar day, all four kept for mosaicking.
    assert group_by_solar_day(scenes) == [scenes]


def test_cloud_cover_is_queried_and_enforced(pc_api: RecordedStacApi) -> None:
    scenes = pc_search(pc_api, max_cloud_cover=50)

    assert pc_api.search_bodies[0]["query"] == {"eo:cloud_cover": {"lte": 50}}
    assert {s.item_id.split("_")[4] for s in scenes} == {"T60VUJ", "T59VPD"}
    assert all(s.cloud_cover is not None and s.cloud_cover <= 50 for s in scenes)


def test_unknown_collection_is_reported(pc_api: RecordedStacApi) -> None:
    with pytest.raises(SourceError, match=r"collection 'sentinel-2-l2x' does not exist at http"):
        pc_search(pc_api, collection="sentinel-2-l2x")


def test_missing_asset_names_item_key_and_the_keys_it_has(pc_api: RecordedStacApi) -> None:
    with pytest.raises(SourceError) as raised:
        pc_search(pc_api, asset_keys=PC_KEYS | {"rededge1": "rededge1"})

    message = str(raised.value)
    assert "S2A_MSIL2A_20190101T000001_R116_" in message
    assert "'rededge1'" in message
    assert "'B05'" in message  # lists what the item does have
    assert "asset_keys" in message


# --- STAC API: recorded Earth Search v1 items ------------------------------------------------


def test_earth_search_l2a_offset_already_applied(es_api: RecordedStacApi) -> None:
    scenes = es_search(es_api, "sentinel-2-l2a")

    assert [s.item_id for s in scenes] == [
        "S2A_13TDE_20231008_0_L2A",
        "S2B_24MUA_20250731_0_L2A",
        "S2B_24MUV_20250731_0_L2A",
        "S2B_20EPT_20250731_0_L2A",
    ]
    # Baselines 05.09/05.11 would mean −1000, but Earth Search already applied it.
    assert {s.processing_baseline for s in scenes} == {"05.09", "05.11"}
    assert all(s.boa_offset_dn == 0.0 for s in scenes)
    tde = scenes[0]
    assert tde.available_utc == dt.datetime(2023, 10, 9, 1, 25, 21, 658000, tzinfo=UTC)
    assert tde.crs == "EPSG:32613"
    assert tde.asset_hrefs["blue"].endswith("/S2A_13TDE_20231008_0_L2A/B02.tif")
    assert tde.asset_hrefs["scl"].endswith("/S2A_13TDE_20231008_0_L2A/SCL.tif")
    assert tde.asset_hrefs["nir08"].endswith("/B8A.tif")


def test_earth_search_collection_1_is_raw_dn_with_offset(es_api: RecordedStacApi) -> None:
    scenes = es_search(es_api, "sentinel-2-c1-l2a")

    assert len(scenes) == 3
    assert all(s.processing_baseline == "05.11" for s in scenes)
    assert all(s.boa_offset_dn == -1000.0 for s in scenes)
    assert all(s.collection == "sentinel-2-c1-l2a" for s in scenes)


def test_overlapping_tiles_of_one_pass_share_a_solar_day(es_api: RecordedStacApi) -> None:
    scenes = es_search(es_api, "sentinel-2-c1-l2a", bbox_wgs84=(-40.3, -4.7, -39.9, -3.7))

    days = group_by_solar_day(scenes)

    assert [[s.item_id for s in day] for day in days] == [
        ["S2B_T24MUA_20250731T130245_L2A", "S2B_T24MUV_20250731T130245_L2A"]
    ]
    assert days[0][0].solar_day == dt.date(2025, 7, 31)


def recorded_item(item_id: str, **properties: Any) -> pystac.Item:
    """A recorded Earth Search v1 item, with ``properties`` changed."""
    (item,) = [i for i in load_features("earth_search_v1_items.json") if i["id"] == item_id]
    item["properties"].update(properties)
    return pystac.Item.from_dict(item)


def test_availability_is_never_before_acquisition() -> None:
    # Acquired 2023-10-08T18:02:55Z; recorded created 2023-10-09T01:25:21Z. A copy or a
    # reprocessing can leave an older `created`: it says nothing about when the scene came out.
    acquired = dt.datetime(2023, 10, 8, 18, 2, 55, 276000, tzinfo=UTC)
    as_recorded = scene_from_item(recorded_item("S2A_13TDE_20231008_0_L2A"), asset_keys=ES_KEYS)
    older = recorded_item("S2A_13TDE_20231008_0_L2A", created="2023-10-08T09:00:00Z")
    published_older = recorded_item("S2A_13TDE_20231008_0_L2A", published="2023-10-07T00:00:00Z")

    assert as_recorded.acquired_utc == acquired
    assert as_recorded.available_utc == dt.datetime(2023, 10, 9, 1, 25, 21, 658000, tzinfo=UTC)
    older_scene = scene_from_item(older, asset_keys=ES_KEYS)
    assert older_scene.available_utc == acquired + dt.timedelta(days=1)  # the default delay
    # An impossible `published` is passed over for a possible `created`.
    published_scene = scene_from_item(published_older, asset_keys=ES_KEYS)
    assert published_scene.available_utc == as_recorded.available_utc
    for scene in (as_recorded, older_scene, published_scene):
        assert scene.available_utc >= scene.acquired_utc


def test_the_baseline_rule_ignores_the_earth_search_flag() -> None:
    """Earth Search sentinel-2-l2a under the baseline rule would be shifted twice: the rule is
    the provider's (config/stac_profiles/), not a detail."""
    item = recorded_item("S2A_13TDE_20231008_0_L2A")  # baseline 05.09, offset applied: true

    flagged = scene_from_item(item, asset_keys=ES_KEYS, boa_offset="earthsearch-flag")
    by_baseline = scene_from_item(item, asset_keys=ES_KEYS, boa_offset="baseline")

    assert flagged.boa_offset_dn == 0.0
    assert by_baseline.boa_offset_dn == -1000.0


def test_local_solar_day_crosses_midnight_with_longitude() -> None:
    late = dt.datetime(2019, 12, 31, 20, 30, tzinfo=UTC)

    assert local_solar_day(late, 105.5) == dt.date(2020, 1, 1)  # Mekong delta: UTC+7h02
    assert local_solar_day(late, -60.0) == dt.date(2019, 12, 31)
    assert local_solar_day(dt.datetime(2020, 1, 1, 2, tzinfo=UTC), -60.0) == dt.date(2019, 12, 31)


# --- failures --------------------------------------------------------------------------------


def test_server_errors_are_retried_then_succeed(pc_api: RecordedStacApi) -> None:
    pc_api.fail_next("/search", 500, 503)

    scenes = pc_search(pc_api, max_retries=3)

    assert len(scenes) == 4
    assert pc_api.requests["/search"] == 2 + 2  # two failures, then two pages


def test_persistent_server_error_becomes_a_retryable_source_error(pc_api: RecordedStacApi) -> None:
    pc_api.fail_next("/search", *([500] * 10))

    with pytest.raises(SourceError, match=r"HTTP 500 after 2 retries") as raised:
        pc_search(pc_api, max_retries=2)

    assert pc_api.requests["/search"] == 3  # the first try and two retries
    assert pc_api.url in str(raised.value)
    assert isinstance(raised.value.__cause__, ConnectionError)  # what flows.tasks retries on


def test_404_is_a_source_error_naming_the_url(pc_api: RecordedStacApi) -> None:
    wrong = f"{pc_api.url}/not-the-api-root"

    with pytest.raises(SourceError, match=r"404 Not Found") as raised:
        search_scenes(
            wrong,
            collection="sentinel-2-l2a",
            bbox_wgs84=WORLD,
            start=dt.date(2019, 1, 1),
            end=dt.date(2019, 1, 1),
            asset_keys=PC_KEYS,
        )

    assert wrong in str(raised.value)
    assert pc_api.requests["/not-the-api-root"] == 1  # a 404 is not retried
    assert not isinstance(raised.value.__cause__, ConnectionError | TimeoutError)


def test_bad_json_is_a_source_error(pc_api: RecordedStacApi) -> None:
    pc_api.fail_next("", "bad-json")

    with pytest.raises(SourceError, match=r"did not answer with STAC JSON"):
        pc_search(pc_api)


def test_unreachable_api_is_a_retryable_source_error() -> None:
    with RecordedStacApi([]) as api:
        url = api.url  # the port is free again once the server stops

    with pytest.raises(SourceError, match=r"cannot reach STAC API") as raised:
        search_scenes(
            url,
            collection="sentinel-2-l2a",
            bbox_wgs84=WORLD,
            start=dt.date(2019, 1, 1),
            end=dt.date(2019, 1, 1),
            asset_keys=PC_KEYS,
            max_retries=1,
            retry_backoff_s=0.0,
        )

    assert url in str(raised.value)
    assert isinstance(raised.value.__cause__, ConnectionError)


def test_bad_arguments_fail_before_any_request() -> None:
    with pytest.raises(ConfigError, match=r"west < east"):
        search_scenes(
            "http://127.0.0.1:9/unused",
            collection="sentinel-2-l2a",
            bbox_wgs84=(106.0, 10.0, 105.0, 11.0),
            start=dt.date(2019, 1, 1),
            end=dt.date(2019, 1, 2),
            asset_keys=PC_KEYS,
        )
    with pytest.raises(ConfigError, match=r"ends"):
        search_scenes(
            "http://127.0.0.1:9/unused",
            collection="sentinel-2-l2a",
            bbox_wgs84=WORLD,
            start=dt.date(2019, 1, 2),
            end=dt.date(2019, 1, 1),
            asset_keys=PC_KEYS,
        )


# --- static catalog built from the real 29RKH item -------------------------------------------


def build_static_catalog(
    folder: Path, *, drop_properties: tuple[str, ...] = (), collection_id: str = "sentinel-2-l2a"
) -> Path:
    """catalog.json → collection → the 29RKH item, its COGs copied beside it (relative hrefs)."""
    item = pystac.Item.from_dict(json.loads(ITEM_29RKH.read_text()))
    item.clear_links()
    for key in drop_properties:
        item.properties.pop(key)
    assert item.bbox is not None
    collection = pystac.Collection(
        id=collection_id,
        description="test collection",
        extent=pystac.Extent(
            pystac.SpatialExtent([item.bbox]), pystac.TemporalExtent([[item.datetime, None]])
        ),
    )
    collection.add_item(item)
    catalog = pystac.Catalog(id="test", description="static catalog for tests")
    catalog.add_child(collection)
    catalog.normalize_hrefs(str(folder))
    item_folder = Path(item.get_self_href() or "").parent
    item_folder.mkdir(parents=True)
    for key, asset in item.assets.items():
        name = Path(asset.href).name
        if (TILE_29RKH / name).exists() and not key.endswith("-jp2"):
            shutil.copy(TILE_29RKH / name, item_folder / name)
            asset.href = f"./{name}"
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return folder / "catalog.json"


def static_search(catalog: Path | str, **options: Any) -> list[SceneRef]:
    arguments: dict[str, Any] = {
        "collection": "sentinel-2-l2a",
        "bbox_wgs84": (-11.5, 24.9, -11.0, 25.2),
        "start": dt.date(2020, 2, 1),
        "end": dt.date(2020, 2, 29),
        "asset_keys": ES_KEYS,
    }
    return search_scenes(str(catalog), **(arguments | options))


def test_static_catalog_item_becomes_a_scene_with_local_hrefs(tmp_path: Path) -> None:
    catalog = build_static_catalog(tmp_path)

    (scene,) = static_search(catalog)

    assert scene.item_id == "S2A_29RKH_20200219_0_L2A"
    assert scene.processing_baseline == "02.14"
    assert scene.boa_offset_dn == 0.0
    assert scene.crs == "EPSG:32629"
    assert scene.available_utc == dt.datetime(2020, 8, 19, 2, 33, 3, 678000, tzinfo=UTC)
    assert scene.solar_day == dt.date(2020, 2, 19)
    for band, href in scene.asset_hrefs.items():
        assert Path(href).is_absolute(), band
        assert Path(href).is_file(), band
    assert Path(scene.asset_hrefs["nir08"]).name == "B8A.tif"


@pytest.mark.parametrize(
    "options",
    [
        {"bbox_wgs84": (100.0, 10.0, 101.0, 11.0)},  # elsewhere
        {"start": dt.date(2020, 2, 20)},  # after the acquisition
        {"max_cloud_cover": 4.0},  # the scene has 4.05 %
    ],
)
def test_static_catalog_is_filtered_like_an_api(tmp_path: Path, options: dict[str, Any]) -> None:
    assert static_search(build_static_catalog(tmp_path), **options) == []


def test_item_without_baseline_needs_a_configured_default(tmp_path: Path) -> None:
    catalog = build_static_catalog(
        tmp_path, drop_properties=("s2:processing_baseline", "earthsearch:boa_offset_applied")
    )

    with pytest.raises(SourceError, match=r"S2A_29RKH_20200219_0_L2A.*default_processing_baseline"):
        static_search(catalog)
    (scene,) = static_search(catalog, default_processing_baseline="04.00")
    assert scene.boa_offset_dn == -1000.0


def test_static_catalog_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"no STAC catalog at .*missing\.json"):
        static_search(tmp_path / "missing.json")
    catalog = build_static_catalog(tmp_path)
    with pytest.raises(SourceError, match=r"'landsat' is not in the STAC catalog.*sentinel-2-l2a"):
        static_search(catalog, collection="landsat")


@pytest.mark.filterwarnings("ignore::pystac_client.warnings.NoConformsTo")
@pytest.mark.filterwarnings("ignore::pystac_client.warnings.FallbackToPystac")
def test_static_catalog_over_http_is_walked_too(tmp_path: Path) -> None:
    catalog = build_static_catalog(tmp_path / "site")
    handler = functools.partial(QuietFileHandler, directory=str(tmp_path / "site"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        host, port = server.server_address[:2]
        url = f"http://{host!s}:{port}/{catalog.name}"
        (scene,) = static_search(url)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    assert scene.item_id == "S2A_29RKH_20200219_0_L2A"
    assert (
        scene.asset_hrefs["blue"]
        == f"http://{host!s}:{port}/sentinel-2-l2a/{scene.item_id}/B02.tif"
    )


class QuietFileHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""
