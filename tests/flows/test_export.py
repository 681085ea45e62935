"""Warning exports read back with GDAL (pyogrio) and openpyxl, from a synthetic published map."""

from __future__ import annotations

import math
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import box

from pestcast.core.errors import ConfigError, DataError
from pestcast.flows.export import (
    CLASS_COLOURS,
    COLUMNS,
    SHAPEFILE_FIELDS,
    ExportSummary,
    export_warnings,
)
from pestcast.flows.publish import write_geojson_rfc7946

UTM = "EPSG:32648"
PESTS = {"bph": ("brown planthopper", "rầy nâu"), "blast": ("rice blast", "đạo ôn")}
HORIZONS = (7, 14)
CLASS_VI = {
    "high": "cao",
    "medium": "trung bình",
    "low": "thấp",
    "no_data": "chưa đủ dữ liệu",
    "not_in_crop": "không có lúa",
}
URGENCY = ("high", "medium", "low", "no_data", "not_in_crop")
FALLOW = (12, 13)
"""Parcels the imagery shows fallow or flooded off-season: not_in_crop at every pest and horizon."""
COMMUNES = {"Vĩnh Trạch": "Thoại Sơn", "Mỹ Hòa Hưng": "Long Xuyên", "Định Thành": "Thoại Sơn"}
LONG_REASON_VI = "; ".join(["độ ẩm không khí cao kéo dài nhiều ngày liên tiếp"] * 6)
FORMATS = ("gpkg", "geojson", "csv", "kml", "shp", "xlsx")
SUFFIX = {
    "gpkg": ".gpkg",
    "geojson": ".geojson",
    "csv": ".csv",
    "kml": ".kml",
    "shp": ".zip",
    "xlsx": ".xlsx",
}
NUMBERS = ("area_ha", "horizon_days", "risk", "risk_low", "risk_high")
TEXT = [c for c in COLUMNS if c not in NUMBERS]
KML = "{http://www.opengis.net/kml/2.2}"
OUTLINES = {
    "high": "#7F0000",
    "medium": "#8C4500",
    "low": "#5B7F3A",
    "no_data": "#555555",
    "not_in_crop": "#C9BC9C",
}


def kml_colour(rgb: str) -> str:
    """#RRGGBB as KML's bbggrr (KML colours are aabbggrr)."""
    return (rgb[5:7] + rgb[3:5] + rgb[1:3]).lower()


def classify(risk: float | None, i: int) -> str:
    if i in FALLOW:
        return "not_in_crop"
    if risk is None:
        return "no_data"
    return "low" if risk <= 0.2 else "medium" if risk <= 0.5 else "high"


