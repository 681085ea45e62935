"""Bad weather sources: configs refused at load naming the key, and provider answers refused
naming the provider, URL, commune and day — with every file already written (the inputs, the
weather cache of an earlier good download) left byte for byte as it was."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pestcast.core.errors import ConfigError, DataError, SourceError
from pestcast.flows.config import WeatherApiSourceConfig, load_config
from pestcast.flows.weather_sources import WeatherPoint, cached_daily_weather
from tests.bad_inputs import folder_hashes
from tests.bad_inputs.test_configs import a_file, a_folder, demo_text
from tests.flows.weather_api_server import ARCHIVE, POWER, RecordedWeatherApi, recorded

# --- configs -----------------------------------------------------------------------------------

WeatherEdit = Callable[[Path], str]
"""The ``sources.weather`` mapping (YAML flow style) to write instead of the demo's file."""


def weather(mapping: str, *, make: Callable[[Path], object] | None = None) -> WeatherEdit:
    def edit(root: Path) -> str:
        if make is not None:
            make(root)
        return mapping.format(root=root)

    return edit


CONFIG_CASES = [
    pytest.param(
        weather("{{provider: meteoblue, cache: {root}/cache.parquet}}"),
        r"key 'sources\.weather\.provider': Input should be 'open-meteo' or 'nasa-power'",
        id="unknown-provider",
    ),
    pytest.param(
        weather("{{provider: open-meteo}}"),
        r"key 'sources\.weather\.cache': Field required",
        id="provider-without-cache",
    ),
    pytest.param(
        weather("{{provider: open-meteo, cache: {root}/cache.csv}}"),
        r"key 'sources\.weather\.cache': .*the cache must be a \.parquet file",
        id="cache-not-parquet",
    ),
    pytest.param(
        weather("{{provider: open-meteo, cache: {root}/c.parquet, path: {root}/data/w.parquet}}"),
        r"key 'sources\.weather': .*unknown key\(s\) path for a weather provider \(allowed: "
        r"base_url, cache, .*\); a provider takes cache:, not path:",
        id="provider-and-path",
    ),
    pytest.param(
        weather("{{path: {root}/data/weather.parquet, cache: {root}/cache.parquet}}"),
        r"key 'sources\.weather': .*unknown key\(s\) cache for a weather file \(allowed: layer, "
        r"path\); cache: only with provider: NAME",
        id="file-with-a-cache",
    ),
    pytest.param(
        weather("{{provider: open-meteo, cahce: {root}/cache.parquet}}"),
        r"unknown key\(s\) cahce for a weather provider \(allowed: base_url, cache, max_retries",
        id="misspelt-cache",
    ),
    pytest.param(
        weather("{{}}"),
        r"key 'sources\.weather': .*give either path: FILE .* or provider: open-meteo \| "
        r"nasa-power with cache: FILE\.parquet",
        id="empty-mapping",
    ),
    pytest.param(
        weather("open-meteo"),
        r"key 'sources\.weather': .*must be a mapping, \{path: FILE\} or \{provider: NAME, cache",
        id="a-bare-name",
    ),
    pytest.param(
        weather("{{provider: nasa-power, cache: {root}/c.parquet, base_url: power.larc.nasa.gov}}"),
        r"key 'sources\.weather\.base_url': .*must be an http\(s\) URL, got 'power\.larc",
        id="base-url-without-scheme",
    ),
    pytest.param(
        weather("{{provider: open-meteo, cache: {root}/c.parquet, timeout_s: 0}}"),
        r"key 'sources\.weather\.timeout_s': Input should be greater than 0",
        id="zero-timeout",
    ),
    pytest.param(
        weather("{{provider: open-meteo, cache: {root}/c.parquet, max_retries: 50}}"),
        r"key 'sources\.weather\.max_retries': Input should be less than or equal to 10",
        id="endless-retries",
    ),
    pytest.param(
        weather("{{provider: open-meteo, cache: {root}/c.parquet, stations: {root}/st.csv}}"),
        r"key 'sources\.weather\.stations': .*st\.csv does not exist",
        id="stations-missing",
    ),
    pytest.param(
        weather("{{provider: open-meteo, cache: {root}/w.parquet}}", make=a_folder("w.parquet")),
        r"key 'sources\.weather\.cache': .*w\.parquet is a folder",
        id="cache-is-a-folder",
    ),
    pytest.param(
        weather("{{provider: open-meteo, cache: {root}/f/w.parquet}}", make=a_file("f")),
        r"key 'sources\.weather\.cache': .*w\.parquet cannot be created: .*f is a file",
        id="cache-inside-a-file",
    ),
]


