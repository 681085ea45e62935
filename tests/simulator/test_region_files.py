"""Parcels, weather, manifest and regeneration of the demo region."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from pestcast.core.errors import ConfigError
from pestcast.simulator import (
    SIMULATOR_VERSION,
    DemoSettings,
    demo_region_is_current,
    generate_demo_region,
)
from pestcast.simulator.weather import simulate_weather
from tests.simulator.conftest import Region


@pytest.fixture(scope="module")
def parcels(small_region: Region) -> gpd.GeoDataFrame:
    return gpd.read_file(small_region.root / "parcels.gpkg", layer="parcels")


def test_parcels_are_valid_unique_and_sized_like_delta_rice(
    parcels: gpd.GeoDataFrame, small_region: Region
) -> None:
    assert len(parcels) == small_region.settings.n_parcels
    assert parcels.crs.to_epsg() == 32648
    assert list(parcels.columns) == [
        "parcel_id", "commune", "district", "province", "area_ha", "geometry",
    ]  # fmt: skip
    assert parcels["parcel_id"].is_unique
    assert parcels["parcel_id"].str.fullmatch(r"AG-\d{5}").all()
    assert (parcels.geom_type == "Polygon").all()
    assert parcels.is_valid.all()
    assert parcels["area_ha"].between(0.2, 3.0).all()
    np.testing.assert_allclose(parcels["area_ha"], parcels.area / 10_000, atol=1e-4)
    assert (parcels["province"] == "An Giang").all()
    overlap = shapely.union_all(parcels.geometry.to_numpy()).area
    assert overlap == pytest.approx(parcels.area.sum(), rel=1e-6)


def test_parcels_lie_in_thoai_son_around_the_region_centre(parcels: gpd.GeoDataFrame) -> None:
    lon, lat = parcels.to_crs(4326).union_all().centroid.coords[0]
    assert lon == pytest.approx(105.25, abs=0.02)
    assert lat == pytest.approx(10.30, abs=0.02)


def test_communes_have_vietnamese_names_and_are_contiguous(parcels: gpd.GeoDataFrame) -> None:
    assert set(parcels["district"]) == {"Thoại Sơn", "Châu Thành"}
    assert 4 <= parcels["commune"].nunique() <= 6
    assert any(re.search(r"[^\x00-\x7f]", name) for name in parcels["commune"])
    for commune, group in parcels.groupby("commune"):
        joined = shapely.union_all(group.geometry.buffer(120).to_numpy())
        assert joined.geom_type == "Polygon", commune
        assert (group["district"] == group["district"].iloc[0]).all()


def test_weather_has_one_row_per_commune_and_day(
    small_region: Region, parcels: gpd.GeoDataFrame
) -> None:
    weather = pd.read_parquet(small_region.root / "weather.parquet")
    assert list(weather.columns) == [
        "commune", "date", "tmin_c", "tmax_c", "rh_mean_pct", "rh_max_pct", "rain_mm",
    ]  # fmt: skip
    assert not weather.duplicated(["commune", "date"]).any()
    assert set(parcels["commune"]) <= set(weather["commune"])
    assert weather["date"].max() == pd.Timestamp(small_region.settings.end)
    assert weather["date"].min() <= pd.Timestamp(small_region.settings.start) - pd.Timedelta(
        days=90
    )
    assert (weather["tmin_c"] < weather["tmax_c"]).all()
    assert (weather["rh_max_pct"] >= weather["rh_mean_pct"]).all()
    assert weather["rh_max_pct"].le(100).all()
    assert weather["rain_mm"].ge(0).all()
    same_day = pd.pivot_table(weather, index="date", columns="commune", values="tmax_c")
    assert same_day.corr().to_numpy().min() > 0.7


def test_weather_matches_an_giang_climatology() -> None:
    years = 20
    weather = simulate_weather(dt.date(2001, 1, 1), 365 * years, 6, np.random.default_rng(5))
    dates = weather.dates()
    month = dates.month.to_numpy()
    rain = weather.rain_mm.mean(axis=1)
    assert 1300 <= rain.sum() / years <= 1600
    assert rain[(month >= 5) & (month <= 11)].sum() / rain.sum() > 0.85
    assert 26.8 <= weather.tmean_c.mean() <= 28.2
    hot = weather.tmax_c[(month == 4) | (month == 5)].max(axis=1)
    assert 34.5 <= np.quantile(hot, 0.95) <= 37.5
    cool = weather.tmin_c[(month == 12) | (month == 1)].min(axis=1)
    assert 19.5 <= np.quantile(cool, 0.05) <= 22.0
    rh = weather.rh_mean_pct.mean(axis=1)
    assert 76 <= rh[np.isin(month, [12, 1, 2, 3, 4])].mean() <= 81
    assert 80 <= rh[np.isin(month, [6, 7, 8, 9, 10])].mean() <= 85
    rainy_days = pd.Series(weather.rain_mm[:, 0] >= 1.0, index=dates).resample("MS").sum()
    by_month = rainy_days.groupby(pd.DatetimeIndex(rainy_days.index).month).mean()
    assert by_month[2] < 3
    assert by_month[8] > 15


def test_manifest_records_settings_and_summary(small_region: Region) -> None:
    manifest = small_region.manifest
    assert manifest["simulator_version"] == SIMULATOR_VERSION
    assert manifest["settings"] == small_region.settings.to_json()
    files = manifest["files"]
    assert isinstance(files, dict)
    assert all((small_region.root / name).exists() for name in files.values())
    assert any("scenes written" in message for message in small_region.progress)


def test_currency_check_follows_settings_and_manifest(small_region: Region) -> None:
    settings = small_region.settings
    assert demo_region_is_current(small_region.root, settings)
    assert not demo_region_is_current(small_region.root, replace(settings, seed=12))
    assert not demo_region_is_current(small_region.root / "missing", settings)


def test_regeneration_replaces_an_older_region_and_manifest_comes_last(tmp_path: Path) -> None:
    longer = DemoSettings(seed=3, n_parcels=20, start=dt.date(2022, 3, 1), end=dt.date(2022, 4, 10))
    generate_demo_region(tmp_path, longer, max_workers=1)
    shorter = replace(longer, end=dt.date(2022, 3, 20))
    (tmp_path / "unrelated.txt").write_text("keep me", encoding="utf-8")
    (tmp_path / "MANIFEST.json").write_text("{}", encoding="utf-8")
    assert not demo_region_is_current(tmp_path, longer)
    manifest = generate_demo_region(tmp_path, shorter, max_workers=1)
    items = list((tmp_path / "stac" / "sentinel-2-l2a").glob("*/*.json"))
    assert len(items) == 4
    assert (tmp_path / "unrelated.txt").exists()
    newest_data = max(p.stat().st_mtime_ns for p in tmp_path.rglob("*.tif"))
    assert manifest.stat().st_mtime_ns >= newest_data
    assert json.loads(manifest.read_text(encoding="utf-8"))["settings"]["end"] == "2022-03-20"
    assert not list(tmp_path.rglob("*.tmp"))
    assert demo_region_is_current(tmp_path, shorter)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_parcels": 5}, "n_parcels"),
        ({"end": dt.date(2021, 1, 1)}, "end"),
        ({"survey_fraction": 0.0}, "survey_fraction"),
    ],
)
def test_bad_settings_are_refused_before_any_work(change: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DemoSettings(**change)  # type: ignore[arg-type]