def parcel_centres() -> list[tuple[float, float]]:
    """20 parcel centres (UTM metres), 150 m apart, around lon 105.2, lat 10.4."""
    x0, y0 = Transformer.from_crs("EPSG:4326", UTM, always_xy=True).transform(105.2, 10.4)
    return [(x0 + 150 * (i % 4), y0 + 150 * (i // 4)) for i in range(20)]


def risk_of(rng: np.random.Generator, i: int, pest: str, horizon: int) -> float | None:
    if (i + horizon) % 6 == 0 or (pest == "blast" and i == 1):
        return None
    if i in (2, 3):  # a tie between two parcels, and across pests and horizons of one parcel
        return 0.7
    return round(float(rng.uniform(0.01, 0.99)), 4)


def parcel_record(rng: np.random.Generator, i: int, centre: tuple[float, float]) -> dict[str, Any]:
    commune = list(COMMUNES)[i % 3]
    record: dict[str, Any] = {
        "parcel_id": f"AG-{i + 1:05d}",
        "commune": commune,
        "district": COMMUNES[commune],
        "area_ha": round(0.6 + 0.07 * i, 2),
        "forecast_date": "2024-07-01",
        "model_version": "20240630-4f2a9c",
        "last_clear_obs_date": None if i % 5 == 4 else "2024-06-27",
        "n_valid_px": None if i % 5 == 4 else 90 + i,
    }
    for pest in PESTS:
        for horizon in HORIZONS:
            key, risk = f"{pest}_h{horizon}", risk_of(rng, i, pest, horizon)
            risk = None if i in FALLOW else risk  # as the publisher: no risk out of crop
            known = risk is not None
            record[f"risk_{key}"] = risk
            record[f"risk_low_{key}"] = None if risk is None else round(risk / 2, 3)
            record[f"risk_high_{key}"] = None if risk is None else round((1 + risk) / 2, 3)
            record[f"class_{key}"] = classify(risk, i)
            record[f"class_vi_{key}"] = CLASS_VI[classify(risk, i)]
            record[f"reasons_{key}"] = f"{i} humid days in a row; NDVI 0.8{i % 10}" if known else ""
            vi = LONG_REASON_VI if i == 5 else f"{i} ngày ẩm liên tiếp; lúa xanh tốt"
            record[f"reasons_vi_{key}"] = vi if known else ""
    x, y = centre
    record["geometry"] = box(x - 50, y - 50, x + 50, y + 50)
    return record


@pytest.fixture(scope="module")
def source() -> gpd.GeoDataFrame:
    rng = np.random.default_rng(7)
    records = [parcel_record(rng, i, c) for i, c in enumerate(parcel_centres())]
    return gpd.GeoDataFrame(records, geometry="geometry", crs=UTM)


@pytest.fixture(scope="module")
def risk_map(source: gpd.GeoDataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("published")
    return write_geojson_rfc7946(source, folder / "risk_map.geojson")


@pytest.fixture(scope="module")
def expected(source: gpd.GeoDataFrame) -> pd.DataFrame:
    """The long, sorted table written independently of the module under test."""
    rows = []
    for record in source.drop(columns="geometry").to_dict("records"):
        for p, pest in enumerate(PESTS):
            for horizon in HORIZONS:
                key = f"{pest}_h{horizon}"
                risk = record[f"risk_{key}"]
                rows.append(
                    {
                        **{c: record[c] for c in COLUMNS if c in record},
                        "pest": pest,
                        "pest_name_en": PESTS[pest][0],
                        "pest_name_vi": PESTS[pest][1],
                        "horizon_days": horizon,
                        "risk": math.nan if risk is None else risk,
                        "risk_low": _number(record[f"risk_low_{key}"]),
                        "risk_high": _number(record[f"risk_high_{key}"]),
                        "risk_class": record[f"class_{key}"],
                        "risk_class_vi": record[f"class_vi_{key}"],
                        "reasons_en": record[f"reasons_{key}"],
                        "reasons_vi": record[f"reasons_vi_{key}"],
                        "_order": (
                            URGENCY.index(record[f"class_{key}"]),
                            -risk if risk is not None else math.inf,
                            record["parcel_id"],
                            p,
                            horizon,
                        ),
                    }
                )
    rows.sort(key=lambda row: row.pop("_order"))
    return comparable(pd.DataFrame(rows))


def _number(value: float | None) -> float:
    return math.nan if value is None else value


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    table = pd.DataFrame(frame[list(COLUMNS)]).reset_index(drop=True)
    for name in TEXT:
        table[name] = [v if isinstance(v, str) else "" for v in table[name]]
    for name in ("risk", "risk_low", "risk_high"):
        table[name] = pd.to_numeric(table[name].replace("", np.nan)).astype(float)
    table["area_ha"] = pd.to_numeric(table["area_ha"]).astype(float)
    table["horizon_days"] = pd.to_numeric(table["horizon_days"]).astype(int)
    return table.astype(dict.fromkeys(TEXT, object))


# --- reading each format back ------------------------------------------------------------------


def read_xlsx(path: Path) -> pd.DataFrame:
    sheet = openpyxl.load_workbook(path)["Warnings – Cảnh báo"]
    values = list(sheet.iter_rows(min_row=3, values_only=True))
    return pd.DataFrame(values, columns=[*COLUMNS, "lat", "lon"])


def read_kml(path: Path) -> gpd.GeoDataFrame:
    layers = [name for name, _ in pyogrio.list_layers(path)]
    parts = [pyogrio.read_dataframe(path, layer=name) for name in layers]
    return pd.concat(parts, ignore_index=True)


def read_shp(path: Path) -> gpd.GeoDataFrame:
    frame = pyogrio.read_dataframe(f"/vsizip/{path}/warnings.shp")
    return frame.rename(columns={short: long for long, short in SHAPEFILE_FIELDS.items()})


READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "gpkg": lambda path: pyogrio.read_dataframe(path, layer="warnings"),
    "geojson": lambda path: pyogrio.read_dataframe(path, DATE_AS_STRING="YES"),
    "csv": pyogrio.read_dataframe,
    "kml": read_kml,
    "shp": read_shp,
    "xlsx": read_xlsx,
}


def export(
    risk_map: Path, folder: Path, fmt: str, **filters: Any
) -> tuple[ExportSummary, pd.DataFrame]:
    summary = export_warnings(risk_map, folder / f"warnings{SUFFIX[fmt]}", fmt=fmt, **filters)
    return summary, READERS[fmt](summary.path)


# --- every format ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_row_comes_back_in_order_with_vietnamese_text(
    fmt: str, risk_map: Path, expected: pd.DataFrame, tmp_path: Path
) -> None:
    summary, back = export(risk_map, tmp_path, fmt)

    assert (summary.rows, summary.parcels, summary.format) == (80, 20, fmt)
    assert sorted(p.name for p in tmp_path.iterdir()) == [summary.path.name]  # no temporaries
    got, want = comparable(back), expected
    if fmt == "kml":  # one folder per pest × horizon, each in the export's order
        keys = ["pest", "horizon_days"]
        want = want.sort_values(keys, kind="stable", key=lambda c: c.map(str))
        got = got.sort_values(keys, kind="stable", key=lambda c: c.map(str))
    if fmt == "shp":  # dBASE holds 254 bytes of text; the long reason is cut (tested below)
        long = want["reasons_vi"].str.len() > 200
        got.loc[long.to_numpy(), "reasons_vi"] = want.loc[long, "reasons_vi"].to_numpy()
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))
    assert "Vĩnh Trạch" in set(got["commune"])
    assert "trung bình" in set(got["risk_class_vi"])


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "kml", "shp"])
def test_geometries_are_the_parcels_in_wgs84(
    fmt: str, risk_map: Path, source: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    _, back = export(risk_map, tmp_path, fmt, pests=["bph"], horizons=[7])
    parcels = source.to_crs("EPSG:4326").set_index("parcel_id").geometry
    for parcel_id, geometry in zip(back["parcel_id"], back.geometry, strict=True):
        assert shapely.hausdorff_distance(shapely.force_2d(geometry), parcels[parcel_id]) < 2e-6


def test_csv_has_a_bom_and_centroids_with_six_decimals(risk_map: Path, tmp_path: Path) -> None:
    summary, back = export(risk_map, tmp_path, "csv")

    raw = summary.path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfparcel_id,commune,")
    assert "Vĩnh Trạch".encode() in raw
    assert b"\r\n" in raw
    to_wgs84 = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    centres = {f"AG-{i + 1:05d}": to_wgs84.transform(*c) for i, c in enumerate(parcel_centres())}
    for parcel_id, lat, lon in zip(back["parcel_id"], back["lat"], back["lon"], strict=True):
        assert len(lat.split(".")[1]) == len(lon.split(".")[1]) == 6
        assert abs(float(lon) - centres[parcel_id][0]) < 2e-6
        assert abs(float(lat) - centres[parcel_id][1]) < 2e-6
    assert back.loc[back["risk_class"].isin(["no_data", "not_in_crop"]), "risk"].eq("").all()


def test_kml_folders_placemarks_and_class_styles(risk_map: Path, tmp_path: Path) -> None:
    summary, _ = export(risk_map, tmp_path, "kml")
    root = ET.parse(summary.path).getroot()

    document = root.find(f"{KML}Document")
    assert document is not None
    assert document.findtext(f".//{KML}listItemType") == "radioFolder"
    folders = document.findall(f"{KML}Folder")
    assert [f.findtext(f"{KML}name") for f in folders] == [
        "Brown planthopper / Rầy nâu – 7 days / 7 ngày",
        "Brown planthopper / Rầy nâu – 14 days / 14 ngày",
        "Rice blast / Đạo ôn – 7 days / 7 ngày",
        "Rice blast / Đạo ôn – 14 days / 14 ngày",
    ]
    seen = set()
    for placemark in root.iter(f"{KML}Placemark"):
        data = {d.get("name"): d.text for d in placemark.iter(f"{KML}SimpleData")}
        risk_class = data["risk_class"] or ""
        assert placemark.findtext(f"{KML}name") == data["parcel_id"]
        fill = placemark.findtext(f".//{KML}PolyStyle/{KML}color")
        assert fill == "99" + kml_colour(CLASS_COLOURS[risk_class])  # 60 % opaque
        outline = placemark.findtext(f".//{KML}LineStyle/{KML}color")
        assert outline == "ff" + kml_colour(OUTLINES[risk_class])
        description = placemark.findtext(f"{KML}description") or ""
        assert CLASS_VI[risk_class] in description
        assert str(data["pest_name_vi"]) in description
        fallow = risk_class == "not_in_crop"
        assert (
            "Risk / Nguy cơ: not forecast / không dự báo · not in crop" in description
        ) == fallow
        assert ("ảnh vệ tinh không thấy lúa" in description) == fallow
        seen.add(risk_class)
    assert seen == set(CLASS_COLOURS)
    info = pyogrio.read_info(summary.path, layer=0)
    assert dict(zip(info["fields"], info["dtypes"], strict=True))["horizon_days"] == "int32"


def test_shapefile_zip_holds_utf8_parts_and_cuts_long_text(risk_map: Path, tmp_path: Path) -> None:
    summary, back = export(risk_map, tmp_path, "shp")

    info = pyogrio.read_info(f"/vsizip/{summary.path}/warnings.shp")
    assert info["encoding"] == "UTF-8"
    assert info["crs"] == "EPSG:4326"
    assert list(info["fields"]) == list(SHAPEFILE_FIELDS.values())
    assert all(len(name) <= 10 for name in info["fields"])
    names = sorted(zipfile.ZipFile(summary.path).namelist())
    assert names == [f"warnings.{s}" for s in ("cpg", "dbf", "prj", "shp", "shx")]
    cut = [v for v in back.loc[back["parcel_id"] == "AG-00006", "reasons_vi"] if isinstance(v, str)]
    assert len(cut) == 2  # two of its pest × horizon rows have data, two are no_data
    for value in cut:
        assert value.endswith("…")
        assert len(value.encode()) <= 254
        assert LONG_REASON_VI.startswith(value[:-1])


def test_xlsx_has_bilingual_frozen_headers_and_coloured_classes(
    risk_map: Path, tmp_path: Path
) -> None:
    summary, back = export(risk_map, tmp_path, "xlsx")
    book = openpyxl.load_workbook(summary.path)
    sheet = book["Warnings – Cảnh báo"]

    assert book.sheetnames == ["Warnings – Cảnh báo", "About – Thông tin"]
    headers = [[c.value for c in row] for row in sheet.iter_rows(max_row=2)]
    assert headers[0][:2] == ["Parcel", "Commune"]
    assert headers[1][:2] == ["Mã thửa", "Xã"]
    assert headers[0][9:14] == [
        "Risk (0–1)",
        "Came true, at least",
        "Came true, at most",
        "Risk class",
        "Risk class (Vietnamese)",
    ]
    assert headers[1][13] == "Mức nguy cơ"
    assert sheet.freeze_panes == "B3"
    assert sheet.auto_filter.ref == f"A2:T{80 + 2}"
    for row in sheet.iter_rows(min_row=3):
        colour = CLASS_COLOURS[str(row[12].value)][1:]
        assert row[12].fill.fgColor.rgb == row[13].fill.fgColor.rgb == f"FF{colour}"
    assert isinstance(back["risk"].dropna().iloc[0], float)
    about = [[c.value for c in row] for row in book["About – Thông tin"].iter_rows()]
    assert about[0][:3] == ["Risk map", "Bản đồ nguy cơ", str(risk_map)]
    assert about[4][:3] == ["Rows", "Số dòng", 80]
    legend = about[about.index(["Risk class", "Mức nguy cơ", "Colour / Màu", "Rows / Số dòng"]) :]
    assert legend[1][:3] == ["high", "cao", "red / đỏ"]
    assert legend[-1] == ["not_in_crop", "không có lúa", "light beige / be nhạt", 8]
    assert [row[3] for row in legend[1:]] == [(back["risk_class"] == c).sum() for c in URGENCY]


# --- filters -----------------------------------------------------------------------------------


def test_filters_match_case_and_unicode_form(
    risk_map: Path, expected: pd.DataFrame, tmp_path: Path
) -> None:
    commune = unicodedata.normalize("NFD", "VĨNH TRẠCH")
    summary, back = export(
        risk_map,
        tmp_path,
        "gpkg",
        pests=["BPH"],
        horizons=[14],
        min_class="Medium",
        communes=[commune],
        districts=[" thoại sơn "],
    )

    want = expected[
        (expected["pest"] == "bph")
        & (expected["horizon_days"] == 14)
        & expected["risk_class"].isin(["high", "medium"])
        & (expected["commune"] == "Vĩnh Trạch")
    ]
    assert 0 < summary.rows == len(want) < 20
    assert summary.parcels == want["parcel_id"].nunique()
    pd.testing.assert_frame_equal(comparable(back), want.reset_index(drop=True))


def test_min_class_drops_no_data_and_lower_classes(risk_map: Path, tmp_path: Path) -> None:
    _, low = export(risk_map, tmp_path, "csv", min_class="low")
    high = export_warnings(risk_map, tmp_path / "high.csv", fmt="csv", min_class="high")

    assert set(low["risk_class"]) == {"high", "medium", "low"}
    assert set(READERS["csv"](high.path)["risk_class"]) == {"high"}


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "kml"])
def test_not_in_crop_rows_come_last_in_their_own_beige_not_as_no_data(
    fmt: str, risk_map: Path, tmp_path: Path
) -> None:
    summary, back = export(risk_map, tmp_path, fmt)

    fallow = comparable(back)[back["risk_class"] == "not_in_crop"]
    assert sorted(set(fallow["parcel_id"])) == ["AG-00013", "AG-00014"]
    assert len(fallow) == 2 * len(PESTS) * len(HORIZONS)
    assert set(fallow["risk_class_vi"]) == {"không có lúa"}
    assert fallow[["risk", "risk_low", "risk_high"]].isna().all().all()
    assert set(fallow["reasons_en"]) == set(fallow["reasons_vi"]) == {""}
    if fmt != "kml":  # KML is read back per folder; the order within each is checked above
        assert (back.index[-len(fallow) :] == fallow.index).all()  # after no_data
        assert back.iloc[-len(fallow) - 1]["risk_class"] == "no_data"
    assert CLASS_COLOURS["not_in_crop"] not in (CLASS_COLOURS["no_data"], CLASS_COLOURS["low"])
    if fmt == "xlsx":
        sheet = openpyxl.load_workbook(summary.path)["Warnings – Cảnh báo"]
        fills = {str(row[12].value): row[12].fill.fgColor.rgb for row in sheet.iter_rows(min_row=3)}
        assert fills["not_in_crop"] == "FF" + CLASS_COLOURS["not_in_crop"][1:] != fills["no_data"]