@pytest.mark.parametrize(("edit", "fragment"), CONFIG_CASES)
def test_a_bad_weather_source_is_refused_at_load(
    tmp_path: Path, edit: WeatherEdit, fragment: str
) -> None:
    text = demo_text(tmp_path)
    good = f"weather: {{path: {tmp_path}/data/weather.parquet}}"
    assert good in text
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(good, f"weather: {edit(tmp_path)}"), encoding="utf-8")
    before = folder_hashes(tmp_path)
    with pytest.raises(ConfigError, match=fragment) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert folder_hashes(tmp_path) == before


# --- provider answers --------------------------------------------------------------------------

START, END, TODAY = dt.date(2024, 6, 1), dt.date(2024, 6, 7), dt.date(2024, 12, 1)
FIRST = WeatherPoint("My Hoa", 10.3759, 105.4185)
SECOND = WeatherPoint("Binh Duc", 10.4106, 105.3987, station="LX-02")
Answer = Callable[[], dict[str, Any]]


def open_meteo(change: Callable[[dict[str, Any]], object]) -> Answer:
    """The recorded Open-Meteo answer, changed in one way."""

    def answer() -> dict[str, Any]:
        body = recorded("open_meteo_archive_daily.json")
        change(body)
        return body

    return answer


def power(change: Callable[[dict[str, Any]], object]) -> Answer:
    """The recorded POWER answer, changed in one way."""

    def answer() -> dict[str, Any]:
        body = recorded("nasa_power_daily_point.json")
        change(body)
        return body

    return answer


def _set(values: list[Any], index: int, value: object) -> None:
    values[index] = value


ANSWER_CASES = [
    pytest.param(
        "open-meteo",
        lambda: recorded("open_meteo_archive_missing_day.json"),
        r"lacks 1 of the 7 days asked for, first 2024-06-04",
        id="open-meteo-missing-day",
    ),
    pytest.param(
        "open-meteo",
        open_meteo(lambda b: [v.insert(2, v[2]) for v in b["daily"].values()]),
        r"the answer gives 2024-06-03 twice",
        id="open-meteo-day-twice",
    ),
    pytest.param(
        "open-meteo",
        open_meteo(lambda b: b["daily_units"].update(temperature_2m_max="°F")),
        r"daily_units gives temperature_2m_max in '°F', not '°C'.*nothing is converted",
        id="open-meteo-fahrenheit",
    ),
    pytest.param(
        "open-meteo",
        open_meteo(lambda b: b["daily_units"].update(precipitation_sum="inch")),
        r"daily_units gives precipitation_sum in 'inch', not 'mm'",
        id="open-meteo-inches",
    ),
    pytest.param(
        "open-meteo",
        open_meteo(lambda b: b["daily_units"].update(relative_humidity_2m_mean="fraction")),
        r"gives relative_humidity_2m_mean in 'fraction', not '%'",
        id="open-meteo-humidity-not-percent",
    ),
    pytest.param(
        "open-meteo",
        open_meteo(lambda b: b.update(timezone="GMT", utc_offset_seconds=0)),
        r"the answer is for time zone 'GMT', not 'Asia/Ho_Chi_Minh' as asked",
        id="open-meteo-utc-days",
    ),
    pytest.param(
        "open-meteo",
        open_meteo(lambda b: b.pop("daily")),
        r"the answer has no 'daily' object, so it is not a open-meteo daily answer",
        id="open-meteo-no-daily",
    ),
    pytest.param(
        "open-meteo",
        open_meteo(lambda b: b["daily"]["precipitation_sum"].pop()),
        r"daily lists are missing or of different lengths",
        id="open-meteo-short-list",
    ),
    pytest.param(
        "open-meteo",
        open_meteo(lambda b: _set(b["daily"]["precipitation_sum"], 1, "n/a")),
        r"rain_mm on 2024-06-02 is 'n/a', not a number",
        id="open-meteo-text-value",
    ),
    pytest.param(
        "open-meteo",
        open_meteo(lambda b: _set(b["daily"]["precipitation_sum"], 6, -0.5)),
        r"on 2024-06-07 rain_mm = -0\.5 mm is outside 0…500 mm",
        id="open-meteo-negative-rain",
    ),
    pytest.param(
        "open-meteo",
        open_meteo(lambda b: _set(b["daily"]["temperature_2m_min"], 0, 34.0)),
        r"on 2024-06-01 tmin_c = 34 is above tmax_c",
        id="open-meteo-tmin-above-tmax",
    ),
    pytest.param(
        "open-meteo",
        open_meteo(lambda b: _set(b["daily"]["relative_humidity_2m_mean"], 3, 99)),
        r"on 2024-06-04 rh_mean_pct = 99 is above rh_max_pct",
        id="open-meteo-rh-mean-above-max",
    ),
    pytest.param(
        "nasa-power",
        power(lambda b: [v.pop("20240602") for v in b["properties"]["parameter"].values()]),
        r"nasa-power .*lacks 1 of the 7 days asked for, first 2024-06-02",
        id="power-missing-day",
    ),
    pytest.param(
        "nasa-power",
        power(lambda b: b["properties"]["parameter"].pop("T2MDEW")),
        r"the answer has no values for T2MDEW in properties\.parameter",
        id="power-without-dew-point",
    ),
    pytest.param(
        "nasa-power",
        power(lambda b: b["parameters"]["PRECTOTCORR"].update(units="mm/hour")),
        r"parameters gives PRECTOTCORR in 'mm/hour', not 'mm/day'",
        id="power-hourly-rain",
    ),
    pytest.param(
        "nasa-power",
        power(lambda b: b["properties"]["parameter"]["T2M_MAX"].update({"20240604": 302.1})),
        r"on 2024-06-04 tmax_c = 302\.1 °C is outside -10…50 °C",
        id="power-kelvin-slipped-in",
    ),
]


