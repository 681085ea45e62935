"""Bad weather, survey and parcel files: each is refused with a message naming the file, column,
row count and first offending value, and no file under ``tmp_path`` changes."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings, strategies as st

from pestcast.core.errors import DataError, ParcelError, PestcastError, SourceError
from pestcast.features.surveys import SURVEY_COLUMNS
from pestcast.features.weather import WEATHER_COLUMNS
from pestcast.flows.tables import read_parcels, read_surveys, read_weather
from tests.bad_inputs import folder_hashes

AS_OF = dt.date(2025, 1, 1)
PARCELS = ["AG-1", "AG-2", "AG-3"]


def _weather() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "commune": ["Vọng Thê", "Vọng Thê", "Óc Eo"],
            "date": ["2024-06-01", "2024-06-02", "2024-06-01"],
            "tmin_c": [24.5, 25.0, 24.0],
            "tmax_c": [32.0, 33.5, 31.0],
            "rh_mean_pct": [82.0, 85.0, 80.0],
            "rh_max_pct": [96.0, 98.0, 95.0],
            "rain_mm": [0.0, 12.5, 3.0],
        }
    )


def _surveys() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "parcel_id": PARCELS,
            "survey_date": ["2024-06-03", "2024-06-03", "2024-06-04"],
            "report_date": ["2024-06-05", "2024-06-05", "2024-06-06"],
            "pest": ["bph", "blast", "bph"],
            "severity": ["light", "none", "heavy"],
            "density_per_m2": [350.0, 0.0, 2100.0],
            "incidence_pct": [5.0, 0.0, 40.0],
        }
    )


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def _changed(frame: pd.DataFrame, changes: dict[str, dict[int, Any]]) -> pd.DataFrame:
    frame = frame.astype(object)
    for column, rows in changes.items():
        for row, value in rows.items():
            frame.loc[row, column] = value
    return frame


def _refused(path: Path, read: Callable[[], object], error: type[Exception], fragment: str) -> None:
    before = folder_hashes(path.parent)
    with pytest.raises(error) as raised:
        read()
    assert isinstance(raised.value, PestcastError)
    message = str(raised.value)
    assert re.search(fragment, message), message
    assert str(path.name) in message or str(path.parent.name) in message, message
    assert folder_hashes(path.parent) == before


# --- weather ---------------------------------------------------------------------------------

W = ".csv"
WEATHER_CASES = [
    pytest.param({"tmax_c": {1: 90.0}}, W, r"column tmax_c: 1 of 3 rows wrong, first at line 3: "
                 r"90\.0 is outside -10…50 °C; it looks like °F \(90 °F = 32\.2 °C\)",
                 id="tmax-in-fahrenheit"),
    pytest.param({"tmin_c": {0: 297.1}}, ".parquet", r"tmin_c.*row 1: 297\.1.*kelvin",
                 id="tmin-in-kelvin"),
    pytest.param({"tmin_c": {2: -25.0}}, W, r"tmin_c.*-25\.0 is outside -10…50 °C",
                 id="tmin-below-minus-10"),
    pytest.param({"rain_mm": {1: -0.5}}, W, r"rain_mm: 1 of 3.*-0\.5 is outside 0…500 mm",
                 id="negative-rain"),
    pytest.param({"rain_mm": {0: -99.0, 2: -99.0}}, W, r"rain_mm: 2 of 3.*line 2: -99\.0.*"
                 r"blank, not a code like -99", id="missing-rain-coded-minus-99"),
    pytest.param({"rain_mm": {2: 812.0}}, W, r"rain_mm.*812\.0 is outside 0…500 mm",
                 id="rain-above-daily-maximum"),
    pytest.param({"rh_mean_pct": {1: 250.0}}, W, r"rh_mean_pct.*250\.0 is outside 0…100 %",
                 id="humidity-250-percent"),
    pytest.param({"rh_max_pct": {0: 0.97, 1: 0.98, 2: 0.95}, "rh_mean_pct": {0: 0.8, 1: 0.8,
                  2: 0.8}}, W,
                 r"rh_mean_pct: 3 of 3.*0\.8 and every other value are ≤ 1: a fraction",
                 id="humidity-as-fraction"),
    pytest.param({"rh_mean_pct": {2: 99.0}}, W, r"rh_mean_pct.*line 4: 99\.0 is above rh_max_pct",
                 id="rh-mean-above-rh-max"),
    pytest.param({"tmin_c": {0: 33.0}}, W, r"tmin_c.*33\.0 is above tmax_c.*swapped",
                 id="tmin-above-tmax"),
    pytest.param({"tmax_c": {1: "32 °C"}}, W, r"tmax_c.*'32 °C' is not a number",
                 id="temperature-with-unit-text"),
    pytest.param({"rain_mm": {1: "12,5"}}, W, r"rain_mm.*'12,5' is not a number.*decimal point",
                 id="decimal-comma"),
    pytest.param({"tmax_c": {0: math.inf}}, ".parquet", r"tmax_c.*inf.*infinite",
                 id="infinite-temperature"),
    pytest.param({"commune": {1: None}}, W, r"commune.*line 3.*empty", id="empty-commune"),
    pytest.param({"date": {0: "2024-13-01"}}, W, r"date.*'2024-13-01' is not a date",
                 id="month-13"),
    pytest.param({"date": {2: None}}, W, r"column date.*line 4.*empty", id="empty-date"),
    pytest.param({"date": {1: "2024-06-01"}}, W, r"1 extra rows.*Vọng Thê.*2024-06-01",
                 id="two-rows-one-day"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "suffix", "fragment"), WEATHER_CASES)
def test_bad_weather_is_refused(
    tmp_path: Path, changes: dict[str, dict[int, Any]], suffix: str, fragment: str
) -> None:
    path = _write(_changed(_weather(), changes), tmp_path / f"weather{suffix}")
    _refused(path, lambda: read_weather(path), DataError, fragment)


@pytest.mark.parametrize(
    ("make", "error", "fragment"),
    [
        pytest.param(
            lambda folder: _write(_weather().drop(columns="rain_mm"), folder / "w.csv"),
            DataError, r"w\.csv lacks column\(s\) rain_mm", id="missing-rain-column",
        ),
        pytest.param(
            lambda folder: (folder / "w.parquet").write_bytes(b"PAR1 not really") and
            folder / "w.parquet",
            SourceError, r"cannot read .*w\.parquet", id="not-a-parquet-file",
        ),
        pytest.param(
            lambda folder: (folder / "w.csv").mkdir() or folder / "w.csv",
            SourceError, r"w\.csv does not exist or is not a file.*sources\.weather\.path",
            id="weather-path-is-a-folder",
        ),
    ],
)  # fmt: skip
def test_unreadable_weather_is_refused(
    tmp_path: Path, make: Callable[[Path], Path], error: type[Exception], fragment: str
) -> None:
    path = make(tmp_path)
    _refused(path, lambda: read_weather(path), error, fragment)


def test_weather_in_range_is_read_unchanged(tmp_path: Path) -> None:
    path = _write(_changed(_weather(), {"rain_mm": {0: None}}), tmp_path / "weather.csv")
    weather = read_weather(path)
    assert weather["rain_mm"].isna().sum() == 1  # a missing value stays missing
    assert weather["tmax_c"].tolist() == [32.0, 33.5, 31.0]  # by commune ("V" < "Ó"), then day


# --- surveys ---------------------------------------------------------------------------------

S = ".csv"
SURVEY_CASES = [
    pytest.param({"pest": {1: "bhp"}}, {}, S, r"column pest: 1 of 3 rows wrong, first at line 3: "
                 r"'bhp' is not a known pest code; known: bph, blast \(modelled\), stem_borer, "
                 r"leaf_folder \(not modelled, left out\)", id="misspelt-pest"),
    pytest.param({"pest": {0: "rầy nâu"}}, {}, ".parquet", r"pest.*row 1: 'rầy nâu' is not a known",
                 id="pest-in-vietnamese"),
    pytest.param({"pest": {2: "stem_borer"}}, {"other_pests": ()}, S,
                 r"'stem_borer' is not a known pest code.*other_pests",
                 id="stem-borer-not-allowed"),
    pytest.param({"pest": {1: None}}, {}, S, r"pest.*line 3.*empty", id="empty-pest"),
    pytest.param({"severity": {2: "severe"}}, {}, S,
                 r"severity.*'severe' is not one of none, light, medium, heavy",
                 id="unknown-severity"),
    pytest.param({"density_per_m2": {0: -3.0}}, {}, S, r"density_per_m2.*line 2: -3\.0 is outside",
                 id="negative-density"),
    pytest.param({"density_per_m2": {1: "many"}}, {}, S, r"density_per_m2.*'many' is not a number",
                 id="density-as-text"),
    pytest.param({"incidence_pct": {2: 140.0}}, {}, S, r"incidence_pct.*140\.0 is outside 0…100",
                 id="incidence-above-100"),
    pytest.param({"survey_date": {0: "1999-06-03"}, "report_date": {0: "1999-06-05"}}, {}, S,
                 r"survey_date.*1999-06-03 is before 2015-01-01.*typo in the year",
                 id="survey-in-1999"),
    pytest.param({"survey_date": {1: "2031-06-03"}, "report_date": {1: "2031-06-05"}}, {}, S,
                 r"survey_date.*line 3: 2031-06-03 is after 2025-01-01.*future",
                 id="survey-in-2031"),
    pytest.param({"report_date": {2: "2024-06-01"}}, {}, S,
                 r"report_date.*2024-06-01 is before the row's survey_date",
                 id="report-before-survey"),
    pytest.param({"survey_date": {1: "2024-02-31"}}, {}, S,
                 r"survey_date.*'2024-02-31' is not a date", id="february-31"),
    pytest.param({"report_date": {0: None}}, {}, S, r"report_date.*line 2.*empty",
                 id="empty-report-date"),
    pytest.param({"parcel_id": {1: "ghost"}}, {}, S, r"1 survey parcel ids are not in the parcel "
                 r"file, e\.g\. ghost", id="unknown-parcel"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "options", "suffix", "fragment"), SURVEY_CASES)
def test_bad_surveys_are_refused(
    tmp_path: Path,
    changes: dict[str, dict[int, Any]],
    options: dict[str, Any],
    suffix: str,
    fragment: str,
) -> None:
    path = _write(_changed(_surveys(), changes), tmp_path / f"surveys{suffix}")
    arguments = {"known_parcels": PARCELS, "pests": ("bph", "blast"), "as_of": AS_OF} | options
    _refused(path, lambda: read_surveys(path, **arguments), DataError, fragment)


def test_pest_codes_match_whatever_the_case(tmp_path: Path) -> None:
    path = _write(_changed(_surveys(), {"pest": {0: "BPH", 2: " Bph "}}), tmp_path / "s.csv")
    surveys = read_surveys(path, known_parcels=PARCELS, pests=("bph",), as_of=AS_OF)
    assert surveys["pest"].tolist() == ["bph", "bph"]  # blast is not modelled here: left out


def test_other_pests_are_left_out_only_when_listed(tmp_path: Path) -> None:
    path = _write(_changed(_surveys(), {"pest": {1: "Stem_Borer"}}), tmp_path / "s.csv")
    surveys = read_surveys(path, known_parcels=PARCELS, pests=("bph", "blast"), as_of=AS_OF)
    assert surveys["parcel_id"].tolist() == ["AG-1", "AG-3"]


# --- parcels ---------------------------------------------------------------------------------

DELTA_UTM = [shapely.box(580_000, 1_150_000, 580_100, 1_150_080), shapely.box(580_200, 1_150_000,
             580_300, 1_150_090)]  # fmt: skip
DELTA_LONLAT = [shapely.box(105.73, 10.40, 105.731, 10.4008), shapely.box(105.732, 10.40, 105.733,
                10.4008)]  # fmt: skip


def _parcels(folder: Path, geometries: list[shapely.Geometry], crs: str) -> Path:
    frame = gpd.GeoDataFrame(
        {"parcel_id": [f"P{i}" for i in range(len(geometries))], "commune": "c", "district": "d"},
        geometry=geometries,
        crs=crs,
    )
    path = folder / "parcels.gpkg"
    frame.to_file(path, layer="parcels")
    return path


@pytest.mark.parametrize(
    ("geometries", "label", "fragment"),
    [
        pytest.param([], "EPSG:32648", r"parcels\.gpkg \(layer 'parcels'\) holds no parcels",
                     id="zero-parcels"),
        pytest.param(DELTA_LONLAT, "EPSG:32648", r"look like longitude/latitude degrees but the "
                     r"file is labelled EPSG:32648; the CRS label is probably wrong",
                     id="degrees-labelled-utm"),
        pytest.param(DELTA_UTM, "EPSG:4326", r"not degrees but the file is labelled EPSG:4326; "
                     r"the CRS label is probably wrong", id="metres-labelled-wgs84"),
        pytest.param(DELTA_UTM, "EPSG:32631", r"km outside the area where the region's CRS "
                     r"\(region\.crs\) EPSG:32648 is used.*label \(EPSG:32631\) is probably wrong",
                     id="utm-48n-labelled-utm-31n"),
        pytest.param(DELTA_UTM, "EPSG:32748", r"km outside the area where the region's CRS.*label "
                     r"\(EPSG:32748\) is probably wrong",
                     id="northern-coordinates-labelled-southern-zone"),
    ],
)  # fmt: skip
def test_bad_parcels_are_refused(
    tmp_path: Path, geometries: list[shapely.Geometry], label: str, fragment: str
) -> None:
    path = _parcels(tmp_path, geometries, label)
    read = lambda: read_parcels(path, layer="parcels", crs="EPSG:32648")  # noqa: E731
    _refused(path, read, ParcelError, fragment)


def test_delta_parcels_in_either_labelled_crs_are_read(tmp_path: Path) -> None:
    for geometries, label in ((DELTA_UTM, "EPSG:32648"), (DELTA_LONLAT, "EPSG:4326")):
        path = _parcels(tmp_path, geometries, label)
        assert len(read_parcels(path, layer="parcels", crs="EPSG:32648")) == 2
        path.unlink()


# --- property: any small table is read or refused with a PestcastError ----------------------

CELLS = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.integers(-(10**12), 10**12),
    st.text(max_size=8),
    st.sampled_from(["2024-06-01", "1999-01-01", "2031-12-31", "bph", "BPH", "light", "p1", "nan"]),
    st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)).map(str),
)


@st.composite
def tables(draw: st.DrawFn, columns: tuple[str, ...]) -> pd.DataFrame:
    names = draw(st.lists(st.sampled_from([*columns, "extra"]), unique=True, max_size=9))
    rows = draw(st.integers(0, 4))
    return pd.DataFrame(
        {name: draw(st.lists(CELLS, min_size=rows, max_size=rows)) for name in names}
    )


@settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    weather=tables(WEATHER_COLUMNS),
    surveys=tables((*SURVEY_COLUMNS, "density_per_m2", "incidence_pct")),
)
def test_arbitrary_tables_raise_only_pestcast_errors(
    tmp_path: Path, weather: pd.DataFrame, surveys: pd.DataFrame
) -> None:
    for name, table, read in (
        ("w.csv", weather, read_weather),
        ("s.csv", surveys, lambda p: read_surveys(p, known_parcels=["p1"], pests=["bph"])),
    ):
        path = tmp_path / name
        table.to_csv(path, index=False)
        with contextlib.suppress(PestcastError):
            read(path)
