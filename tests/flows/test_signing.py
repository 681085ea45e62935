"""Planetary Computer signing against a stand-in on 127.0.0.1 (SAS token endpoint + blob storage
that refuses unsigned and expired URLs), reading the real 29RKH COGs through PC-shaped items."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pystac
import pytest

from pestcast.core.errors import SceneReadError
from pestcast.flows.providers import AssetAccess, AssetSigning
from pestcast.flows.raster_read import SceneArrays, read_scene
from pestcast.flows.signing import CollectionSigner, SasTokenCache, TokenError, collection_signer
from pestcast.flows.stac_search import SceneRef, scene_from_item
from tests.flows.planetary_computer_stand_in import (
    PlanetaryComputerStandIn,
    planetary_computer_item,
)
from tests.flows.stac_api_server import load_features
from tests.flows.test_raster_read import TILE, native_grid, real_scene

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
BANDS = ("blue", "red", "nir", "nir08", "swir16")
COLLECTION = "sentinel-2-l2a"
DAY = dt.date(2020, 2, 19)


@pytest.fixture
def stand_in() -> Iterator[PlanetaryComputerStandIn]:
    with PlanetaryComputerStandIn({}) as server:
        yield server


@pytest.fixture(scope="module")
def local() -> SceneArrays:
    """The same scene read from the local files: what every signed read must give."""
    return read_scene(real_scene(), native_grid(), bands=BANDS)


def pc_scene(stand_in: PlanetaryComputerStandIn, day: dt.date = DAY) -> SceneRef:
    """The 29RKH scene as a Planetary Computer item whose blobs the stand-in serves."""
    template = load_features("planetary_computer_items.json")[0]
    scene = json.loads((TILE / "S2A_29RKH_20200219_0_L2A.json").read_text())
    item = planetary_computer_item(template, scene, day=day, stand_in=stand_in, tile_dir=TILE)
    signing = AssetSigning(method="planetary-computer", token_url=stand_in.token_url)
    return scene_from_item(
        pystac.Item.from_dict(item),
        asset_keys=PC_KEYS,
        boa_offset="baseline",
        access=AssetAccess(signing=signing),
    )


def token_cache(stand_in: PlanetaryComputerStandIn) -> SasTokenCache:
    """A cache on the stand-in's clock, so ``advance`` moves both."""
    signing = AssetSigning(method="planetary-computer", token_url=stand_in.token_url)
    return SasTokenCache(signing, clock=stand_in.now)


def assert_same(read: SceneArrays, expected: SceneArrays) -> None:
    for band, values in expected.reflectance.items():
        assert read.reflectance[band].tobytes() == values.tobytes(), band
    assert read.scl.tobytes() == expected.scl.tobytes()


# --- tokens --------------------------------------------------------------------------------


def test_one_token_per_collection_is_appended_as_the_query(
    stand_in: PlanetaryComputerStandIn,
) -> None:
    cache = token_cache(stand_in)
    first, second = stand_in.href("a/B02.tif"), stand_in.href("a/B03.tif")

    signed = cache.sign(first, COLLECTION)
    token = signed.removeprefix(f"{first}?")

    assert token.startswith("se=")
    assert "&sig=" in token
    assert cache.sign(second, COLLECTION) == f"{second}?{token}"
    assert stand_in.counts["token"] == 1
    assert cache.sign(f"{first}?versionid=3", COLLECTION) == f"{first}?versionid=3&{token}"
    assert cache.sign("/data/B02.tif", COLLECTION) == "/data/B02.tif"  # local files: never
    cache.sign(first, "landsat-c2-l2")
    assert stand_in.counts["token"] == 2  # one per collection


def test_a_token_is_renewed_before_it_expires(stand_in: PlanetaryComputerStandIn) -> None:
    cache = token_cache(stand_in)  # tokens last 45 min, renewed 5 min before
    first = cache.token(COLLECTION)

    stand_in.advance(39 * 60)
    assert cache.token(COLLECTION) == first
    stand_in.advance(2 * 60)  # 4 minutes left
    assert cache.token(COLLECTION) != first
    assert stand_in.counts["token"] == 2


def test_signers_of_equal_settings_share_one_cache(stand_in: PlanetaryComputerStandIn) -> None:
    signing = AssetSigning(method="planetary-computer", token_url=stand_in.token_url)
    first = collection_signer(signing, COLLECTION)
    again = collection_signer(signing.model_copy(), "sentinel-2-l1c")

    assert first is not None
    assert again is not None
    assert first.cache is again.cache
    assert collection_signer(AssetSigning(), COLLECTION) is None


@pytest.mark.parametrize(
    ("answer", "says"),
    [(404, "answered HTTP 404 for collection 'sentinel-2-l2a'"), ("bad-json", "did not answer")],
)
def test_a_token_endpoint_that_gives_no_token_is_a_token_error(
    stand_in: PlanetaryComputerStandIn, answer: int | str, says: str
) -> None:
    stand_in.failures.append(answer)

    with pytest.raises(TokenError, match=says) as raised:
        token_cache(stand_in).token(COLLECTION)
    assert stand_in.token_url in str(raised.value)
    assert raised.value.__cause__ is None  # not worth retrying