@pytest.fixture
def api() -> Iterator[RecordedWeatherApi]:
    with RecordedWeatherApi() as server:
        yield server


def _source(api: RecordedWeatherApi, root: Path, provider: str) -> WeatherApiSourceConfig:
    return WeatherApiSourceConfig(
        provider=provider,  # type: ignore[arg-type]
        cache=root / "weather_cache.parquet",
        base_url=api.url + (ARCHIVE if provider == "open-meteo" else POWER),
        max_retries=1,
        retry_backoff_s=0.01,
    )


def _fetch(source: WeatherApiSourceConfig, point: WeatherPoint) -> None:
    cached_daily_weather(source, [point], start=START, end=END, timezone=TZ, today=TODAY)


TZ = "Asia/Ho_Chi_Minh"


@pytest.mark.parametrize(("provider", "answer", "fragment"), ANSWER_CASES)
def test_a_bad_answer_is_refused_and_the_cache_kept(
    api: RecordedWeatherApi, tmp_path: Path, provider: str, answer: Answer, fragment: str
) -> None:
    source = _source(api, tmp_path, provider)
    _fetch(source, FIRST)  # a good earlier download
    before = folder_hashes(tmp_path)
    api.answer_with(ARCHIVE if provider == "open-meteo" else POWER, answer())
    with pytest.raises(DataError, match=fragment) as caught:
        _fetch(source, SECOND)
    assert f"{provider} {api.url}/" in str(caught.value)
    assert "commune 'Binh Duc' (station 'LX-02')" in str(caught.value)
    assert folder_hashes(tmp_path) == before


def test_an_answer_with_days_not_asked_for_is_refused(api: RecordedWeatherApi, tmp_path) -> None:
    api.answer_with(ARCHIVE, recorded("open_meteo_archive_daily.json"), cut=False)
    source = _source(api, tmp_path, "open-meteo")
    with pytest.raises(DataError, match=r"holds 2 day\(s\) not asked for .* first 2024-06-06"):
        cached_daily_weather(
            source, [FIRST], start=START, end=dt.date(2024, 6, 5), timezone=TZ, today=TODAY
        )
    assert folder_hashes(tmp_path) == {}


@pytest.mark.parametrize(
    ("statuses", "fragment"),
    [
        pytest.param((400,), r"refused the request with HTTP 400", id="bad-request"),
        pytest.param((503, 503), r"answered HTTP 503 after 1 retries", id="service-down"),
        pytest.param(
            (429, 429),
            r"answered HTTP 429 after 1 retries \(Minutely API request limit exceeded",
            id="rate-limited",
        ),
    ],
)
def test_a_failing_service_is_named_and_the_cache_kept(
    api: RecordedWeatherApi, tmp_path: Path, statuses: tuple[int, ...], fragment: str
) -> None:
    source = _source(api, tmp_path, "open-meteo")
    _fetch(source, FIRST)
    before = folder_hashes(tmp_path)
    api.fail_next(ARCHIVE, *statuses)
    with pytest.raises(SourceError, match=fragment) as caught:
        _fetch(source, SECOND)
    asked = "commune 'Binh Duc' (station 'LX-02') at 10.4106, 105.3987, 2024-06-01 … 2024-06-07"
    assert asked in str(caught.value)
    assert folder_hashes(tmp_path) == before


def test_an_error_in_a_200_answer_is_named(api: RecordedWeatherApi, tmp_path: Path) -> None:
    api.answer_with(ARCHIVE, {"error": True, "reason": "Daily API request limit exceeded."})
    with pytest.raises(SourceError, match=r"answered an error: Daily API request limit exceeded"):
        _fetch(_source(api, tmp_path, "open-meteo"), FIRST)
    assert folder_hashes(tmp_path) == {}
