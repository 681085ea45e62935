"""Reading light-trap counts (CSV and Parquet) and publishing the sowing windows."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pestcast.core.errors import DataError, SourceError
from pestcast.flows.light_traps import read_light_trap_stations, read_light_traps
from pestcast.flows.sowing import CSV_HEADERS, write_sowing_windows

DISTRICTS = ("Thoại Sơn", "Châu Thành")


@pytest.fixture
def stations(tmp_path: Path) -> Path:
    path = tmp_path / "stations.csv"
    pd.DataFrame(
        {
            "station_id": ["LT01", "LT02"],
            "district": list(DISTRICTS),
            "commune": ["Vĩnh Trạch", "Vĩnh Bình"],
            "lon": [105.237, 105.258],
            "lat": [10.293, 10.294],
        }
    ).to_csv(path, index=False)
    return path


def _counts(rows: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "station_id": ["LT01", "LT02"] * (rows // 2),
            "district": list(DISTRICTS) * (rows // 2),
            "date": np.repeat(pd.date_range("2024-05-01", periods=rows // 2), 2).strftime(
                "%Y-%m-%d"
            ),
            "bph_count": np.arange(rows) * 10,
        }
    )


def _write(table: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("name", ["traps.csv", "traps.parquet"])
def test_a_valid_table_reads_as_typed_rows(tmp_path: Path, stations: Path, name: str) -> None:
    path = _write(_counts(), tmp_path / name)
    traps = read_light_traps(path, stations=stations, known_districts=DISTRICTS)
    assert list(traps.columns) == ["station_id", "district", "date", "bph_count"]
    assert traps["bph_count"].dtype == np.int64
    assert traps["date"].min() == pd.Timestamp("2024-05-01")
    assert list(traps["station_id"]) == ["LT01", "LT01", "LT02", "LT02"]


def test_blank_counts_are_nights_without_a_catch(tmp_path: Path) -> None:
    path = tmp_path / "traps.csv"
    path.write_text(
        "station_id,district,date,bph_count\nLT01,A,2024-05-01,12\nLT01,A,2024-05-02,\n",
        encoding="utf-8",
    )
    assert len(read_light_traps(path)) == 1


def test_districts_come_from_the_station_table(tmp_path: Path, stations: Path) -> None:
    path = _write(_counts().drop(columns="district"), tmp_path / "traps.csv")
    traps = read_light_traps(path, stations=stations)
    assert set(traps["district"]) == set(DISTRICTS)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_missing_columns_are_named(tmp_path: Path, suffix: str) -> None:
    path = _write(_counts().drop(columns="bph_count"), tmp_path / f"traps{suffix}")
    with pytest.raises(DataError, match=r"traps\..* lacks column\(s\) bph_count"):
        read_light_traps(path)


def test_district_is_required_without_a_station_table(tmp_path: Path) -> None:
    path = _write(_counts().drop(columns="district"), tmp_path / "traps.csv")
    with pytest.raises(DataError, match=r"lacks column.*district"):
        read_light_traps(path)


def test_an_unknown_station_names_its_line(tmp_path: Path, stations: Path) -> None:
    table = _counts()
    table.loc[2, "station_id"] = "LT09"
    path = _write(table, tmp_path / "traps.csv")
    with pytest.raises(DataError, match=r"traps.csv, line 4: station_id 'LT09' is not in the"):
        read_light_traps(path, stations=stations)


def test_a_district_that_disagrees_with_the_station_table(tmp_path: Path, stations: Path) -> None:
    table = _counts()
    table.loc[0, "district"] = "Châu Thành"
    path = _write(table, tmp_path / "traps.csv")
    with pytest.raises(DataError, match=r"line 2: district .* differs from the station table"):
        read_light_traps(path, stations=stations)


def test_an_unknown_district_is_named(tmp_path: Path) -> None:
    table = _counts()
    table.loc[3, "district"] = "Tri Tôn"
    path = _write(table, tmp_path / "traps.parquet")
    with pytest.raises(DataError, match=r"row 4: district 'Tri Tôn' is not a known district"):
        read_light_traps(path, known_districts=DISTRICTS)


@pytest.mark.parametrize(
    ("value", "message"),
    [(-5, "is negative"), (2.5, "is not a whole number"), ("many", "is not a number")],
)
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_bad_counts_name_their_row(
    tmp_path: Path, suffix: str, value: object, message: str
) -> None:
    table = _counts().astype({"bph_count": object})
    table.loc[1, "bph_count"] = value
    if suffix == ".parquet":
        table["bph_count"] = table["bph_count"].astype(str)
    path = _write(table, tmp_path / f"traps{suffix}")
    where = "row 2" if suffix == ".parquet" else "line 3"
    with pytest.raises(DataError, match=rf"{where}: bph_count '{value}' {message}"):
        read_light_traps(path)


def test_dates_outside_the_window_are_named(tmp_path: Path) -> None:
    path = _write(_counts(6), tmp_path / "traps.csv")
    window = (dt.date(2024, 5, 1), dt.date(2024, 5, 2))
    with pytest.raises(DataError, match=r"line 6: date '2024-05-03' is outside the expected"):
        read_light_traps(path, window=window)


def test_a_date_that_is_not_a_date(tmp_path: Path) -> None:
    table = _counts()
    table.loc[0, "date"] = "yesterday"
    path = _write(table, tmp_path / "traps.csv")
    with pytest.raises(DataError, match="line 2: date 'yesterday' is not a date"):
        read_light_traps(path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_two_counts_for_one_station_night(tmp_path: Path, suffix: str) -> None:
    table = _counts()
    table.loc[2, "station_id"] = "LT01"
    table.loc[2, "date"] = "2024-05-01"
    path = _write(table, tmp_path / f"traps{suffix}")
    where = ("line 4", "line 2") if suffix == ".csv" else ("row 3", "row 1")
    with pytest.raises(
        DataError, match=rf"{where[0]}: station LT01 has a second count .*first at {where[1]}"
    ):
        read_light_traps(path)


def test_missing_files_and_bad_station_tables(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        read_light_traps(tmp_path / "none.csv")
    path = tmp_path / "stations.csv"
    path.write_text("station_id,district,commune,lon,lat\nLT01,A,B,200,10\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2: lon '200' must be a WGS84 coordinate"):
        read_light_trap_stations(path)


def test_sowing_windows_are_published_bilingual(tmp_path: Path) -> None:
    day = np.arange(120)
    counts = 20 + 5000 * sum(np.exp(-0.5 * ((day - p) / 2.0) ** 2) for p in (40, 65, 90))
    traps = pd.DataFrame(
        {
            "station_id": "LT01",
            "district": "Thoại Sơn",
            "date": pd.date_range("2024-01-01", periods=120),
            "bph_count": counts.round().astype(np.int64),
        }
    )
    paths = write_sowing_windows(traps, tmp_path / "out", as_of=dt.date(2024, 4, 3))
    assert [p.name for p in paths] == ["sowing_windows.csv", "sowing_windows.json"]
    raw = paths[0].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = pd.read_csv(paths[0], encoding="utf-8-sig")
    assert list(table.columns) == list(CSV_HEADERS.values())
    row = table.iloc[0]
    assert row["sow from / xuống giống từ ngày"] == "2024-04-03"  # today: the window is open
    assert row["sow until / đến ngày"] == "2024-04-06"
    payload = json.loads(paths[1].read_text(encoding="utf-8"))
    district = payload["districts"][0]
    assert district["window"] == {"start": "2024-04-03", "end": "2024-04-06"}
    assert [p["date"] for p in district["peaks"]] == ["2024-02-10", "2024-03-06", "2024-03-31"]
    assert district["reason"]["vi"].startswith("Đỉnh rầy nâu vào đèn")
    assert not list((tmp_path / "out").glob(".*tmp*"))
