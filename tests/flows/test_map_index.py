"""A map split into a page per commune under an index page, in a real browser (Chromium).

The tables are synthetic and in the published schema (``risk_map_table`` of test_map_page); the
pages are opened from file:// URLs in an offline browser context, as an officer opens them from
a USB stick, and each browser test checks that nothing but the publication's own pages was asked
for and nothing was written to the console.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from playwright.sync_api import Browser, expect

from pestcast.core.errors import ConfigError, DataError, PublishError
from pestcast.flows.map_page import commune_slugs, write_map_page, write_map_pages
from pestcast.flows.publication import MANIFEST, publish_folder, sha256_of
from pestcast.flows.publish import write_geojson_rfc7946
from pestcast.models import RISK_CLASSES
from tests.flows.test_map_page import (
    HORIZONS,
    PESTS,
    UTM,
    OpenedPage,
    browser,
    open_page,
    origin,
    risk_map_table,
    small_risk_map,
)

__all__ = ["browser"]  # the Chromium fixture, shared with test_map_page

PLACES = [  # (district, commune, parcels): one commune name in two districts, and a đ
    ("Châu Thành", "Vĩnh Hòa", 4),
    ("Châu Thành", "Định Mỹ", 5),
    ("Thoại Sơn", "Vĩnh Hòa", 3),
]
SLUGS = {
    ("Châu Thành", "Vĩnh Hòa"): "chau-thanh--vinh-hoa",
    ("Châu Thành", "Định Mỹ"): "chau-thanh--dinh-my",
    ("Thoại Sơn", "Vĩnh Hòa"): "thoai-son--vinh-hoa",
}
LIMIT = 5
EMBEDDED = re.compile(r'<script type="application/json" id="(risk-map|page-config|index-config)">')


def three_communes(seed: int = 7) -> gpd.GeoDataFrame:
    """12 parcels (80 m squares) in 3 communes of 2 districts, each commune in its own block;
    risks vary by pest and horizon, one parcel is fallow and one has no data."""
    rng = np.random.default_rng(seed)
    x0, y0 = origin()
    squares, districts, communes = [], [], []
    for block, (district, commune, parcels) in enumerate(PLACES):
        for i in range(parcels):
            x, y = x0 + block * 1_500 + 100 * i, y0 + 700 * (block % 2)
            squares.append(shapely.box(x, y, x + 80, y + 80))
            districts.append(district)
            communes.append(commune)
    n = len(squares)
    risks = {f"{p}_h{h}": rng.uniform(0.0, 0.9, n).round(3) for p in PESTS for h in HORIZONS}
    risks["bph_h7"][3] = np.nan
    places = pd.DataFrame({"district": districts, "commune": communes})
    fallow = np.arange(n) == 6
    return risk_map_table(gpd.GeoSeries(squares, crs=UTM), places, risks, seed, fallow=fallow)


def embedded(page: Path, name: str) -> Any:
    """The JSON a page embeds in ``<script id=name>``."""
    text = page.read_text(encoding="utf-8")
    start = next(m.end() for m in EMBEDDED.finditer(text) if m.group(1) == name)
    return json.loads(text[start : text.index("</script>", start)])


@pytest.fixture(scope="module")
def table() -> gpd.GeoDataFrame:
    return three_communes()


@pytest.fixture(scope="module")
def split(table: gpd.GeoDataFrame, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("publication")
    published = write_geojson_rfc7946(table, folder / "risk_map.geojson")
    return write_map_pages(
        table,
        folder,
        published=published,
        pests=PESTS,
        horizons=HORIZONS,
        max_parcels_per_page=LIMIT,
    )


def commune_ids(table: gpd.GeoDataFrame, district: str, commune: str) -> list[str]:
    rows = (table["district"] == district) & (table["commune"] == commune)
    return sorted(table.loc[rows, "parcel_id"])


# --- files, no browser ----------------------------------------------------------------------


def test_a_big_map_is_an_index_and_a_page_per_commune(
    split: list[Path], table: gpd.GeoDataFrame
) -> None:
    index, *pages = split
    folder = index.parent
    assert index == folder / "map.html"
    assert sorted(pages) == sorted(folder / "map" / f"{s}.html" for s in SLUGS.values())
    assert sorted(p.name for p in (folder / "map").iterdir()) == sorted(p.name for p in pages)
    assert all(re.fullmatch(r"[a-z0-9-]+\.html", p.name) for p in pages)
    communes = embedded(index, "index-config")["communes"]
    assert {(c["district"], c["commune"]): c["href"] for c in communes} == {
        place: f"map/{slug}.html" for place, slug in SLUGS.items()
    }
    for (district, commune), slug in SLUGS.items():
        features = embedded(folder / "map" / f"{slug}.html", "risk-map")["features"]
        shown = sorted(f["properties"]["parcel_id"] for f in features)
        assert shown == commune_ids(table, district, commune)
        config = embedded(folder / "map" / f"{slug}.html", "page-config")
        assert config["place"] == {"district": district, "commune": commune}
        assert config["index"] == "../map.html"


def test_a_commune_page_embeds_the_published_features(split: list[Path]) -> None:
    folder = split[0].parent
    published = json.loads((folder / "risk_map.geojson").read_text(encoding="utf-8"))
    by_id = {f["properties"]["parcel_id"]: f for f in published["features"]}
    for page in split[1:]:
        features = embedded(page, "risk-map")["features"]
        assert features == [by_id[f["properties"]["parcel_id"]] for f in features]
    # and as text: each feature is the published file's line, byte for byte
    text = (folder / "risk_map.geojson").read_text(encoding="utf-8")
    lines = {line.rstrip(",") for line in text.splitlines()}
    for page in split[1:]:
        shown = [
            line.rstrip(",")
            for line in page.read_text(encoding="utf-8").splitlines()
            if line.startswith('{ "type": "Feature"')
        ]
        assert shown
        assert all(line in lines for line in shown)


def test_the_index_counts_every_class_of_every_commune(
    split: list[Path], table: gpd.GeoDataFrame
) -> None:
    config = embedded(split[0], "index-config")
    for commune in config["communes"]:
        rows = table[
            (table["district"] == commune["district"]) & (table["commune"] == commune["commune"])
        ]
        assert commune["parcels"] == len(rows)
        for p in PESTS:
            for h in HORIZONS:
                classes = rows[f"class_{p}_h{h}"]
                assert commune["counts"][f"{p}_h{h}"] == {
                    c: int((classes == c).sum()) for c in RISK_CLASSES
                }
                warned = rows.loc[classes.isin(["high", "medium"]), "area_ha"].sum()
                assert commune["warningHa"][f"{p}_h{h}"] == pytest.approx(warned, abs=0.005)
        centres = rows.geometry.centroid.to_crs("EPSG:4326")
        assert commune["lon"] == pytest.approx(centres.x.mean(), abs=1e-6)
        assert commune["lat"] == pytest.approx(centres.y.mean(), abs=1e-6)


def test_a_small_map_is_the_page_write_map_page_makes(tmp_path: Path) -> None:
    table = small_risk_map()  # 36 parcels with markup in a reason
    risk_map = write_geojson_rfc7946(table, tmp_path / "risk_map.geojson")
    single = write_map_page(risk_map, tmp_path / "single.html", pests=PESTS, horizons=HORIZONS)
    folder = tmp_path / "publication"
    pages = write_map_pages(
        table,
        folder,
        published=risk_map,
        pests=PESTS,
        horizons=HORIZONS,
        max_parcels_per_page=len(table),
    )
    assert pages == [folder / "map.html"]
    assert pages[0].read_bytes() == single.read_bytes()
    assert not (folder / "map").exists()


def test_a_commune_bigger_than_a_page_keeps_one_page_and_says_so(
    tmp_path: Path, table: gpd.GeoDataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    published = write_geojson_rfc7946(table, tmp_path / "risk_map.geojson")
    pages = write_map_pages(
        table, tmp_path, published=published, pests=PESTS, horizons=HORIZONS, max_parcels_per_page=4
    )
    assert len(pages) == 1 + len(SLUGS)
    assert [r.getMessage() for r in caplog.records] == [
        "commune Định Mỹ (Châu Thành) has 5 parcels, more than the 4 of one page: its page may "
        "be too big for a browser"
    ]


def test_slugs_are_ascii_lower_case_and_unique() -> None:
    places = [
        ("Châu Thành", "Vĩnh Hòa"),
        ("Cờ Đỏ", "Đông Hiệp"),
        ("Cờ Đỏ", "Dong Hiep"),  # folds as the one above
        ("Cờ Đỏ", "Đông  Hiệp!"),  # and so does this
        ("Ô Môn", "..."),
    ]
    slugs = commune_slugs(places)
    assert slugs[("Châu Thành", "Vĩnh Hòa")] == "chau-thanh--vinh-hoa"
    assert slugs[("Cờ Đỏ", "Dong Hiep")] == "co-do--dong-hiep"
    assert {slugs[("Cờ Đỏ", "Đông Hiệp")], slugs[("Cờ Đỏ", "Đông  Hiệp!")]} == {
        "co-do--dong-hiep-2",
        "co-do--dong-hiep-3",
    }
    assert slugs[("Ô Môn", "...")] == "o-mon--unnamed"
    assert len(set(slugs.values())) == len(places)
    assert commune_slugs(reversed(places)) == slugs


def test_the_table_and_arguments_are_checked(tmp_path: Path, table: gpd.GeoDataFrame) -> None:
    def pages(data: gpd.GeoDataFrame, **options: Any) -> list[Path]:
        arguments: dict[str, Any] = {
            "published": tmp_path / "never-read.geojson",
            "pests": PESTS,
            "horizons": HORIZONS,
            "max_parcels_per_page": LIMIT,
        } | options
        return write_map_pages(data, tmp_path, **arguments)

    twice = pd.concat([table, table.iloc[:1]])
    with pytest.raises(
        DataError, match=r"row 12 of the risk map table .* repeated parcel_id \(AG-00000\)"
    ):
        pages(twice)
    wrong = table.copy()
    wrong.loc[4, "class_blast_h14"] = "severe"
    with pytest.raises(DataError, match=r"parcel AG-00004 .* class_blast_h14 = 'severe'"):
        pages(wrong)
    with pytest.raises(DataError, match=r"parcel AG-00000 .* class_bph_h30 = None"):
        pages(table, horizons=[30])
    homeless = table.copy()
    homeless.loc[2, "commune"] = None
    with pytest.raises(DataError, match=r"parcel AG-00002 .* has no commune"):
        pages(homeless)
    for limit in (0, True, 2.5):
        with pytest.raises(ConfigError, match="max_parcels_per_page"):
            pages(table, max_parcels_per_page=limit)
    with pytest.raises(ConfigError, match="pests"):
        pages(table, pests=[])
    assert list(tmp_path.iterdir()) == []


def test_the_manifest_lists_the_commune_pages(tmp_path: Path, table: gpd.GeoDataFrame) -> None:
    target = tmp_path / "2025-03-10"

    def write(staging: Path) -> dict[str, Any]:
        published = write_geojson_rfc7946(table, staging / "risk_map.geojson")
        write_map_pages(
            table,
            staging,
            published=published,
            pests=PESTS,
            horizons=HORIZONS,
            max_parcels_per_page=LIMIT,
        )
        return {"forecast_date": "2025-03-10"}

    assert publish_folder(target, write)
    files = json.loads((target / MANIFEST).read_text(encoding="utf-8"))["files"]
    pages = sorted(f"map/{slug}.html" for slug in SLUGS.values())
    assert list(files) == ["map.html", *pages, "risk_map.geojson"]
    assert all(files[name] == sha256_of(target / name) for name in files)
    assert not publish_folder(target, write)  # the same pages: nothing to replace


def test_a_published_map_of_another_table_is_refused(
    tmp_path: Path, table: gpd.GeoDataFrame
) -> None:
    other = write_geojson_rfc7946(table.iloc[:-1], tmp_path / "risk_map.geojson")
    with pytest.raises(
        PublishError, match=r"holds 11 features on lines of their own, the table 12"
    ):
        write_map_pages(
            table,
            tmp_path,
            published=other,
            pests=PESTS,
            horizons=HORIZONS,
            max_parcels_per_page=LIMIT,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["risk_map.geojson"]


# --- in the browser --------------------------------------------------------------------------


@pytest.fixture
def index(browser: Browser, split: list[Path]) -> Iterator[OpenedPage]:
    page = open_page(browser, split[0])
    page.page.wait_for_function("window.pestcastIndex !== undefined")
    yield page
    page.page.context.close()
    assert page.console == []
    assert page.errors == []
    folder = split[0].parent.as_uri()
    assert page.requests, "the index page itself is a request"
    assert all(url.startswith(f"{folder}/") for url in page.requests), page.requests


def table_cells(opened: OpenedPage, rows: str) -> dict[tuple[str, str], dict[str, float]]:
    cells = opened.page.eval_on_selector_all(
        f"#communes {rows} td[data-column]",
        "cells => cells.map(c => [c.parentElement.dataset.district || '', "
        "c.parentElement.dataset.commune || '', c.dataset.column, Number(c.dataset.value)])",
    )
    found: dict[tuple[str, str], dict[str, float]] = {}
    for district, commune, column, value in cells:
        found.setdefault((district, commune), {})[column] = value
    return found


def expected_cells(rows: pd.DataFrame, key: str) -> dict[str, float]:
    classes = rows[f"class_{key}"]
    warned = rows.loc[classes.isin(["high", "medium"]), "area_ha"].sum()
    return (
        {"parcels": len(rows)}
        | {c: int((classes == c).sum()) for c in RISK_CLASSES}
        | {"warningHa": pytest.approx(warned, abs=0.006)}
    )


def index_api(opened: OpenedPage, expression: str) -> Any:
    return opened.page.evaluate(f"window.pestcastIndex.{expression}")


def test_the_index_lists_every_commune_with_the_counts_of_the_chosen_pest_and_horizon(
    index: OpenedPage, table: gpd.GeoDataFrame
) -> None:
    for pest, horizon in (("bph", 7), ("blast", 14)):
        index.page.locator(f"input[name=pest][value={pest}]").check()
        index.page.locator(f"input[name=horizon][value='{horizon}']").check()
        communes = table_cells(index, "tbody tr[data-commune]")
        grouped = table.groupby(["district", "commune"])
        assert communes == {
            place: expected_cells(rows, f"{pest}_h{horizon}") for place, rows in grouped
        }
        districts = table_cells(index, "tbody tr.district")
        assert districts == {
            (district, ""): expected_cells(rows, f"{pest}_h{horizon}")
            for district, rows in table.groupby("district")
        }
        total = table_cells(index, "tfoot tr[data-total]")
        assert total == {("", ""): expected_cells(table, f"{pest}_h{horizon}")}
    assert index_api(index, "state()")["pest"] == "blast"


def test_the_counts_change_with_the_pest_and_horizon(
    index: OpenedPage, table: gpd.GeoDataFrame
) -> None:
    high = index.page.locator("tfoot td[data-column=high]")
    expect(high).to_have_attribute("data-value", str((table["class_bph_h7"] == "high").sum()))
    assert (table["class_bph_h7"] == "high").sum() != (table["class_blast_h7"] == "high").sum()
    index.page.locator("input[name=pest][value=blast]").check()
    expect(high).to_have_attribute("data-value", str((table["class_blast_h7"] == "high").sum()))


def test_sorting_by_high_puts_the_most_high_parcels_first(
    index: OpenedPage, table: gpd.GeoDataFrame
) -> None:
    index.page.locator("thead button[data-sort=high]").click()
    order = index.page.eval_on_selector_all(
        "#communes tbody tr[data-commune]",
        "rows => rows.map(r => [r.dataset.district, r.dataset.commune])",
    )
    high = table[table["class_bph_h7"] == "high"].groupby(["district", "commune"]).size()
    by_district = high.groupby(level=0).sum()
    ranks = [(-by_district.get(d, 0), -high.get((d, c), 0)) for d, c in order]
    assert ranks == sorted(ranks)
    assert (
        index.page.locator("thead th[data-column=high]").get_attribute("aria-sort") == "descending"
    )
    index.page.locator("thead button[data-sort=high]").click()
    assert (
        index.page.locator("thead th[data-column=high]").get_attribute("aria-sort") == "ascending"
    )


def test_a_commune_link_opens_its_page_and_the_back_link_returns(
    index: OpenedPage, split: list[Path], table: gpd.GeoDataFrame
) -> None:
    row = index.page.locator("tr[data-href='map/thoai-son--vinh-hoa.html']")
    row.get_by_role("link", name="Vĩnh Hòa").click()
    index.page.wait_for_url("**/map/thoai-son--vinh-hoa.html*")
    index.page.wait_for_selector("body[data-ready=true]")
    assert index.api("parcelCount()") == index.api("drawnCount()") == 3
    assert index.api("drawnIds()") == commune_ids(table, "Thoại Sơn", "Vĩnh Hòa")
    assert index.page.locator("#place-line").inner_text() == "Commune: Vĩnh Hòa, Thoại Sơn"
    assert index.page.title().startswith("Vĩnh Hòa · Rice pest risk forecast")
    index.page.get_by_role("link", name="← All communes").click()
    index.page.wait_for_url(re.compile(r".*/map\.html(#en)?$"))
    index.page.wait_for_selector("body[data-ready=true]")
    assert index_api(index, "communeCount()") == 3
    folder = split[0].parent
    visited = [url.split("#")[0] for url in index.requests]
    assert visited == [
        split[0].as_uri(),
        (folder / "map" / "thoai-son--vinh-hoa.html").as_uri(),
        split[0].as_uri(),
    ]


def test_each_commune_has_a_circle_coloured_by_its_share_of_high_parcels(
    index: OpenedPage, table: gpd.GeoDataFrame
) -> None:
    assert index_api(index, "circleCount()") == 3
    config_colours = index.page.evaluate(
        "JSON.parse(document.getElementById('index-config').textContent).highShareColours"
    )
    for (district, commune), rows in table.groupby(["district", "commune"]):
        share = (rows["class_bph_h7"] == "high").mean()
        expected = "#FFFFFF"
        for step in config_colours:
            if share > 0 and share >= step["from"]:
                expected = step["colour"]
        href = f"map/{SLUGS[(district, commune)]}.html"
        assert index_api(index, f"circleColour({json.dumps(href)})") == expected
    href = "map/chau-thanh--dinh-my.html"
    point = index_api(index, f"clientPoint({json.dumps(href)})")
    index.page.mouse.click(point["x"], point["y"])
    popup = index.page.locator(".leaflet-popup-content")
    high = int((table.loc[table["commune"] == "Định Mỹ", "class_bph_h7"] == "high").sum())
    expect(popup).to_contain_text(f"{high} of 5 parcels at high risk")
    popup.get_by_role("link", name="Open the commune's map →").click()
    index.page.wait_for_url("**/map/chau-thanh--dinh-my.html*")
    index.page.wait_for_selector("body[data-ready=true]")
    assert index.api("parcelCount()") == 5


def test_vietnamese_changes_every_label_and_goes_with_the_links(index: OpenedPage) -> None:
    index.page.get_by_role("button", name="VI").click()
    text = index.page.locator("body").inner_text()
    for label in (
        "Dự báo nguy cơ sâu bệnh hại lúa: các xã",
        "Ngày dự báo",
        "3 xã thuộc 2 huyện, 12 thửa",
        "rầy nâu",
        "7 ngày tới",
        "Huyện / xã",
        "Số thửa",
        "cao",
        "trung bình",
        "chưa đủ dữ liệu",
        "không có lúa",
        "Cao + trung bình (ha)",
        "Tổng toàn tỉnh",
        "Tỷ lệ thửa có nguy cơ cao",
    ):
        assert label in text, label
    for english in ("Province total", "Parcels", "District", "high risk", "not in crop"):
        assert english not in text, english
    assert index.page.evaluate("document.documentElement.lang") == "vi"
    index.page.locator("tr[data-href='map/chau-thanh--dinh-my.html'] a").click()
    index.page.wait_for_selector("body[data-ready=true]")
    assert index.api("state().lang") == "vi"
    assert "Xã: Định Mỹ, Châu Thành" in index.page.locator("#panel").inner_text()
    index.page.get_by_role("link", name="← Tất cả các xã").click()
    index.page.wait_for_url(re.compile(r".*/map\.html#vi$"))
    index.page.wait_for_selector("body[data-ready=true]")
    assert index_api(index, "state().lang") == "vi"


def test_a_vietnamese_browser_starts_in_vietnamese(browser: Browser, split: list[Path]) -> None:
    opened = open_page(browser, split[0], locale="vi-VN")
    try:
        assert opened.page.evaluate("window.pestcastIndex.state().lang") == "vi"
        assert opened.page.locator("tfoot td").first.inner_text() == "Tổng toàn tỉnh"
    finally:
        opened.page.context.close()
    assert opened.console == opened.errors == []
    assert opened.requests == [split[0].as_uri()]
