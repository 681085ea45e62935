"""Bad STAC items: asset hrefs a source has no business pointing at are refused before anything
opens them, and one item lacking an asset is one unreadable scene, not an aborted search."""

from __future__ import annotations

import copy
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pystac
import pytest
from affine import Affine

from pestcast.core.errors import SceneReadError, SourceError
from pestcast.flows.raster_read import AnalysisGrid, read_scene
from pestcast.flows.stac_search import search_scenes
from tests.bad_inputs import folder_hashes
from tests.flows.stac_api_server import RecordedStacApi, load_features
from tests.flows.test_stac_search import ES_KEYS, PC_KEYS, build_static_catalog, static_search

pytestmark = pytest.mark.filterwarnings("ignore:Could not parse bucket:UserWarning")

PC_ITEMS = load_features("planetary_computer_items.json")


def _api_search(api: RecordedStacApi, **options: Any) -> list[Any]:
    arguments: dict[str, Any] = {
        "collection": "sentinel-2-l2a",
        "bbox_wgs84": (173.6, 57.62, 173.7, 57.7),
        "start": dt.date(2019, 1, 1),
        "end": dt.date(2019, 1, 1),
        "asset_keys": PC_KEYS,
        "retry_backoff_s": 0.0,
    }
    return search_scenes(api.url, **(arguments | options))


def _with_href(items: list[dict[str, Any]], asset: str, href: str) -> list[dict[str, Any]]:
    changed = copy.deepcopy(items)
    changed[0]["assets"][asset]["href"] = href
    return changed


@pytest.mark.parametrize(
    ("href", "fragment"),
    [
        pytest.param("file:///etc/passwd", r"not an http\(s\) URL.*never read from local files",
                     id="api-file-url"),
        pytest.param("/etc/passwd", r"'/etc/passwd', which is not an http\(s\) URL",
                     id="api-absolute-local-path"),
        pytest.param("B04.tif", r"'B04\.tif', which is not an http\(s\) URL", id="api-relative"),
        pytest.param("/vsicurl/https://example.com/B04.tif", r"a GDAL /vsi… path",
                     id="api-gdal-vsicurl"),
        pytest.param("s3://sentinel-cogs/B04.tif", r"not an http\(s\) URL", id="api-s3-url"),
        pytest.param("https:///B04.tif", r"not an http\(s\) URL", id="api-url-without-host"),
    ],
)  # fmt: skip
def test_remote_items_may_only_point_at_http_urls(href: str, fragment: str) -> None:
    items = _with_href(PC_ITEMS, "B04", href)
    with RecordedStacApi(items, page_size=50) as api, pytest.raises(SourceError) as raised:
        _api_search(api)
    message = str(raised.value)
    assert items[0]["id"] in message
    assert "band 'red'" in message
    assert re.search(fragment, message), message


@pytest.mark.parametrize(
    ("href", "fragment"),
    [
        pytest.param("../../../outside.tif", r"a file outside the catalog folder",
                     id="catalog-parent-path"),
        pytest.param("/etc/passwd", r"'/etc/passwd', a file outside the catalog folder",
                     id="catalog-absolute-path"),
        pytest.param("file:///etc/passwd", r"a file outside the catalog folder",
                     id="catalog-file-url-outside"),
        pytest.param("/vsizip//tmp/x.zip/B04.tif", r"a GDAL /vsi… path", id="catalog-gdal-vsizip"),
        pytest.param("ftp://example.com/B04.tif", r"a ftp:// URL", id="catalog-ftp-url"),
    ],
)  # fmt: skip
def test_local_catalog_items_may_only_point_inside_it(
    tmp_path: Path, href: str, fragment: str
) -> None:
    catalog = _catalog_with_href(tmp_path / "stac", "red", href)
    before = folder_hashes(tmp_path)
    with pytest.raises(SourceError) as raised:
        static_search(catalog)
    message = str(raised.value)
    assert "S2A_29RKH_20200219_0_L2A" in message
    assert "band 'red'" in message
    assert re.search(fragment, message), message
    assert folder_hashes(tmp_path) == before


def test_a_symlink_out_of_the_catalog_is_outside_it(tmp_path: Path) -> None:
    catalog = _catalog_with_href(tmp_path / "stac", "red", "./B04.tif")
    item_folder = next((tmp_path / "stac").rglob("B04.tif")).parent
    (item_folder / "B04.tif").unlink()
    (item_folder / "B04.tif").symlink_to("/etc/passwd")
    with pytest.raises(SourceError, match="outside the catalog folder"):
        static_search(catalog)


def test_hrefs_outside_the_catalog_can_be_allowed(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "B04.tif"
    outside.parent.mkdir()
    catalog = _catalog_with_href(tmp_path / "stac", "red", str(outside))
    (scene,) = static_search(catalog, allow_hrefs_outside_catalog=True)
    assert scene.asset_hrefs["red"] == str(outside)


def _catalog_with_href(folder: Path, band: str, href: str) -> Path:
    catalog_path = build_static_catalog(folder)
    item_path = next(folder.rglob("S2A_29RKH_20200219_0_L2A.json"))
    item = pystac.Item.from_file(str(item_path))
    item.assets[ES_KEYS[band]].href = href
    item.save_object(include_self_link=False, dest_href=str(item_path))
    return catalog_path


# --- one item lacking one asset --------------------------------------------------------------


def test_one_item_lacking_an_asset_is_one_unreadable_scene() -> None:
    """With on_read_error: skip the fetch leaves this scene out (the SceneReadError is its
    recorded reason); with raise it stops, naming the item and asset."""
    items = copy.deepcopy(PC_ITEMS)
    del items[0]["assets"]["B05"]
    with RecordedStacApi(items, page_size=50) as api:
        scenes = _api_search(api)
    assert len(scenes) == len(_search_all(PC_ITEMS))
    (lacking,) = [scene for scene in scenes if scene.missing_assets]
    assert lacking.item_id == items[0]["id"]
    assert dict(lacking.missing_assets) == {"rededge1": "B05"}
    grid = AnalysisGrid(
        crs=lacking.crs, transform=Affine(10.0, 0.0, 5e5, 0.0, -10.0, 6.4e6), shape=(2, 2)
    )
    with pytest.raises(SceneReadError, match=rf"{lacking.item_id} has no asset 'B05' \(band "
                       r"'rededge1'\), though other items.*on_read_error: skip"):  # fmt: skip
        read_scene(lacking, grid, bands=("rededge1", "nir"))


def test_an_asset_key_no_item_has_is_a_config_error() -> None:
    with RecordedStacApi(PC_ITEMS, page_size=50) as api, pytest.raises(SourceError) as raised:
        _api_search(api, asset_keys=PC_KEYS | {"rededge1": "rededge1"})
    assert re.search(r"has no asset 'rededge1'.*fix sources\.stac\.asset_keys", str(raised.value))


def _search_all(items: list[dict[str, Any]]) -> list[Any]:
    with RecordedStacApi(items, page_size=50) as api:
        return _api_search(api)
