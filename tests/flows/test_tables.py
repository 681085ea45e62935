"""Readers of parcels, weather and surveys: real parcel shapes, repairs and clear errors."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from pestcast.core.errors import DataError, ParcelError, SourceError
from pestcast.flows.tables import read_parcels, read_surveys, read_weather

REAL_PARCELS = Path(__file__).parents[1] / "data" / "parcels" / "1_vietnam_areas.gpkg"


def _real_parcels(tmp_path: Path) -> Path:
    parcels = gpd.read_file(REAL_PARCELS)
    parcels["parcel_id"] = [f"RR-{i:03d}" for i in range(len(parcels))]
    parcels["commune"] = "Xã A"
    parcels["district"] = "Huyện B"
    path = tmp_path / "parcels.gpkg"
    parcels.to_file(path, layer="parcels")
    return path


def test_real_vietnamese_parcels_read_in_the_analysis_crs(tmp_path: Path) -> None:
    parcels = read_parcels(_real_parcels(tmp_path), layer="parcels", crs="EPSG:32648")
    assert len(parcels) == 100
    assert parcels.crs.to_epsg() == 32648
    assert parcels.geometry.is_valid.all()
    assert parcels["parcel_id"].is_unique


def test_parcels_are_reprojected_to_the_requested_crs(tmp_path: Path) -> None:
    parcels = read_parcels(_real_parcels(tmp_path), layer="parcels", crs="EPSG:4326")
    west, south, east, north = parcels.total_bounds
    assert 106.1 < west < east < 106.3
    assert 20.8 < south < north < 20.9


def test_repeated_parcel_ids_are_named(tmp_path: Path) -> None:
    parcels = gpd.read_file(REAL_PARCELS).rename(columns={"id": "parcel_id"})
    parcels["commune"], parcels["district"] = "x", "y"
    path = tmp_path / "dupes.gpkg"
    parcels.to_file(path)
    with pytest.raises(ParcelError, match=r"dupes\.gpkg.*unique.*1"):
        read_parcels(path, layer=None, crs="EPSG:32648")


def test_a_self_intersecting_parcel_is_repaired_whole(tmp_path: Path) -> None:
    bowtie = shapely.Polygon([(0, 0), (100, 100), (100, 0), (0, 100), (0, 0)])
    square = shapely.box(200, 0, 300, 100)
    frame = gpd.GeoDataFrame(
        {"parcel_id": ["bow", "sq"], "commune": "c", "district": "d"},
        geometry=[bowtie, square],
        crs="EPSG:32648",
    )
    path = tmp_path / "bowtie.gpkg"
    frame.to_file(path)
    parcels = read_parcels(path, layer=None, crs="EPSG:32648")
    repaired = parcels.set_index("parcel_id").geometry["bow"]
    assert repaired.is_valid
    assert repaired.geom_type == "MultiPolygon"
    assert repaired.area == pytest.approx(5000.0)


def test_missing_columns_are_named_with_the_file(tmp_path: Path) -> None:
    frame = gpd.read_file(REAL_PARCELS)
    path = tmp_path / "bare.gpkg"
    frame.to_file(path)
    with pytest.raises(DataError, match=r"bare\.gpkg lacks column\(s\) parcel_id, commune"):
        read_parcels(path, layer=None, crs="EPSG:32648")


def test_missing_parcel_file_says_which_key_to_fix(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"sources\.parcels\.path"):
        read_parcels(tmp_path / "absent.gpkg", layer=None, crs="EPSG:32648")


def _weather(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "commune": [r[0] for r in rows],
            "date": [r[1] for r in rows],
            "tmin_c": 24.0,
            "tmax_c": 32.0,
            "rh_mean_pct": 80.0,
            "rh_max_pct": 95.0,
            "rain_mm": 0.0,
        }
    )


def test_weather_with_two_rows_for_one_day_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "weather.parquet"
    _weather([("Vọng Thê", "2024-01-01"), ("Vọng Thê", "2024-01-01")]).to_parquet(path)
    with pytest.raises(DataError, match=r"Vọng Thê.*2024-01-01"):
        read_weather(path)


def test_weather_is_sorted_and_dated(tmp_path: Path) -> None:
    path = tmp_path / "weather.csv"
    _weather([("b", "2024-01-02"), ("a", "2024-01-01")]).to_csv(path, index=False)
    weather = read_weather(path)
    assert list(weather["commune"]) == ["a", "b"]
    assert pd.api.types.is_datetime64_any_dtype(weather["date"])


def _surveys(parcel_ids: list[str], pests: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "parcel_id": parcel_ids,
            "survey_date": "2024-03-04",
            "report_date": "2024-03-06",
            "pest": pests,
            "severity": "light",
        }
    )


def test_surveys_of_unknown_parcels_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "surveys.parquet"
    _surveys(["p1", "ghost"], ["bph", "bph"]).to_parquet(path)
    with pytest.raises(DataError, match="ghost"):
        read_surveys(path, known_parcels=["p1"], pests=["bph"])


def test_surveys_of_other_pests_are_left_out(tmp_path: Path) -> None:
    path = tmp_path / "surveys.parquet"
    _surveys(["p1", "p1"], ["bph", "stem_borer"]).to_parquet(path)
    surveys = read_surveys(path, known_parcels=["p1"], pests=["bph", "blast"])
    assert list(surveys["pest"]) == ["bph"]