def test_names_stored_in_nfd_match_input_in_nfc(source: gpd.GeoDataFrame, tmp_path: Path) -> None:
    decomposed = source.assign(
        commune=source["commune"].map(lambda s: unicodedata.normalize("NFD", s))
    )
    risk_map = write_geojson_rfc7946(decomposed, tmp_path / "risk_map.geojson")

    summary = export_warnings(risk_map, tmp_path / "w.csv", fmt="csv", communes=["Vĩnh Trạch"])
    assert summary.rows == 7 * 4


@pytest.mark.parametrize(
    ("filters", "listed"),
    [
        ({"pests": ["bph", "rice_bug"]}, "'rice_bug': the risk map .* has blast, bph$"),
        ({"horizons": [7, 21]}, "21 days: the risk map .* has 7, 14 days$"),
        ({"min_class": "severe"}, "'severe'; choose one of: high, medium, low$"),
        ({"min_class": "no_data"}, "choose one of: high, medium, low$"),
        ({"min_class": "not_in_crop"}, "choose one of: high, medium, low$"),
        ({"communes": ["Vinh Trach"]}, "has Mỹ Hòa Hưng, Vĩnh Trạch, Định Thành$"),
        ({"districts": ["Chau Thanh"]}, "has Long Xuyên, Thoại Sơn$"),
    ],
)
def test_unknown_filter_values_list_the_valid_ones(
    filters: dict[str, Any], listed: str, risk_map: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=listed):
        export_warnings(risk_map, tmp_path / "w.gpkg", fmt="gpkg", **filters)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_matching_rows_still_writes_a_file_gdal_opens(
    fmt: str, risk_map: Path, tmp_path: Path
) -> None:
    summary, back = export(
        risk_map, tmp_path, fmt, communes=["Vĩnh Trạch"], districts=["Long Xuyên"]
    )

    assert (summary.rows, summary.parcels) == (0, 0)
    assert back.empty
    if fmt in ("gpkg", "csv", "shp"):  # GeoJSON has no schema; KML and XLSX are checked below
        path = f"/vsizip/{summary.path}/warnings.shp" if fmt == "shp" else summary.path
        info = pyogrio.read_info(path)
        assert info["features"] == 0
        assert len(info["fields"]) == len(COLUMNS) + 2 * (fmt == "csv")
    if fmt == "kml":
        assert len(pyogrio.list_layers(summary.path)) == 1
    if fmt == "xlsx":
        assert openpyxl.load_workbook(summary.path).worksheets[0].max_row == 2


