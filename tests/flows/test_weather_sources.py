"""Weather from Open-Meteo and NASA POWER: recorded answers served by a real HTTP server on
loopback (``weather_api_server``), no mock of the HTTP client. The adapters must give exactly the
table ``read_weather`` checks, report missing days and wrong units, retry 429s, fail clearly on
5xx, and keep a cache that spares later requests and survives an interrupted download."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import yaml
from pyproj import Transformer

from pestcast.core.errors import DataError, SourceError
from pestcast.features.weather import WEATHER_COLUMNS
from pestcast.flows.config import (
    DEFAULT_CONFIG,
    PestcastConfig,
    TableSourceConfig,
    WeatherApiSourceConfig,
    load_config,
)
from pestcast.flows.tables import read_weather
from pestcast.flows.weather_http import USER_AGENT, HttpSettings, public_url
from pestcast.flows.weather_providers import rh_max_from_dew_point
from pestcast.flows.weather_sources import (
    CACHE_COLUMNS,
    FORECAST_COLUMNS,
    OPEN_METEO_APIKEY_ENV,
    WeatherPoint,
    _missing_spans,
    cached_daily_weather,
    commune_points,
    configured_weather,
    fetch_weather_forecast,
    read_weather_stations,
    weather_points,
)
from tests.flows.weather_api_server import (
    ARCHIVE,
    FORECAST,
    POWER,
    RecordedWeatherApi,
    recorded,
)

TZ = "Asia/Ho_Chi_Minh"
START, END = dt.date(2024, 6, 1), dt.date(2024, 6, 7)
LONG_AFTER = dt.date(2024, 12, 1)
"""A 'today' long after the recorded week: none of its days counts as recent."""
MY_HOA = WeatherPoint("My Hoa", 10.3759, 105.4185)
BINH_DUC = WeatherPoint("Binh Duc", 10.4106, 105.3987, station="LX-02")
FAST = HttpSettings(timeout_s=5, max_retries=2, retry_backoff_s=0.01)


@pytest.fixture
def api() -> Iterator[RecordedWeatherApi]:
    with RecordedWeatherApi() as server:
        yield server


def source(api: RecordedWeatherApi, tmp_path: Path, provider: str = "open-meteo", **extra: object):
    path = ARCHIVE if provider == "open-meteo" else POWER
    return WeatherApiSourceConfig.model_validate(
        {
            "provider": provider,
            "cache": tmp_path / "weather_cache.parquet",
            "base_url": api.url + path,
            "timeout_s": FAST.timeout_s,
            "max_retries": FAST.max_retries,
            "retry_backoff_s": FAST.retry_backoff_s,
            **extra,
        }
    )


def fetch(config, points=(MY_HOA,), start=START, end=END, today=LONG_AFTER) -> pd.DataFrame:
    return cached_daily_weather(
        config, list(points), start=start, end=end, timezone=TZ, today=today
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the exact table ---------------------------------------------------------------------------


def test_open_meteo_gives_exactly_the_weather_table(api, tmp_path) -> None:
    config = source(api, tmp_path)
    weather = fetch(config)
    answer = recorded("open_meteo_archive_daily.json")["daily"]
    assert tuple(weather.columns) == WEATHER_COLUMNS
    assert weather["date"].dtype == "datetime64[ns]"
    assert weather["date"].dt.strftime("%Y-%m-%d").tolist() == answer["time"]
    assert (weather["commune"] == "My Hoa").all()
    for column, name in [
        ("tmin_c", "temperature_2m_min"),
        ("tmax_c", "temperature_2m_max"),
        ("rh_mean_pct", "relative_humidity_2m_mean"),
        ("rh_max_pct", "relative_humidity_2m_max"),
        ("rain_mm", "precipitation_sum"),
    ]:
        assert weather[column].tolist() == pytest.approx(answer[name]), column
    # the cache is a weather table read_weather accepts, with where each row came from
    pd.testing.assert_frame_equal(read_weather(config.cache)[list(WEATHER_COLUMNS)], weather)
    assert tuple(pd.read_parquet(config.cache).columns) == CACHE_COLUMNS


def test_open_meteo_is_asked_for_local_days_in_metric_units_politely(api, tmp_path) -> None:
    fetch(source(api, tmp_path))
    [(path, query, headers)] = api.seen
    assert path == ARCHIVE
    assert query == {
        "latitude": "10.3759",
        "longitude": "105.4185",
        "start_date": "2024-06-01",
        "end_date": "2024-06-07",
        "daily": "temperature_2m_min,temperature_2m_max,relative_humidity_2m_mean,"
        "relative_humidity_2m_max,precipitation_sum",
        "timezone": "Asia/Ho_Chi_Minh",
        "temperature_unit": "celsius",
        "precipitation_unit": "mm",
    }
    assert headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("pestcast/")


def test_nasa_power_gives_the_table_with_its_fill_value_as_missing(api, tmp_path) -> None:
    weather = fetch(source(api, tmp_path, provider="nasa-power"))
    [query] = api.queries(POWER)
    assert query == {
        "parameters": "T2M_MIN,T2M_MAX,RH2M,PRECTOTCORR,T2MDEW",
        "community": "AG",
        "longitude": "105.4185",
        "latitude": "10.3759",
        "start": "20240601",
        "end": "20240607",
        "format": "JSON",
        "time-standard": "LST",
    }
    answer = recorded("nasa_power_daily_point.json")["properties"]["parameter"]
    assert tuple(weather.columns) == WEATHER_COLUMNS
    assert weather["tmin_c"].tolist() == pytest.approx(list(answer["T2M_MIN"].values()))
    assert weather["rain_mm"].tolist() == pytest.approx(list(answer["PRECTOTCORR"].values()))
    assert answer["RH2M"]["20240603"] == -999.0
    assert np.isnan(weather["rh_mean_pct"].iloc[2])
    assert weather["rh_mean_pct"].drop(index=2).tolist() == pytest.approx(
        [v for day, v in answer["RH2M"].items() if day != "20240603"]
    )
    # RH max is the dew-point estimate, never below the day's mean, known on the filled day too
    assert weather["rh_max_pct"].notna().all()
    assert (weather["rh_max_pct"] >= weather["rh_mean_pct"].fillna(0)).all()
    assert weather["rh_max_pct"].between(85, 100).all()


@pytest.mark.parametrize(
    ("tmin_c", "dew_point_c", "rh_mean_pct", "expected"),
    [
        # e°(T) from FAO-56 Annex 2, Table 2.3: e°(24.0) = 2.985, e°(25.0) = 3.168,
        # e°(23.0) = 2.809, e°(25.5) = 3.263 kPa
        pytest.param(25.0, 24.0, 80.0, 100 * 2.985 / 3.168, id="humid-night"),
        pytest.param(25.5, 23.0, 70.0, 100 * 2.809 / 3.263, id="drier-night"),
        pytest.param(25.0, 24.0, 96.0, 96.0, id="never-below-the-mean"),
        pytest.param(25.0, 26.0, 90.0, 100.0, id="capped-at-100"),
        pytest.param(25.0, 24.0, np.nan, 100 * 2.985 / 3.168, id="mean-unknown"),
        pytest.param(25.0, np.nan, 80.0, np.nan, id="dew-point-unknown"),
    ],
)
def test_rh_max_estimate_matches_fao56_table(tmin_c, dew_point_c, rh_mean_pct, expected) -> None:
    [estimate] = rh_max_from_dew_point([tmin_c], [dew_point_c], [rh_mean_pct])
    assert estimate == pytest.approx(expected, abs=0.05, nan_ok=True)


# --- missing days, units, implausible values ----------------------------------------------------


def test_a_missing_day_names_provider_url_commune_and_day(api, tmp_path) -> None:
    api.answer_with(ARCHIVE, recorded("open_meteo_archive_missing_day.json"))
    config = source(api, tmp_path)
    with pytest.raises(DataError) as caught:
        fetch(config)
    message = str(caught.value)
    assert f"open-meteo {api.url}/v1/archive?latitude=10.3759&longitude=105.4185" in message
    assert "commune 'My Hoa'" in message
    assert "lacks 1 of the 7 days asked for, first 2024-06-04" in message
    assert not config.cache.exists()


def test_a_day_missing_from_nasa_power_is_reported(api, tmp_path) -> None:
    answer = recorded("nasa_power_daily_point.json")
    for values in answer["properties"]["parameter"].values():
        del values["20240605"]
    api.answer_with(POWER, answer)
    with pytest.raises(
        DataError,
        match=r"nasa-power http://127\.0\.0\.1:\d+/api/temporal/daily/"
        r"point\?parameters=.*commune 'My Hoa'.*first 2024-06-05",
    ):
        fetch(source(api, tmp_path, provider="nasa-power"))


def _in_fahrenheit_and_inches() -> dict[str, object]:
    """The recorded answer as Open-Meteo gives it with temperature_unit=fahrenheit and
    precipitation_unit=inch."""
    answer = recorded("open_meteo_archive_daily.json")
    daily, units = answer["daily"], answer["daily_units"]
    for name in ("temperature_2m_min", "temperature_2m_max"):
        daily[name] = [round(v * 1.8 + 32, 1) for v in daily[name]]
        units[name] = "°F"
    daily["precipitation_sum"] = [round(v / 25.4, 3) for v in daily["precipitation_sum"]]
    units["precipitation_sum"] = "inch"
    return answer


def _power_in(parameter: str, unit: str) -> dict[str, object]:
    answer = recorded("nasa_power_daily_point.json")
    answer["parameters"][parameter]["units"] = unit
    return answer


@pytest.mark.parametrize(
    ("provider", "answer", "fragment"),
    [
        pytest.param(
            "open-meteo",
            _in_fahrenheit_and_inches(),
            "daily_units gives temperature_2m_min in '°F', not '°C'",
            id="open-meteo-fahrenheit",
        ),
        pytest.param(
            "nasa-power",
            _power_in("PRECTOTCORR", "in/day"),
            "parameters gives PRECTOTCORR in 'in/day', not 'mm/day'",
            id="power-inches",
        ),
        pytest.param(
            "nasa-power",
            _power_in("T2M_MAX", "F"),
            "parameters gives T2M_MAX in 'F', not 'C'",
            id="power-fahrenheit",
        ),
    ],
)
def test_units_other_than_asked_are_refused_not_converted(
    api, tmp_path, provider, answer, fragment
) -> None:
    api.answer_with(ARCHIVE if provider == "open-meteo" else POWER, answer)
    config = source(api, tmp_path, provider=provider)
    with pytest.raises(DataError, match="nothing is converted") as caught:
        fetch(config)
    assert fragment in str(caught.value)
    assert "commune 'My Hoa'" in str(caught.value)
    assert not config.cache.exists()


def test_inches_alone_are_refused(api, tmp_path) -> None:
    answer = recorded("open_meteo_archive_daily.json")
    answer["daily_units"]["precipitation_sum"] = "inch"
    api.answer_with(ARCHIVE, answer)
    with pytest.raises(DataError, match="precipitation_sum in 'inch', not 'mm'"):
        fetch(source(api, tmp_path))


def test_an_implausible_value_names_the_day_and_column(api, tmp_path) -> None:
    answer = recorded("open_meteo_archive_daily.json")
    answer["daily"]["temperature_2m_max"][4] = 91.2  # °F slipped in on one day
    api.answer_with(ARCHIVE, answer)
    with pytest.raises(DataError, match=r"on 2024-06-05 tmax_c = 91\.2 °C is outside -10…50 °C"):
        fetch(source(api, tmp_path))


# --- HTTP: retries, failures, keys ---------------------------------------------------------------


def test_a_429_is_retried_and_then_answered(api, tmp_path) -> None:
    api.fail_next(ARCHIVE, 429)
    weather = fetch(source(api, tmp_path))
    assert api.requests[ARCHIVE] == 2
    assert len(weather) == 7


def test_a_lasting_500_fails_clearly_and_keeps_the_days_already_downloaded(api, tmp_path) -> None:
    config = source(api, tmp_path)
    api.fail_next(ARCHIVE, 200, 500, 500, 500)  # the first commune answers, the second never
    with pytest.raises(SourceError) as caught:
        fetch(config, points=(MY_HOA, BINH_DUC))
    message = str(caught.value)
    assert f"open-meteo {api.url}/v1/archive?latitude=10.4106" in message
    assert "commune 'Binh Duc' (station 'LX-02')" in message
    assert "2024-06-01 … 2024-06-07" in message
    assert "answered HTTP 500 after 2 retries (Internal Server Error)" in message
    assert isinstance(caught.value.__cause__, ConnectionError)  # worth retrying later
    assert api.requests[ARCHIVE] == 4
    kept = read_weather(config.cache)
    assert set(kept["commune"]) == {"My Hoa"}
    assert len(kept) == 7
    # the rerun asks only for the commune that failed
    weather = fetch(config, points=(MY_HOA, BINH_DUC))
    assert [q["latitude"] for q in api.queries(ARCHIVE)[4:]] == ["10.4106"]
    assert weather.groupby("commune").size().to_dict() == {"Binh Duc": 7, "My Hoa": 7}


def test_a_refused_request_is_not_retried(api, tmp_path) -> None:
    api.fail_next(ARCHIVE, 400)
    with pytest.raises(SourceError, match="refused the request with HTTP 400"):
        fetch(source(api, tmp_path))
    assert api.requests[ARCHIVE] == 1


def test_an_api_key_is_sent_but_never_shown(api, tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.setenv(OPEN_METEO_APIKEY_ENV, "s3cr3t-key")
    api.fail_next(ARCHIVE, 500, 500, 500)
    with caplog.at_level(logging.DEBUG), pytest.raises(SourceError) as caught:
        fetch(source(api, tmp_path))
    assert api.queries(ARCHIVE)[0]["apikey"] == "s3cr3t-key"
    assert "s3cr3t" not in str(caught.value)
    assert "apikey" not in str(caught.value)
    assert "Incremented Retry" in caplog.text  # urllib3 logs each retry with the URL…
    assert "s3cr3t" not in caplog.text  # …but not the key


def test_an_unreachable_server_is_a_transient_source_error(tmp_path) -> None:
    with RecordedWeatherApi() as server:
        url = server.url  # the port is free again once the server is gone
    config = WeatherApiSourceConfig(
        provider="open-meteo",
        cache=tmp_path / "c.parquet",
        base_url=url + ARCHIVE,
        max_retries=1,
        retry_backoff_s=0.01,
    )
    with pytest.raises(SourceError, match="could not be reached after 1 retries") as caught:
        fetch(config)
    assert isinstance(caught.value.__cause__, ConnectionError)


# --- the cache ---------------------------------------------------------------------------------


def test_the_cache_spares_a_second_request_and_the_network(tmp_path) -> None:
    with RecordedWeatherApi() as api:
        config = source(api, tmp_path)
        first = fetch(config)
        second = fetch(config)
        assert api.requests[ARCHIVE] == 1
    offline = fetch(config)  # the server is gone
    pd.testing.assert_frame_equal(first, second)
    pd.testing.assert_frame_equal(first, offline)


def test_only_the_days_the_cache_lacks_are_asked_for(api, tmp_path) -> None:
    config = source(api, tmp_path)
    assert len(fetch(config, end=dt.date(2024, 6, 4))) == 4
    weather = fetch(config)
    later = api.queries(ARCHIVE)[1]
    assert (later["start_date"], later["end_date"]) == ("2024-06-05", "2024-06-07")
    assert len(weather) == 7


def test_recent_days_the_provider_lacks_are_asked_again_next_run(api, tmp_path) -> None:
    answer = recorded("open_meteo_archive_daily.json")
    for name, values in answer["daily"].items():
        if name != "time":
            values[5:] = [None, None]  # the archive has no 6 and 7 June yet
    api.answer_with(ARCHIVE, answer)
    config = source(api, tmp_path)
    today = dt.date(2024, 6, 8)
    weather = fetch(config, today=today)
    assert weather["date"].max() == pd.Timestamp("2024-06-05")
    api.answer_with(ARCHIVE, recorded("open_meteo_archive_daily.json"))  # now it has them
    weather = fetch(config, today=dt.date(2024, 6, 12))
    later = api.queries(ARCHIVE)[1]
    assert (later["start_date"], later["end_date"]) == ("2024-06-06", "2024-06-07")
    assert len(weather) == 7


def test_old_empty_days_are_kept_as_missing(api, tmp_path) -> None:
    answer = recorded("nasa_power_daily_point.json")
    for values in answer["properties"]["parameter"].values():
        values["20240607"] = -999.0
    api.answer_with(POWER, answer)
    config = source(api, tmp_path, provider="nasa-power")
    weather = fetch(config)
    assert weather[list(WEATHER_COLUMNS[2:])].iloc[-1].isna().all()
    fetch(config)
    assert api.requests[POWER] == 1


def test_a_cache_of_another_provider_is_refused(api, tmp_path) -> None:
    fetch(source(api, tmp_path))
    power = source(api, tmp_path, provider="nasa-power")
    before = sha256(power.cache)
    with pytest.raises(DataError, match=r"holds weather from open-meteo, but .* is nasa-power"):
        fetch(power)
    assert sha256(power.cache) == before


def test_a_commune_whose_point_moved_is_downloaded_anew(api, tmp_path) -> None:
    config = source(api, tmp_path)
    fetch(config)
    nudged = WeatherPoint("My Hoa", MY_HOA.latitude + 0.01, MY_HOA.longitude)
    fetch(config, points=(nudged,))
    assert api.requests[ARCHIVE] == 1  # a few hundred metres: same grid cell, cache kept
    moved = WeatherPoint("My Hoa", MY_HOA.latitude + 0.2, MY_HOA.longitude)
    fetch(config, points=(moved,))
    assert api.requests[ARCHIVE] == 2
    assert set(pd.read_parquet(config.cache)["latitude"]) == {moved.latitude}


def _foreign_parquet() -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame({"parcel_id": ["a"], "ndvi_mean": [0.4]}).to_parquet(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"PAR1 cut short", id="truncated"),
        pytest.param(_foreign_parquet(), id="foreign"),
    ],
)
def test_an_unusable_cache_is_set_aside_and_rebuilt(api, tmp_path, content, caplog) -> None:
    config = source(api, tmp_path)
    config.cache.write_bytes(content)
    weather = fetch(config)
    assert len(weather) == 7
    assert (tmp_path / "weather_cache.parquet.corrupt").read_bytes() == content
    assert "weather cache" in caplog.text


def test_communes_sharing_a_station_share_one_request(api, tmp_path) -> None:
    shared = WeatherPoint("Binh Duc", MY_HOA.latitude, MY_HOA.longitude, station="LX-01")
    weather = fetch(source(api, tmp_path), points=(MY_HOA, shared))
    assert api.requests[ARCHIVE] == 1
    by_commune = weather.set_index(["commune", "date"])
    assert by_commune.loc["Binh Duc"].equals(by_commune.loc["My Hoa"])


def test_long_gaps_are_asked_for_a_year_at_a_time() -> None:
    cache = pd.DataFrame(
        {
            "commune": ["My Hoa"] * 2,
            "date": pd.to_datetime(["2022-03-01", "2022-03-02"]),
            "latitude": MY_HOA.latitude,
            "longitude": MY_HOA.longitude,
        }
    )
    spans = list(_missing_spans(cache, [MY_HOA], dt.date(2022, 1, 1), dt.date(2023, 6, 30)))
    assert [(first.isoformat(), last.isoformat()) for _, first, last in spans] == [
        ("2022-01-01", "2022-02-28"),
        ("2022-03-03", "2023-03-03"),  # 366 days
        ("2023-03-04", "2023-06-30"),
    ]


def test_urls_shown_never_hold_keys() -> None:
    url = "https://customer-archive-api.open-meteo.com/v1/archive?apikey=abc&models=era5"
    shown = public_url(url, {"latitude": "10.3759", "daily": "a,b", "apikey": "xyz"})
    assert shown == (
        "https://customer-archive-api.open-meteo.com/v1/archive?models=era5&latitude=10.3759"
        "&daily=a,b"
    )


# --- forecasts ---------------------------------------------------------------------------------


def test_the_forecast_is_a_separate_table_of_lead_days(api) -> None:
    issued = dt.date(2024, 6, 7)
    forecast = fetch_weather_forecast(
        [MY_HOA, BINH_DUC], issued=issued, days=7, base_url=api.url + FORECAST, settings=FAST
    )
    assert tuple(forecast.columns) == FORECAST_COLUMNS
    assert len(forecast) == 14
    assert (forecast["issued"] == pd.Timestamp(issued)).all()
    assert forecast["lead_days"].tolist() == [*range(1, 8)] * 2
    assert forecast["date"].iloc[0] == pd.Timestamp("2024-06-08")
    answer = recorded("open_meteo_forecast_daily.json")["daily"]
    assert forecast["rain_mm"].iloc[:7].tolist() == pytest.approx(answer["precipitation_sum"])
    query = api.queries(FORECAST)[0]
    assert (query["start_date"], query["end_date"]) == ("2024-06-08", "2024-06-14")
    assert query["timezone"] == TZ


def test_a_forecast_beyond_16_days_is_refused(api) -> None:
    with pytest.raises(DataError, match="1 … 16 days, not 17"):
        fetch_weather_forecast([MY_HOA], issued=START, days=17, base_url=api.url + FORECAST)
    assert api.requests[FORECAST] == 0


# --- points ------------------------------------------------------------------------------------

TO_UTM = Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True)


def _square(lon: float, lat: float, side_m: float) -> shapely.Polygon:
    x, y = TO_UTM.transform(lon, lat)
    return shapely.box(x, y, x + side_m, y + side_m)


def parcels() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "parcel_id": ["a", "b", "c"],
            "commune": ["My Hoa", "My Hoa", "Binh Duc"],
            "district": ["Long Xuyen"] * 3,
        },
        geometry=[
            _square(105.41, 10.37, 100),
            _square(105.43, 10.38, 300),
            _square(105.40, 10.41, 200),
        ],
        crs="EPSG:32648",
    )


def test_commune_points_are_area_weighted_parcel_centroids() -> None:
    table = parcels()
    points = {p.commune: p for p in commune_points(table)}
    assert sorted(points) == ["Binh Duc", "My Hoa"]
    union = shapely.union_all(table.geometry[table["commune"] == "My Hoa"].to_numpy())
    lon, lat = Transformer.from_crs("EPSG:32648", "EPSG:4326", always_xy=True).transform(
        union.centroid.x, union.centroid.y
    )
    assert (points["My Hoa"].longitude, points["My Hoa"].latitude) == pytest.approx(
        (lon, lat), abs=1e-4
    )
    assert points["My Hoa"].station is None
    # the same in degrees: the CRS of the parcels does not matter
    again = {p.commune: p for p in commune_points(table.to_crs("EPSG:4326"))}
    assert again["My Hoa"].latitude == pytest.approx(points["My Hoa"].latitude, abs=1e-4)


def test_stations_replace_the_centroids(tmp_path) -> None:
    stations = tmp_path / "stations.csv"
    stations.write_text(
        "station_id,commune,latitude,longitude\n"
        "LX-01,My Hoa,10.3759,105.4185\nLX-02,Binh Duc,10.4106,105.3987\nCT-01,Other,10.0,105.7\n",
        encoding="utf-8",
    )
    config = WeatherApiSourceConfig(
        provider="nasa-power", cache=tmp_path / "c.parquet", stations=stations
    )
    points = weather_points(config, parcels())
    assert points == [BINH_DUC, WeatherPoint("My Hoa", 10.3759, 105.4185, station="LX-01")]
    assert len(read_weather_stations(stations)) == 3


def test_a_commune_without_a_station_is_named(tmp_path) -> None:
    stations = tmp_path / "stations.csv"
    stations.write_text("commune,latitude,longitude\nMy Hoa,10.3759,105.4185\n", encoding="utf-8")
    config = WeatherApiSourceConfig(
        provider="open-meteo", cache=tmp_path / "c.parquet", stations=stations
    )
    with pytest.raises(DataError, match=r"stations\.csv: no station for 1 commune.*'Binh Duc'"):
        weather_points(config, parcels())


# --- the config and the pipeline ---------------------------------------------------------------


def _config(weather: dict[str, object], tmp_path: Path) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["sources"]["weather"] = weather
    raw["imagery"].update(start="2024-06-01", end="2024-06-30")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_the_existing_file_config_still_loads_and_reads_as_before(tmp_path) -> None:
    config = load_config(DEFAULT_CONFIG, check_paths=False)
    assert isinstance(config.sources.weather, TableSourceConfig)
    table = tmp_path / "weather.csv"
    table.write_text(
        "commune,date,tmin_c,tmax_c,rh_mean_pct,rh_max_pct,rain_mm\n"
        "My Hoa,2024-06-01,25.6,33.4,79,94,0.4\n",
        encoding="utf-8",
    )
    sources = config.sources.model_copy(update={"weather": TableSourceConfig(path=table)})
    local = config.model_copy(update={"sources": sources})
    pd.testing.assert_frame_equal(configured_weather(local, parcels()), read_weather(table))


def test_a_provider_config_round_trips(tmp_path) -> None:
    weather = {
        "provider": "nasa-power",
        "cache": str(tmp_path / "cache.parquet"),
        "stations": str(tmp_path / "stations.csv"),
        "base_url": "https://power.example.org/api/temporal/daily/point",
        "timeout_s": 30.0,
        "max_retries": 3,
        "retry_backoff_s": 1.5,
    }
    config = load_config(_config(weather, tmp_path), check_paths=False)
    assert isinstance(config.sources.weather, WeatherApiSourceConfig)
    assert config.sources.weather.path == tmp_path / "cache.parquet"
    dumped = config.sources.weather.model_dump(mode="json")
    assert dumped == weather
    again = PestcastConfig.model_validate(config.model_dump())
    assert again == config
    assert _config(dumped, tmp_path).exists()
    assert load_config(_config(dumped, tmp_path), check_paths=False) == config


def test_a_provider_cache_need_not_exist_yet(tmp_path) -> None:
    weather = {"provider": "open-meteo", "cache": str(tmp_path / "new" / "cache.parquet")}
    path = _config(weather, tmp_path)
    text = path.read_text(encoding="utf-8")
    for name in (
        "parcels.gpkg",
        "surveys.parquet",
        "weather_forecasts.parquet",
        "light_traps.parquet",
        "light_trap_stations.csv",
        "stac/catalog.json",
    ):
        (tmp_path / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / name).touch()
    text = text.replace("data/demo/", f"{tmp_path}/data/").replace(
        "data/feedback/", f"{tmp_path}/feedback/"
    )
    path.write_text(text, encoding="utf-8")
    config = load_config(path)  # paths checked: the cache's folder may not exist yet either
    assert config.sources.weather.path == tmp_path / "new" / "cache.parquet"


def test_configured_weather_downloads_the_imagery_window_up_to_yesterday(api, tmp_path) -> None:
    weather = {
        "provider": "open-meteo",
        "cache": str(tmp_path / "cache.parquet"),
        "base_url": api.url + ARCHIVE,
        "retry_backoff_s": 0.01,
    }
    config = load_config(_config(weather, tmp_path), check_paths=False)
    table = configured_weather(config, parcels(), today=dt.date(2024, 6, 8))
    assert sorted(set(table["commune"])) == ["Binh Duc", "My Hoa"]
    assert table.groupby("commune")["date"].max().eq(pd.Timestamp("2024-06-07")).all()
    queries = api.queries(ARCHIVE)
    assert {(q["start_date"], q["end_date"]) for q in queries} == {("2024-06-01", "2024-06-07")}
    centroids = {p.commune: p for p in commune_points(parcels())}
    assert {q["latitude"] for q in queries} == {
        f"{centroids[c].latitude:.4f}" for c in ("Binh Duc", "My Hoa")
    }
    assert tuple(table.columns) == WEATHER_COLUMNS
