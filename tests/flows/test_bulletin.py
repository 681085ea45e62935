"""The weekly bulletin: hand-computable hectares, the XLSX layout, the HTML and a real PDF.

Five rectangular parcels of known area in two districts (1, 2, 0.5, 3 and 1 ha). This week's
brown planthopper classes (7 days) are high / medium / low / high / no_data, so every sum below
can be checked by hand. The PDF test prints in Debian's headless Chromium. The README's picture
of a demo bulletin page is drawn by ``bench/docs_images.py``.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from openpyxl import load_workbook

from pestcast.core.errors import DataError, PublishError
from pestcast.flows.bulletin import (
    CHROMIUM,
    COLUMNS,
    bulletin_table,
    forecast_hectares,
    observed_hectares,
    parcel_areas,
    render_pdf,
    top_reasons,
    write_bulletin,
)
from pestcast.flows.export import CLASS_COLOURS
from pestcast.flows.publish import write_geojson_rfc7946

ROOT = Path(__file__).resolve().parents[2]
UTM = "EPSG:32648"
TODAY = dt.date(2024, 6, 10)
# parcel id → (district, commune, width m, height m): 1, 2, 0.5, 3 and 1 ha
PARCELS = {
    "AG-1": ("Thoại Sơn", "Định Thành", 100, 100),
    "AG-2": ("Thoại Sơn", "Vĩnh Trạch", 200, 100),
    "AG-3": ("Thoại Sơn", "Vĩnh Trạch", 100, 50),
    "AG-4": ("Châu Thành", "Vĩnh Hanh", 300, 100),
    "AG-5": ("Châu Thành", "Vĩnh Hanh", 100, 100),
}
THIS_WEEK = ["high", "medium", "low", "high", "no_data"]
VI = {
    "high": "cao",
    "medium": "trung bình",
    "low": "thấp",
    "no_data": "chưa đủ dữ liệu",
    "not_in_crop": "không có lúa",
}
UNSCORED = ("no_data", "not_in_crop")
# rows in bulletin order: communes in Vietnamese order within each district, then the subtotal
ORDER = [
    ("Châu Thành", "Vĩnh Hanh"),
    ("Châu Thành", ""),
    ("Thoại Sơn", "Định Thành"),
    ("Thoại Sơn", "Vĩnh Trạch"),
    ("Thoại Sơn", ""),
    ("", ""),
]


def parcels() -> gpd.GeoDataFrame:
    boxes = [
        shapely.box(500_000 + 400 * i, 1_150_000, 500_000 + 400 * i + w, 1_150_000 + h)
        for i, (_, _, w, h) in enumerate(PARCELS.values())
    ]
    return gpd.GeoDataFrame(
        {
            "parcel_id": list(PARCELS),
            "district": [d for d, _, _, _ in PARCELS.values()],
            "commune": [c for _, c, _, _ in PARCELS.values()],
        },
        geometry=boxes,
        crs=UTM,
    )


def risk_map(
    path: Path, day: dt.date, bph_h7: list[str], *, reasons: list[str] | None = None
) -> Path:
    """A published-style risk map: bph at 7 days as given, everything else low."""
    table = parcels()
    table["area_ha"] = (table.geometry.area / 10_000).round(2)
    table["forecast_date"] = day.isoformat()
    table["model_version"] = "test-model"
    for pest in ("bph", "blast"):
        for horizon in (7, 14):
            key = f"{pest}_h{horizon}"
            classes = bph_h7 if key == "bph_h7" else ["low"] * len(table)
            table[f"risk_{key}"] = [None if c in UNSCORED else 0.1 for c in classes]
            table[f"class_{key}"] = classes
            table[f"class_vi_{key}"] = [VI[c] for c in classes]
            english = reasons if reasons and key == "bph_h7" else [""] * len(table)
            table[f"reasons_{key}"] = english
            table[f"reasons_vi_{key}"] = [f"VI {text}" if text else "" for text in english]
    return write_geojson_rfc7946(table.to_crs("EPSG:4326"), path)


def surveys() -> pd.DataFrame:
    rows = [
        ("AG-1", "2024-06-08", "2024-06-09", "bph", "light"),
        ("AG-2", "2024-06-05", "2024-06-06", "bph", "none"),
        ("AG-2", "2024-06-09", "2024-06-11", "bph", "heavy"),  # reported after the date
        ("AG-4", "2024-06-04", "2024-06-05", "bph", "medium"),  # first day of the week
        ("AG-4", "2024-06-10", "2024-06-10", "bph", "heavy"),  # the latest survey counts
        ("AG-5", "2024-06-03", "2024-06-04", "bph", "light"),  # before the week
        ("AG-3", "2024-06-07", "2024-06-08", "blast", "medium"),
    ]
    table = pd.DataFrame(
        rows, columns=["parcel_id", "survey_date", "report_date", "pest", "severity"]
    )
    for name in ("survey_date", "report_date"):
        table[name] = pd.to_datetime(table[name])
    return table


@pytest.fixture(scope="module")
def maps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("maps")
    return {
        "now": risk_map(folder / "now.geojson", TODAY, THIS_WEEK),
        "last": risk_map(
            folder / "last.geojson", dt.date(2024, 6, 3), ["low", "low", "medium", "high", "low"]
        ),
        "2023": risk_map(folder / "2023.geojson", dt.date(2023, 6, 10), ["high"] * 5),
        "2022": risk_map(folder / "2022.geojson", dt.date(2022, 6, 10), ["low"] * 5),
    }


@pytest.fixture(scope="module")
def bulletin(maps: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_bulletin(
        maps["now"],
        tmp_path_factory.mktemp("bulletin"),
        surveys=surveys(),
        parcels=parcels(),
        previous=[maps["last"]],
        same_week_earlier=[maps["2023"], maps["2022"]],
        region_name="An Giang (thử nghiệm)",
    )


def read_csv(path: Path) -> pd.DataFrame:
    table = pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False)
    table.columns = ["district", "commune", *(c.name for c in COLUMNS)]
    return table


# --- tables ------------------------------------------------------------------------------------


def test_hectares_sum_by_commune_district_and_total(bulletin: list[Path]) -> None:
    table = read_csv(bulletin[0])
    assert list(zip(table["district"], table["commune"], strict=True)) == [
        ("Châu Thành", "Vĩnh Hanh"),
        ("Châu Thành", "Cộng huyện"),
        ("Thoại Sơn", "Định Thành"),
        ("Thoại Sơn", "Vĩnh Trạch"),
        ("Thoại Sơn", "Cộng huyện"),
        ("Tổng cộng", ""),
    ]
    forecast = table[["risk_high_ha", "risk_medium_ha", "risk_low_ha", "risk_no_data_ha"]]
    assert forecast.to_numpy().tolist() == [
        [3.0, 0.0, 0.0, 1.0],
        [3.0, 0.0, 0.0, 1.0],
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 2.0, 0.5, 0.0],
        [1.0, 2.0, 0.5, 0.0],
        [4.0, 2.0, 0.5, 1.0],
    ]


def test_observed_hectares_by_severity_count_each_parcels_latest_reported_survey(
    bulletin: list[Path],
) -> None:
    observed = read_csv(bulletin[0])[[c.name for c in COLUMNS[:5]]]
    # surveyed, infested, light, medium, heavy
    assert observed.to_numpy().tolist() == [
        [3.0, 3.0, 0.0, 0.0, 3.0],
        [3.0, 3.0, 0.0, 0.0, 3.0],
        [1.0, 1.0, 1.0, 0.0, 0.0],
        [2.0, 0.0, 0.0, 0.0, 0.0],
        [3.0, 1.0, 1.0, 0.0, 0.0],
        [6.0, 4.0, 1.0, 0.0, 3.0],
    ]
    blast = read_csv(bulletin[1])
    assert blast["infested_medium_ha"].tolist() == [0.0, 0.0, 0.0, 0.5, 0.5, 0.5]


def test_changes_against_last_week_and_the_mean_of_earlier_seasons(bulletin: list[Path]) -> None:
    table = read_csv(bulletin[0])
    # high + medium: this week 3 / 1 / 2 ha; last week 3 / 0 / 0.5; 2023 4 / 1 / 2.5; 2022 none
    assert table["change_vs_last_week_ha"].tolist() == [0.0, 0.0, 1.0, 1.5, 2.5, 2.5]
    assert table["change_vs_same_week_ha"].tolist() == [1.0, 1.0, 0.5, 0.75, 1.25, 2.25]


def test_changes_are_blank_not_zero_without_earlier_maps(
    maps: dict[str, Path], tmp_path: Path
) -> None:
    files = write_bulletin(
        maps["now"], tmp_path, surveys=surveys(), parcels=parcels(), region_name="An Giang"
    )
    text = files[0].read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")  # UTF-8 byte-order mark for Excel
    rows = text.decode("utf-8-sig").splitlines()
    assert all(row.endswith(",,") for row in rows[1:])
    table = read_csv(files[0])
    assert (table["change_vs_last_week_ha"] == "").all()
    page = (tmp_path / "bulletin.html").read_text(encoding="utf-8")
    assert "Chưa có bản đồ tuần trước để so sánh" in page


def test_pure_table_keeps_a_commune_missing_from_last_week_blank() -> None:
    now = pd.DataFrame(
        {"district": ["H"], "commune": ["X"], "area_ha": [2.0], "class_bph_h7": ["high"]}
    )
    forecast = forecast_hectares(now, pest="bph", horizon=7)
    last = forecast_hectares(now.assign(commune="Y"), pest="bph", horizon=7)
    observed = observed_hectares(
        surveys().iloc[:0], parcel_areas(parcels()), pest="bph", forecast_date=TODAY
    )
    table = bulletin_table(observed, forecast, last_week=last)
    assert table["level"].tolist() == ["commune", "district", "province"]
    changes = table["change_vs_last_week_ha"]
    assert np.isnan(changes[("H", "X")])  # X had no parcel last week: blank, not +2
    assert changes[("H", "")] == changes[("", "")] == 0.0
    assert table["surveyed_ha"].tolist() == [0.0, 0.0, 0.0]


def test_earlier_maps_must_be_dated_before_this_week(maps: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not before this week"):
        write_bulletin(
            maps["now"],
            tmp_path,
            surveys=surveys(),
            parcels=parcels(),
            previous=[maps["now"]],
            region_name="An Giang",
        )
    assert not list(tmp_path.iterdir())


def test_top_reasons_group_texts_differing_only_in_numbers(tmp_path: Path) -> None:
    reasons = [
        "crop about 38 days after sowing; dense canopy",
        "light trap peak",
        "crop about 43.5 days after sowing",
        "crop about 40 days after sowing",
        "",
    ]
    path = risk_map(tmp_path / "r.geojson", TODAY, ["high"] * 5, reasons=reasons)
    table = gpd.read_file(path)
    top = top_reasons(table, pest="bph", horizon=7)
    assert [(r.en, r.vi, r.parcels) for r in top] == [
        ("crop about 38–43.5 days after sowing", "VI crop about 38–43.5 days after sowing", 3),
        ("light trap peak", "VI light trap peak", 1),
    ]


def test_not_in_crop_area_has_its_own_column_and_is_neither_low_nor_no_data(
    tmp_path: Path,
) -> None:
    classes = ["high", "not_in_crop", "low", "no_data", "not_in_crop"]  # AG-2 2 ha, AG-5 1 ha
    now = risk_map(tmp_path / "now.geojson", TODAY, classes)
    files = write_bulletin(
        now, tmp_path, surveys=surveys(), parcels=parcels(), region_name="An Giang"
    )

    table = read_csv(files[0])
    forecast = [f"risk_{c}_ha" for c in VI]
    assert table[forecast].to_numpy().tolist() == [
        [0.0, 0.0, 0.0, 3.0, 1.0],  # Vĩnh Hanh: AG-4 no data, AG-5 not in crop
        [0.0, 0.0, 0.0, 3.0, 1.0],
        [1.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.5, 0.0, 2.0],  # Vĩnh Trạch: AG-3 low, AG-2 not in crop
        [1.0, 0.0, 0.5, 0.0, 2.0],
        [1.0, 0.0, 0.5, 3.0, 3.0],
    ]
    header = files[0].read_text(encoding="utf-8-sig").splitlines()[0]
    assert "Không có lúa / Forecast area by risk (ha): Not in crop" in header
    page = files[3].read_text(encoding="utf-8")
    bph = page[: page.index('id="pest-blast"')]
    assert (
        "3,0 ha không có lúa: ảnh vệ tinh không thấy lúa (ruộng bỏ trống hoặc ngập nước giữa "
        "hai vụ), nên không dự báo nguy cơ." in bph
    )
    assert "3.0 ha not in crop: no rice crop on the satellite images" in bph
    assert '<th class="risk-not_in_crop">Không có lúa<span class="en">Not in crop</span>' in bph
    legend = bph[bph.index('<ul class="legend">') : bph.index("</ul>")]
    assert re.search(
        r"Không có lúa <span class=\"en\">not in crop</span> "
        r"<span class=\"count\">3,0 ha</span>",
        legend,
    )
    assert re.search(r"Chưa đủ dữ liệu .*<span class=\"count\">3,0 ha</span>", legend)
    assert f'<path fill="{CLASS_COLOURS["not_in_crop"]}" d="M' in bph  # drawn on the map
    assert "không tính vào nguy cơ thấp hay chưa đủ dữ liệu" in page  # the notes say why


# --- files -------------------------------------------------------------------------------------


def test_xlsx_has_a_sheet_per_pest_laid_out_like_the_report(bulletin: list[Path]) -> None:
    book = load_workbook(bulletin[2])
    assert book.sheetnames == ["Rầy nâu (bph)", "Đạo ôn (blast)", "Ghi chú – Notes"]
    sheet = book["Rầy nâu (bph)"]
    assert str(sheet["A1"].value).startswith("Rầy nâu / brown planthopper – An Giang")
    assert (sheet["A2"].value, sheet["B2"].value, sheet["A4"].value) == ("Huyện", "Xã", "District")
    assert sheet["D2"].value == "Diện tích nhiễm (ha) / Infested area (ha)"
    assert (sheet["D3"].value, sheet["G3"].value, sheet["G4"].value) == ("Tổng số", "Nặng", "Heavy")
    merged = {str(r) for r in sheet.merged_cells.ranges}
    assert {"A2:A3", "B2:B3", "D2:G2", "H2:L2", "M2:N2"} <= merged
    assert (sheet["K3"].value, sheet["L3"].value) == ("Chưa đủ dữ liệu", "Không có lúa")
    assert (sheet["K4"].value, sheet["L4"].value) == ("Not enough data", "Not in crop")
    assert sheet.freeze_panes == "C5"
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=5)]
    assert rows[0] == ["Châu Thành", "Vĩnh Hanh", 3, 3, 0, 0, 3, 3, 0, 0, 1, 0, 0, 1]
    assert rows[-1] == ["Tổng cộng", None, 6, 4, 1, 0, 3, 4, 2, 0.5, 1, 0, 2.5, 2.25]
    assert sheet["A10"].font.b


def test_html_has_one_page_per_pest_in_vietnamese_first(bulletin: list[Path]) -> None:
    page = bulletin[3].read_text(encoding="utf-8")
    assert page.count('<section class="page"') == 2
    for text in (
        'lang="vi"',
        "Diện tích nhiễm (ha)",
        '<span class="en">Infested area (ha)</span>',
        "Tổng cộng",
        "Cộng huyện",
        "Rầy nâu",
        "Đạo ôn",
        "So với tuần trước (03/06/2024)",
        "tăng 2,5 ha",
    ):
        assert text in page, text
    assert page.count("<svg") == 2
    assert not re.search(r"<script|<link|<img|src=|url\(", page)  # nothing to fetch
    assert "ha không có lúa" not in page  # no parcel is out of crop: no such sentence


def test_the_pdf_prints_one_a4_page_per_pest_in_chromium(bulletin: list[Path]) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (Debian's chromium package)")
    pdf = render_pdf(bulletin[3], bulletin[3].with_name("bulletin.pdf"))
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page\b", data)) == 2
    boxes = re.findall(rb"/MediaBox\s*\[0 0 ([\d.]+) ([\d.]+)\]", data)
    assert [(round(float(w)), round(float(h))) for w, h in boxes] == [(595, 842)] * 2  # A4, pt


def test_a_missing_browser_says_to_run_make_browser(bulletin: list[Path], tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="make browser"):
        render_pdf(bulletin[3], tmp_path / "b.pdf", chromium=tmp_path / "no-chromium")
    assert not (tmp_path / "b.pdf").exists()