def test_a_passing_server_error_is_retried(stand_in: PlanetaryComputerStandIn) -> None:
    stand_in.failures.append(503)

    assert token_cache(stand_in).token(COLLECTION).startswith("se=")
    assert stand_in.counts["token"] == 1


# --- reads ---------------------------------------------------------------------------------


def test_scenes_of_a_signing_source_are_signed_and_read_exactly(
    stand_in: PlanetaryComputerStandIn, local: SceneArrays
) -> None:
    arrays = read_scene(pc_scene(stand_in), native_grid(), bands=BANDS)

    assert_same(arrays, local)
    assert stand_in.counts["token"] == 1  # one token for every band of the scene
    assert stand_in.counts["refused"] == 0
    assert stand_in.counts["signed"] >= 2 * (len(BANDS) + 1)  # header and data of each asset


def test_unsigned_urls_are_refused(stand_in: PlanetaryComputerStandIn) -> None:
    unsigned = dataclasses.replace(pc_scene(stand_in), access=AssetAccess())

    with pytest.raises(SceneReadError, match="403"):
        read_scene(unsigned, native_grid(), bands=["red"])
    assert stand_in.counts["unsigned"] >= 1
    assert stand_in.counts["token"] == 0


def test_a_long_run_reads_with_renewed_tokens(
    stand_in: PlanetaryComputerStandIn, local: SceneArrays
) -> None:
    signer = CollectionSigner(token_cache(stand_in), COLLECTION)
    first = read_scene(pc_scene(stand_in), native_grid(), bands=BANDS, sign_href=signer)

    stand_in.advance(44 * 60)  # the first token has a minute left: too little to start a read
    later = read_scene(
        pc_scene(stand_in, DAY + dt.timedelta(days=5)), native_grid(), bands=BANDS, sign_href=signer
    )

    assert_same(first, local)
    assert_same(later, local)
    assert stand_in.counts["token"] == 2
    assert stand_in.counts["refused"] == 0  # renewed before the blob store refused anything


def test_a_token_refused_mid_run_is_renewed_and_the_read_retried(
    stand_in: PlanetaryComputerStandIn, local: SceneArrays
) -> None:
    read_scene(pc_scene(stand_in), native_grid(), bands=BANDS)
    stand_in.revoke_all()  # expired early, as far as the blob store is concerned

    later = read_scene(pc_scene(stand_in, DAY + dt.timedelta(days=5)), native_grid(), bands=BANDS)

    assert_same(later, local)
    assert stand_in.counts["refused"] >= 1
    assert stand_in.counts["token"] == 2  # one renewal, however many bands were refused


def test_a_token_that_stops_working_in_the_middle_of_a_read_is_renewed(
    stand_in: PlanetaryComputerStandIn, local: SceneArrays
) -> None:
    """GDAL reports a refused block read as a failed read, not as HTTP 403: a failed signed
    read is retried once with a new token."""
    stand_in.revoke_after(2)  # red: HEAD and header pass, its pixel blocks are refused

    arrays = read_scene(pc_scene(stand_in), native_grid(), bands=["red"], max_concurrent_reads=1)

    assert arrays.reflectance["red"].tobytes() == local.reflectance["red"].tobytes()
    assert arrays.scl.tobytes() == local.scl.tobytes()
    assert stand_in.counts["refused"] >= 1  # GDAL may ask for the refused blocks again
    assert stand_in.counts["token"] == 2


def test_a_token_outage_stops_the_read_instead_of_skipping_the_scene(
    stand_in: PlanetaryComputerStandIn,
) -> None:
    stand_in.failures.append(404)

    with pytest.raises(TokenError) as raised:
        read_scene(pc_scene(stand_in), native_grid(), bands=["red"])
    assert not isinstance(raised.value, SceneReadError)  # on_read_error: skip must not hide it


def test_errors_show_the_unsigned_href_never_the_token(
    stand_in: PlanetaryComputerStandIn,
) -> None:
    scene = pc_scene(stand_in)
    missing = stand_in.href("sentinel2-l2/gone/B04.tif")
    broken = dataclasses.replace(scene, asset_hrefs={**scene.asset_hrefs, "red": missing})

    with pytest.raises(SceneReadError) as raised:
        read_scene(broken, native_grid(), bands=["red"])

    message = str(raised.value)
    assert missing in message
    assert "sig=" not in message
    assert "se=" not in message


def test_the_stand_in_tokens_look_like_planetary_computer_tokens(
    stand_in: PlanetaryComputerStandIn,
) -> None:
    """The recorded format (planetarycomputer.microsoft.com/docs/concepts/sas): a query string."""
    token = token_cache(stand_in).token(COLLECTION)
    fields = dict(part.split("=", 1) for part in token.split("&"))
    assert {"se", "sp", "sv", "sr", "sig"} <= set(fields)
    assert fields["sp"] == "rl"
    assert Path(stand_in.token_url).name == "token"
