"""Light-trap catches of the demo region: shared immigration waves, realistic counts, gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pestcast.simulator import DemoWorld
from pestcast.simulator.epidemic import LIGHT_TRAP_PERIOD_DAYS, light_trap_waves
from pestcast.simulator.simulate import _stream, light_trap_tables
from tests.simulator.conftest import Region


@pytest.fixture(scope="module")
def catches(small_region: Region) -> pd.DataFrame:
    return pd.read_parquet(small_region.root / "light_traps.parquet")


@pytest.fixture(scope="module")
def stations(small_region: Region) -> pd.DataFrame:
    return pd.read_csv(small_region.root / "light_trap_stations.csv")


def _peak_days(daily: pd.Series) -> list[pd.Timestamp]:
    """Days that are the maximum within ±10 days and at least 10× the series' median."""
    window = daily.rolling(21, center=True, min_periods=1).max()
    peaks = daily[(daily == window) & (daily > 10 * daily.median())]
    return list(peaks.index)


def test_files_have_the_documented_columns(catches: pd.DataFrame, stations: pd.DataFrame) -> None:
    assert list(catches.columns) == ["station_id", "district", "date", "bph_count"]
    assert list(stations.columns) == ["station_id", "district", "commune", "lon", "lat"]
    assert catches["bph_count"].dtype == np.int64
    assert (catches["bph_count"] >= 0).all()
    assert not catches.duplicated(["station_id", "date"]).any()
    assert set(catches["station_id"]) == set(stations["station_id"])
    assert stations["lon"].between(105.2, 105.3).all()
    assert stations["lat"].between(10.25, 10.35).all()


def test_one_or_two_stations_per_district(stations: pd.DataFrame, small_region: Region) -> None:
    weather = pd.read_parquet(small_region.root / "weather.parquet")
    assert set(stations["commune"]) <= set(weather["commune"])
    per_district = stations.groupby("district").size()
    assert set(per_district.index) == {"Thoại Sơn", "Châu Thành"}
    assert per_district.between(1, 2).all()


def test_counts_range_from_quiet_tens_to_thousands_at_peaks(catches: pd.DataFrame) -> None:
    daily = catches.groupby("date")["bph_count"].mean()
    assert daily.quantile(0.2) < 100
    peaks = _peak_days(daily)
    assert 1_000 < daily[peaks].median() < 50_000


def test_peaks_come_about_monthly_each_five_to_six_days_earlier(catches: pd.DataFrame) -> None:
    daily = catches.groupby("date")["bph_count"].mean()
    gaps = np.diff(_peak_days(daily)).astype("timedelta64[D]").astype(int)
    assert len(gaps) >= 15
    assert np.median(gaps) == pytest.approx(LIGHT_TRAP_PERIOD_DAYS, abs=1)
    assert ((gaps >= 20) & (gaps <= 30)).mean() > 0.9


def test_traps_catch_the_epidemics_immigration_waves(
    catches: pd.DataFrame, small_world: DemoWorld
) -> None:
    """The traps and the BPH hazard share one draw: trap peaks sit on the immigration maxima."""
    daily = catches.groupby("date")["bph_count"].mean()
    wave_days = pd.date_range(small_world.first_day, periods=len(small_world.immigration))
    wave = pd.Series(small_world.immigration, index=wave_days).reindex(daily.index)
    assert np.corrcoef(np.log1p(daily), wave)[0, 1] > 0.8
    for peak in _peak_days(daily):
        assert wave[peak - pd.Timedelta(days=2) : peak + pd.Timedelta(days=2)].max() > 0.9


def test_immigration_is_the_first_draw_of_the_epidemic_stream(small_world: DemoWorld) -> None:
    seed = small_world.settings.seed
    expected = light_trap_waves(len(small_world.immigration), _stream(seed, "epidemic"))
    np.testing.assert_array_equal(small_world.immigration, expected)


def test_some_nights_are_missing_but_few(catches: pd.DataFrame, small_world: DemoWorld) -> None:
    nights = (small_world.settings.end - small_world.first_day).days + 1
    missing = 1 - len(catches) / (nights * catches["station_id"].nunique())
    assert 0.005 < missing < 0.1


def test_same_world_gives_the_same_tables(small_world: DemoWorld) -> None:
    first, second = light_trap_tables(small_world), light_trap_tables(small_world)
    for left, right in zip(first, second, strict=True):
        pd.testing.assert_frame_equal(left, right)
