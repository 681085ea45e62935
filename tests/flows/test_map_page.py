"""The offline map page in a real browser: headless Debian Chromium driven by Playwright.

The risk maps are synthetic but go through the real publisher (``write_geojson_rfc7946``). Every
page is opened from a file:// URL in an offline browser context, and each test checks that the
page asked for nothing but its own file and wrote nothing to the console.

``PESTCAST_UPDATE_SCREENSHOT=1`` makes the screenshot test write ``docs/img/map_page.png``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from playwright.sync_api import Browser, Page, expect, sync_playwright
from pyproj import Transformer

from pestcast.core.errors import ConfigError, DataError
from pestcast.flows.map_page import write_map_page
from pestcast.flows.publish import write_geojson_rfc7946

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "map_page.png"
PESTS = ("bph", "blast")
HORIZONS = (7, 14)
UTM = "EPSG:32648"
CLASS_VI = {
    "high": "cao",
    "medium": "trung bình",
    "low": "thấp",
    "no_data": "chưa đủ dữ liệu",
    "not_in_crop": "không có lúa",
}
REASONS = {
    "bph": [
        (
            "brown planthoppers in surveys nearby (12 per m²)",
            "rầy nâu trong điều tra gần đây (12 con/m²)",
        ),
        ("warm, humid nights favour hatching", "đêm ấm, ẩm thuận lợi cho trứng nở"),
        ("dense canopy 45–60 days after sowing", "tán lúa dày, 45–60 ngày sau sạ"),
    ],
    "blast": [
        ("long leaf-wetness spells after rain", "lá ướt kéo dài sau mưa"),
        ("cool nights below 22 °C", "đêm mát dưới 22 °C"),
        ("blast lesions reported in the commune", "có báo cáo vết bệnh đạo ôn trong xã"),
    ],
}
QUIET = ("no pest found in recent surveys", "không phát hiện sâu bệnh trong điều tra gần đây")
KNOWN = "AG-00007"  # a high-risk parcel with fixed values (bph, 7 days)
NO_DATA = "AG-00035"
NO_BPH_DATA = "AG-00034"  # no data for brown planthopper at 7 days only
FALLOW = ("AG-00028", "AG-00029")  # not in crop (fallow or flooded off-season) at every key
NASTY = "AG-00001"  # its reasons hold markup that must stay text
NASTY_REASON = "</script><img src=x onerror=alert(1)> <!-- & 'quotes'"


# --- synthetic risk maps ---------------------------------------------------------------------


def classify(risk: np.ndarray, fallow: np.ndarray) -> np.ndarray:
    """The demo configuration's classes: low < 0.2 ≤ medium < 0.5 ≤ high; NaN is no_data;
    parcels out of crop are not_in_crop whatever their risk."""
    return np.select(
        [fallow, np.isnan(risk), risk >= 0.5, risk >= 0.2],
        ["not_in_crop", "no_data", "high", "medium"],
        "low",
    )


def reasons_for(
    pest: str, classes: np.ndarray, rng: np.random.Generator
) -> tuple[list[str], list[str]]:
    english: list[str] = []
    vietnamese: list[str] = []
    for cls in classes:
        if cls in ("no_data", "not_in_crop"):
            picked: list[tuple[str, str]] = []
        elif cls == "low":
            picked = [QUIET]
        else:
            picked = [REASONS[pest][i] for i in sorted(rng.choice(3, 2, replace=False))]
        english.append("; ".join(en for en, _ in picked))
        vietnamese.append("; ".join(vi for _, vi in picked))
    return english, vietnamese


def risk_map_table(
    geometry: gpd.GeoSeries,
    places: pd.DataFrame,
    risks: dict[str, np.ndarray],
    seed: int,
    fallow: np.ndarray | None = None,
) -> gpd.GeoDataFrame:
    """A table in the documented risk-map schema; ``risks`` maps ``<p>_h<h>`` to 0–1 or NaN;
    ``fallow`` parcels are not in crop: no risk, class not_in_crop (the publisher's rule)."""
    rng = np.random.default_rng(seed)
    n = len(geometry)
    fallow = np.zeros(n, dtype=bool) if fallow is None else fallow
    no_image = np.isnan(risks[f"{PESTS[0]}_h{HORIZONS[0]}"]) & ~fallow
    table = pd.DataFrame(
        {
            "parcel_id": [f"AG-{i:05d}" for i in range(n)],
            "commune": places["commune"].to_numpy(),
            "district": places["district"].to_numpy(),
            "area_ha": np.round(geometry.area.to_numpy() / 10_000, 2),
            "forecast_date": "2025-03-10",
            "model_version": "2025-03-03-4f9c2a1e",
            "last_clear_obs_date": [None if gone else "2025-03-04" for gone in no_image],
            "n_valid_px": pd.array(
                [
                    None if gone else int(px)
                    for gone, px in zip(no_image, rng.integers(30, 400, n), strict=True)
                ],
                "Int64",
            ),
        }
    )
    for key, scored in risks.items():
        risk = np.where(fallow, np.nan, scored)
        classes = classify(risk, fallow)
        table[f"risk_{key}"] = np.round(risk, 4)
        table[f"risk_low_{key}"] = np.round(risk / 2, 3)
        table[f"risk_high_{key}"] = np.round((1 + risk) / 2, 3)
        table[f"class_{key}"] = classes
        table[f"class_vi_{key}"] = [CLASS_VI[c] for c in classes]
        table[f"reasons_{key}"], table[f"reasons_vi_{key}"] = reasons_for(
            key.rsplit("_h", 1)[0], classes, rng
        )
    return gpd.GeoDataFrame(table, geometry=geometry.to_numpy(), crs=UTM)


def origin() -> tuple[float, float]:
    """Lon 105.2, lat 10.4 (the Mekong delta) in UTM zone 48N, metres."""
    return Transformer.from_crs("EPSG:4326", UTM, always_xy=True).transform(105.2, 10.4)


def small_risk_map() -> gpd.GeoDataFrame:
    """36 square parcels (80 m, 6 × 6) in 3 communes with varied, partly fixed, values."""
    x0, y0 = origin()
    squares = [
        shapely.box(x0 + 100 * c, y0 + 100 * r, x0 + 100 * c + 80, y0 + 100 * r + 80)
        for r in range(6)
        for c in range(6)
    ]
    rows = np.repeat(np.arange(6), 6)
    places = pd.DataFrame(
        {
            "commune": np.array(["Thới Lai", "Định Môn", "Thới Hưng"])[rows // 2],
            "district": np.array(["Thới Lai", "Thới Lai", "Cờ Đỏ"])[rows // 2],
        }
    )
    index = np.arange(36)
    risks = {
        f"{p}_h{h}": ((index * (0.37 + 0.11 * k)) % 1.0).round(3)
        for k, (p, h) in enumerate((p, h) for p in PESTS for h in HORIZONS)
    }
    for risk in risks.values():
        risk[35] = np.nan
    risks["bph_h7"][7] = 0.734
    risks["bph_h7"][34] = np.nan
    fallow = np.isin([f"AG-{i:05d}" for i in index], FALLOW)
    table = risk_map_table(gpd.GeoSeries(squares, crs=UTM), places, risks, seed=1, fallow=fallow)
    table.loc[7, ["reasons_bph_h7", "reasons_vi_bph_h7"]] = [
        "brown planthoppers in surveys nearby (12 per m²); warm, humid nights favour hatching",
        "rầy nâu trong điều tra gần đây (12 con/m²); đêm ấm, ẩm thuận lợi cho trứng nở",
    ]
    table.loc[7, "area_ha"] = 1.25
    table.loc[1, "reasons_bph_h7"] = NASTY_REASON
    return table


def delta_risk_map(seed: int = 4) -> gpd.GeoDataFrame:
    """Long strip parcels between canals, risk hotspots and a cloudy corner: a realistic look."""
    rng = np.random.default_rng(seed)
    strips, centres, blocks = [], [], []
    for block_col in range(4):
        for block_row in range(3):
            for half in range(2):
                x = 0.0
                while x < 560:
                    width = float(rng.uniform(40, 90))
                    y = block_row * 860 + half * 410
                    strips.append(
                        shapely.box(
                            block_col * 620 + x, y, block_col * 620 + x + width - 4, y + 400
                        )
                    )
                    centres.append((block_col * 620 + x + width / 2, y + 200))
                    blocks.append(block_col)
                    x += width
    x0, y0 = origin()
    geometry = gpd.GeoSeries(strips, crs=UTM).rotate(18, origin=(0, 0)).translate(x0, y0)
    cx, cy = np.array(centres).T / 1000.0
    hotspot = {
        "bph": np.exp(-((cx - 1.2) ** 2 + (cy - 0.5) ** 2) / 0.4),
        "blast": np.exp(-((cx - 0.5) ** 2 + (cy - 1.8) ** 2) / 0.3),
    }
    cloudy = (cx - 2.1) ** 2 + (cy - 2.3) ** 2 < 0.2
    fallow = (cx > 1.9) & (cy < 0.8) & (rng.uniform(size=len(cx)) < 0.7)
    risks = {}
    for p in PESTS:
        for h in HORIZONS:
            base = 0.04 + 0.75 * hotspot[p] * (1.15 if h == 14 else 1.0)
            risk = np.clip(base + rng.normal(0, 0.08, len(cx)), 0.01, 0.97)
            risks[f"{p}_h{h}"] = np.where(cloudy, np.nan, risk)
    communes = np.array(["Thới Lai", "Định Môn", "Trường Xuân", "Trường Xuân"])
    districts = np.array(["Thới Lai", "Thới Lai", "Cờ Đỏ", "Cờ Đỏ"])
    places = pd.DataFrame({"commune": communes[blocks], "district": districts[blocks]})
    return risk_map_table(geometry, places, risks, seed, fallow=fallow)


# --- the browser ---------------------------------------------------------------------------


@dataclass
class OpenedPage:
    """A map page in an offline browser tab and everything it asked for or logged."""

    page: Page
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def api(self, expression: str) -> object:
        return self.page.evaluate(f"window.pestcastMap.{expression}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (Debian's chromium package)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def table() -> gpd.GeoDataFrame:
    return small_risk_map()


@pytest.fixture(scope="module")
def map_html(table: gpd.GeoDataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("publication")
    risk_map = write_geojson_rfc7946(table, folder / "risk_map.geojson")
    return write_map_page(risk_map, folder / "map.html", pests=PESTS, horizons=HORIZONS)


def open_page(browser: Browser, html: Path, *, locale: str = "en-GB") -> OpenedPage:
    context = browser.new_context(
        offline=True, locale=locale, viewport={"width": 1200, "height": 800}
    )
    context.set_default_timeout(5_000)
    opened = OpenedPage(context.new_page())
    opened.page.on("console", lambda m: opened.console.append(f"{m.type}: {m.text}"))
    opened.page.on("pageerror", lambda e: opened.errors.append(str(e)))
    opened.page.on("request", lambda r: opened.requests.append(r.url))
    opened.page.goto(html.as_uri())
    opened.page.wait_for_selector("body[data-ready=true]")
    return opened


@pytest.fixture
def opened(browser: Browser, map_html: Path) -> Iterator[OpenedPage]:
    page = open_page(browser, map_html)
    yield page
    page.page.context.close()
    assert page.console == []
    assert page.errors == []
    assert page.requests == [map_html.as_uri()], "the page must load nothing but itself"


def click_parcel(opened: OpenedPage, parcel_id: str) -> None:
    point = opened.api(f"clientPoint({json.dumps(parcel_id)})")
    assert isinstance(point, dict)
    opened.page.mouse.click(point["x"], point["y"])


def popup(opened: OpenedPage) -> str:
    return opened.page.locator(".leaflet-popup-content").inner_text()


def ids_where(
    table: gpd.GeoDataFrame, column: str, keep: Callable[[pd.Series], pd.Series]
) -> list[str]:
    return sorted(table.loc[keep(table[column]), "parcel_id"])


# --- tests ---------------------------------------------------------------------------------


def test_every_parcel_is_drawn_inside_the_view_with_no_network(
    opened: OpenedPage, table: gpd.GeoDataFrame
) -> None:
    assert opened.api("parcelCount()") == opened.api("drawnCount()") == len(table) == 36
    assert opened.page.locator("#shown-count").inner_text() == "Showing 36 of 36 parcels"
    box = opened.page.locator("#map").bounding_box()
    assert box is not None
    for parcel_id in table["parcel_id"]:
        point = opened.api(f"clientPoint({json.dumps(parcel_id)})")
        assert isinstance(point, dict)
        assert box["x"] < point["x"] < box["x"] + box["width"]
        assert box["y"] < point["y"] < box["y"] + box["height"]
    assert opened.page.locator(".leaflet-tile").count() == 0  # the basemap is opt-in


def test_a_click_shows_the_parcels_risk_class_and_reasons(opened: OpenedPage) -> None:
    click_parcel(opened, KNOWN)
    text = popup(opened)
    assert f"Parcel {KNOWN}" in text
    assert "brown planthopper · next 7 days" in text
    assert "Risk\n73%" in text
    assert "How sure\nforecasts like this came true 37%–87% of the time" in text  # 0.365, 0.867
    assert "Class\nhigh" in text
    assert "Area\n1.25 ha" in text
    assert "brown planthoppers in surveys nearby (12 per m²)\nwarm, humid nights" in text
    assert "Last clear satellite image\n2025-03-04 (" in text
    assert "Model version\n2025-03-03-4f9c2a1e" in text
    assert opened.api("popupText()") == text


def test_a_parcel_without_data_says_so(opened: OpenedPage) -> None:
    click_parcel(opened, NO_DATA)
    text = popup(opened)
    assert "Risk\nn/a" in text
    assert "Class\nnot enough data" in text
    assert "Reasons\nnone given" in text
    assert "Last clear satellite image\nnone yet" in text


def test_a_parcel_not_in_crop_says_so_instead_of_a_risk(opened: OpenedPage) -> None:
    click_parcel(opened, FALLOW[0])
    text = popup(opened)
    assert "Risk\nnot in crop\n" in text
    assert "Reasons\nno rice crop on the satellite images (fallow or flooded off-season)" in text
    assert "Last clear satellite image\n2025-03-04 (" in text
    for said in ("%", "How sure", "n/a", "not enough data", "\nlow\n", "Class\n"):
        assert said not in text, said
    opened.page.get_by_role("button", name="VI").click()
    text = popup(opened)
    assert "Nguy cơ\nkhông có lúa\n" in text
    assert "Lý do\nảnh vệ tinh không thấy lúa (ruộng bỏ trống hoặc ngập nước giữa hai vụ)" in text
    assert "chưa đủ dữ liệu" not in text


def test_not_in_crop_has_its_own_quiet_style_legend_entry_and_filter(
    opened: OpenedPage, table: gpd.GeoDataFrame
) -> None:
    fallow = opened.api(f"parcelStyle({json.dumps(FALLOW[0])})")
    no_data = opened.api(f"parcelStyle({json.dumps(NO_DATA)})")
    assert isinstance(fallow, dict)
    assert isinstance(no_data, dict)
    assert fallow["fillColor"].lower() == "#efe6d0" != no_data["fillColor"].lower()
    assert fallow["dashArray"] is None
    assert no_data["dashArray"] == "4 3"
    assert fallow["weight"] < no_data["weight"]
    label = opened.page.locator("#class-choice label").filter(has_text="not in crop")
    expect(label).to_have_text("not in crop (2)")
    swatch = label.locator(".swatch").evaluate("s => getComputedStyle(s).backgroundColor")
    assert swatch == "rgb(239, 230, 208)"
    header = opened.page.locator("#summary thead th[data-class=not_in_crop]")
    expect(header).to_have_text("not in crop")
    label.locator("input").uncheck()
    assert opened.api("drawnIds()") == ids_where(
        table, "class_bph_h7", lambda c: c != "not_in_crop"
    )
    assert opened.api("drawnCount()") == 36 - len(FALLOW)


def test_a_dashed_no_data_outline_goes_with_the_class(opened: OpenedPage) -> None:
    style = opened.api(f"parcelStyle({json.dumps(NO_BPH_DATA)})")
    assert isinstance(style, dict)
    assert style["dashArray"] == "4 3"
    opened.api('setFilter({pest: "blast"})')  # it has data for blast
    style = opened.api(f"parcelStyle({json.dumps(NO_BPH_DATA)})")
    assert isinstance(style, dict)
    assert style["dashArray"] is None


def test_markup_in_the_data_stays_text(opened: OpenedPage) -> None:
    opened.api(f"openPopup({json.dumps(NASTY)})")
    assert NASTY_REASON in popup(opened)
    assert opened.page.locator(".leaflet-popup-content img").count() == 0


def test_unticking_low_hides_exactly_the_low_parcels(
    opened: OpenedPage, table: gpd.GeoDataFrame
) -> None:
    low = ids_where(table, "class_bph_h7", lambda c: c == "low")
    click_parcel(opened, low[0])  # opens its popup, which must close with it
    assert low[0] in popup(opened)
    point = opened.api(f"clientPoint({json.dumps(low[0])})")
    opened.page.locator("input[name=class][value=low]").uncheck()
    assert opened.api("drawnIds()") == ids_where(table, "class_bph_h7", lambda c: c != "low")
    assert opened.api("drawnCount()") == 36 - len(low) > 0
    expect(opened.page.locator(".leaflet-popup")).to_have_count(0)
    assert isinstance(point, dict)
    opened.page.mouse.click(point["x"], point["y"])  # nothing is drawn there any more
    expect(opened.page.locator(".leaflet-popup")).to_have_count(0)
    assert (
        opened.page.locator("#shown-count").inner_text() == f"Showing {36 - len(low)} of 36 parcels"
    )


def test_another_pest_and_horizon_redraw_their_own_classes(
    opened: OpenedPage, table: gpd.GeoDataFrame
) -> None:
    opened.page.locator("input[name=class][value=high]").uncheck()
    opened.page.locator("input[name=pest][value=blast]").check()
    opened.page.locator("input[name=horizon][value='14']").check()
    assert opened.api("state()") == {
        "lang": "en",
        "pest": "blast",
        "horizon": 14,
        "classes": ["medium", "low", "no_data", "not_in_crop"],
    }
    assert opened.api("drawnIds()") == ids_where(table, "class_blast_h14", lambda c: c != "high")
    parcel = ids_where(table, "class_blast_h14", lambda c: c == "medium")[0]
    click_parcel(opened, parcel)
    expected = table.set_index("parcel_id").loc[parcel, "risk_blast_h14"]
    assert "rice blast · next 14 days" in popup(opened)
    shown = popup(opened)
    assert f"Risk\n{round(expected * 100)}%\nHow sure\n" in shown
    assert "\nClass\nmedium" in shown


def test_the_commune_summary_counts_parcels_and_hectares_per_class(
    opened: OpenedPage, table: gpd.GeoDataFrame
) -> None:
    cells = opened.page.eval_on_selector_all(
        "#summary tbody td[data-class]",
        "cells => cells.map(c => [c.parentElement.dataset.commune, c.dataset.class, "
        "Number(c.dataset.count), Number(c.dataset.ha)])",
    )
    seen = {(commune, cls): (count, ha) for commune, cls, count, ha in cells}
    grouped = table.groupby(["commune", "class_bph_h7"])["area_ha"].agg(["count", "sum"])
    for commune in table["commune"].unique():
        for cls in CLASS_VI:
            count, ha = grouped.loc[(commune, cls)] if (commune, cls) in grouped.index else (0, 0.0)
            assert seen[(commune, cls)] == (count, pytest.approx(ha, abs=0.006))
    total = opened.page.locator("#summary tfoot td[data-class=high]").get_attribute("data-count")
    assert total == str((table["class_bph_h7"] == "high").sum())


def test_vietnamese_changes_every_label(opened: OpenedPage) -> None:
    opened.page.get_by_role("button", name="VI").click()
    panel = opened.page.locator("#panel").inner_text()
    for label in (
        "Tổng hợp theo xã",
        "Mức nguy cơ",
        "rầy nâu",
        "đạo ôn",
        "7 ngày tới",
        *CLASS_VI.values(),
    ):
        assert label in panel
    assert "Summary by commune" not in panel
    click_parcel(opened, KNOWN)
    text = popup(opened)
    assert f"Thửa ruộng {KNOWN}" in text
    assert "rầy nâu · 7 ngày tới" in text
    assert "Nguy cơ\n73%" in text
    assert "Mức nguy cơ\ncao" in text
    assert "Diện tích\n1,25 ha" in text
    assert "rầy nâu trong điều tra gần đây (12 con/m²)\nđêm ấm" in text
    assert opened.page.evaluate("document.documentElement.lang") == "vi"
    opened.page.get_by_role("button", name="EN").click()
    assert "Class\nhigh" in popup(opened)


def test_a_vietnamese_browser_starts_in_vietnamese(browser: Browser, map_html: Path) -> None:
    opened = open_page(browser, map_html, locale="vi-VN")
    try:
        assert opened.api("state().lang") == "vi"
        assert "Đang hiển thị 36/36 thửa" in opened.page.locator("#shown-count").inner_text()
    finally:
        opened.page.context.close()
    assert opened.console == opened.errors == []


def test_the_basemap_is_opt_in_and_says_when_it_cannot_load(
    browser: Browser, map_html: Path
) -> None:
    opened = open_page(browser, map_html)
    try:
        assert not opened.page.locator("#basemap").is_checked()
        assert opened.page.locator("#basemap-status").is_hidden()
        opened.page.locator("#basemap").check()  # offline: every tile fails
        opened.page.locator("#basemap-status").wait_for(state="visible")
        assert "could not be loaded" in opened.page.locator("#basemap-status").inner_text()
    finally:
        opened.page.context.close()
    tiles = [url for url in opened.requests if url.startswith("https://tile.openstreetmap.org/")]
    assert tiles, "ticking the box must ask for tiles"
    assert opened.errors == []


def test_a_realistic_map_looks_right(browser: Browser, tmp_path: Path) -> None:
    table = delta_risk_map()
    risk_map = write_geojson_rfc7946(table, tmp_path / "risk_map.geojson")
    html = write_map_page(risk_map, tmp_path / "map.html", pests=PESTS, horizons=HORIZONS)
    opened = open_page(browser, html)
    try:
        assert opened.api("drawnCount()") == len(table)
        high = table[table["class_bph_h7"] == "high"]  # its popup opens above the hotspot
        northmost = high.loc[high.geometry.centroid.y.idxmax(), "parcel_id"]
        opened.api(f"openPopup({json.dumps(northmost)})")
        expect(opened.page.locator(".leaflet-popup")).to_be_in_viewport(ratio=1)
        out = SCREENSHOT if os.environ.get("PESTCAST_UPDATE_SCREENSHOT") else tmp_path / "map.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        png = opened.page.screenshot(path=out, animations="disabled")
    finally:
        opened.page.context.close()
    assert opened.console == opened.errors == []
    assert 20_000 < len(png) < 300_000


# --- arguments and data, no browser ----------------------------------------------------------


def test_the_page_is_one_self_contained_file(map_html: Path, table: gpd.GeoDataFrame) -> None:
    page = map_html.read_text(encoding="utf-8")
    assert "sourceMappingURL" not in page
    assert "<link" not in page
    assert "<img" not in page  # the markup in NASTY_REASON is escaped inside the data
    assert "Thới Lai" in page  # Vietnamese stays UTF-8 text
    assert page.count("AG-000") >= len(table)


def test_an_empty_map_still_opens(browser: Browser, tmp_path: Path) -> None:
    risk_map = tmp_path / "risk_map.geojson"
    risk_map.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    html = write_map_page(risk_map, tmp_path / "map.html", pests=PESTS, horizons=HORIZONS)
    opened = open_page(browser, html)
    try:
        assert opened.api("drawnCount()") == 0
        assert opened.page.locator("#shown-count").inner_text() == "Showing 0 of 0 parcels"
    finally:
        opened.page.context.close()
    assert opened.console == opened.errors == []


def test_the_risk_map_and_choices_are_checked(tmp_path: Path, table: gpd.GeoDataFrame) -> None:
    risk_map = write_geojson_rfc7946(table, tmp_path / "risk_map.geojson")
    out = tmp_path / "map.html"
    with pytest.raises(DataError, match=r"parcel AG-00000 .* class_bph_h30"):
        write_map_page(risk_map, out, pests=["bph"], horizons=[30])
    twice = write_geojson_rfc7946(pd.concat([table, table.iloc[:1]]), tmp_path / "twice.geojson")
    with pytest.raises(DataError, match=r"feature 36 .* repeated parcel_id \(AG-00000\)"):
        write_map_page(twice, out, pests=["bph"], horizons=[7])
    with pytest.raises(ConfigError, match="pests"):
        write_map_page(risk_map, out, pests=[], horizons=[7])
    with pytest.raises(ConfigError, match="horizons"):
        write_map_page(risk_map, out, pests=["bph"], horizons=[0])
    (tmp_path / "broken.geojson").write_text('{"type": "Feature', encoding="utf-8")
    with pytest.raises(DataError, match=r"broken\.geojson is not JSON"):
        write_map_page(tmp_path / "broken.geojson", out, pests=["bph"], horizons=[7])
    (tmp_path / "list.geojson").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(DataError, match="not a GeoJSON FeatureCollection"):
        write_map_page(tmp_path / "list.geojson", out, pests=["bph"], horizons=[7])
    with pytest.raises(DataError, match="cannot read"):
        write_map_page(tmp_path / "missing.geojson", out, pests=["bph"], horizons=[7])
    assert not out.exists()