# --- refusals ----------------------------------------------------------------------------------


def test_an_existing_file_is_replaced_only_with_overwrite(risk_map: Path, tmp_path: Path) -> None:
    out = tmp_path / "w.csv"
    out.write_text("keep me")

    with pytest.raises(ConfigError, match="already exists; pass --overwrite"):
        export_warnings(risk_map, out, fmt="csv")
    assert out.read_text() == "keep me"
    export_warnings(risk_map, out, fmt="csv", overwrite=True)
    assert len(READERS["csv"](out)) == 80


@pytest.mark.parametrize(
    ("name", "fmt", "message"),
    [
        (
            "w.csv",
            "kml",
            "w.csv has .csv, which does not fit the kml format; name it w.kml or pass --format csv",
        ),
        ("w.shp", "shp", "a shapefile export is one .zip archive"),
        ("w", "gpkg", "w has no suffix"),
        (
            "w.pdf",
            "pdf",
            "unknown export format 'pdf'; choose one of: gpkg, geojson, csv, kml, shp, xlsx",
        ),
    ],
)
def test_suffix_must_fit_the_format(
    name: str, fmt: str, message: str, risk_map: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        export_warnings(risk_map, tmp_path / name, fmt=fmt)


def test_exporting_onto_the_risk_map_is_refused(risk_map: Path) -> None:
    with pytest.raises(ConfigError, match="is the risk map being exported"):
        export_warnings(risk_map, risk_map, fmt="geojson", overwrite=True)


def test_a_missing_or_broken_risk_map_says_to_run_forecast(
    source: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "risk_map.geojson"
    with pytest.raises(DataError, match=f"{missing} does not exist; run `pestcast forecast`"):
        export_warnings(missing, tmp_path / "w.csv", fmt="csv")

    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureColl')
    with pytest.raises(DataError, match=f"cannot read the risk map {broken}.*pestcast forecast"):
        export_warnings(broken, tmp_path / "w.csv", fmt="csv")

    plain = write_geojson_rfc7946(source[["parcel_id", "geometry"]], tmp_path / "parcels.geojson")
    with pytest.raises(DataError, match="has no risk_<pest>_h<days> property, so it is not"):
        export_warnings(plain, tmp_path / "w.csv", fmt="csv")
    empty = write_geojson_rfc7946(source.iloc[:0], tmp_path / "empty.geojson")
    with pytest.raises(DataError, match="holds no parcels; run `pestcast forecast`"):
        export_warnings(empty, tmp_path / "w.csv", fmt="csv")

    incomplete = source.drop(columns=["reasons_vi_blast_h14", "district"])
    partial = write_geojson_rfc7946(incomplete, tmp_path / "partial.geojson")
    with pytest.raises(DataError, match="lacks district, reasons_vi_blast_h14, so it is not"):
        export_warnings(partial, tmp_path / "w.csv", fmt="csv")
    assert not (tmp_path / "w.csv").exists()


def test_an_unknown_class_in_the_map_names_the_parcel(
    source: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    odd = source.copy()
    odd.loc[3, "class_blast_h7"] = "severe"
    risk_map = write_geojson_rfc7946(odd, tmp_path / "risk_map.geojson")

    with pytest.raises(DataError, match="parcel AG-00004 has class_blast_h7 = 'severe'"):
        export_warnings(risk_map, tmp_path / "w.csv", fmt="csv")
