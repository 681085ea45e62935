"""Daily weather per commune from a local table or a weather API, and Open-Meteo forecasts.

``sources.weather`` is either a local table (``{path: weather.parquet}``, read by
:func:`pestcast.flows.tables.read_weather`) or a weather API with a local cache::

    weather:
      provider: open-meteo          # or nasa-power
      cache: data/an_giang/weather_cache.parquet
      stations: data/an_giang/weather_stations.csv   # optional

Weather is asked for one point per commune: the configured station of that commune (a table of
``commune``, ``latitude``, ``longitude`` in WGS84 degrees, optional ``station_id``), or else the
area-weighted centroid of the commune's parcels. Days ``imagery.start`` … the earlier of
``imagery.end`` and yesterday (region time) are downloaded, per commune and at most a year per
request, into the cache; after each answer the cache is rewritten atomically, so an interrupted
download loses nothing already written and a rerun asks only for the days the cache lacks (none:
no request at all). Days that come back all empty within :data:`RECENT_DAYS` of today are ones the
provider does not have yet (Open-Meteo's archive lags a few days, POWER's near-real-time data
too): they are not cached, so the next run asks again; older empty days are cached as missing.

The cache is a weather table (:func:`read_weather` reads it) with three more columns:
``provider``, ``latitude`` and ``longitude`` of the point asked for. One cache holds one
provider's weather: a cache from another provider is refused (mixing them would shift the
features). A commune whose point moved more than :data:`MAX_POINT_SHIFT_DEG` is downloaded anew.

Forecasts (:func:`fetch_weather_forecast`) are a separate table, ``issued``, ``commune``,
``date``, ``lead_days`` (1 = the day after ``issued``) and the five weather columns, from
Open-Meteo's forecast API. They are not cached and not used by the features.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import zoneinfo
from collections.abc import Iterator, Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
from pyproj import Transformer

from pestcast.core.atomic import atomic_path
from pestcast.core.errors import DataError, SourceError
from pestcast.features.columns import require_columns
from pestcast.features.weather import WEATHER_COLUMNS
from pestcast.flows.config import PestcastConfig, TableSourceConfig, WeatherApiSourceConfig
from pestcast.flows.tables import read_weather
from pestcast.flows.weather_http import HttpSettings, JsonGetter
from pestcast.flows.weather_providers import (
    DAILY_PROVIDERS,
    OPEN_METEO_FORECAST,
    DailyProvider,
    WeatherPoint,
    fetch_daily,
)

__all__ = [
    "CACHE_COLUMNS",
    "FORECAST_COLUMNS",
    "MAX_POINT_SHIFT_DEG",
    "OPEN_METEO_APIKEY_ENV",
    "RECENT_DAYS",
    "WeatherPoint",
    "cached_daily_weather",
    "commune_points",
    "configured_weather",
    "fetch_weather_forecast",
    "read_weather_stations",
    "weather_points",
]

LOGGER = logging.getLogger(__name__)

CACHE_COLUMNS = (*WEATHER_COLUMNS, "provider", "latitude", "longitude")
FORECAST_COLUMNS = ("issued", "commune", "date", "lead_days", *WEATHER_COLUMNS[2:])
STATION_COLUMNS = ("commune", "latitude", "longitude")

MAX_DAYS_PER_REQUEST = 366
"""Days asked for in one request: a year keeps each answer small and each cache write worth it."""
RECENT_DAYS = 14
"""Empty days this close to today are taken as not available yet and asked for again later."""
MAX_POINT_SHIFT_DEG = 0.05
"""How far (degrees, ~5 km) a commune's point may move and keep its cached days: well inside one
cell of either provider's grid (Open-Meteo ~0.1–0.25°, POWER 0.5° × 0.625°)."""
MAX_FORECAST_DAYS = 16
"""Open-Meteo forecasts at most 16 days ahead."""
OPEN_METEO_APIKEY_ENV = "PESTCAST_OPEN_METEO_APIKEY"
"""Environment variable with an Open-Meteo API key (paid plans, whose host goes in
``sources.weather.base_url``): sent as ``apikey``, never written in config or shown in messages."""


def configured_weather(
    config: PestcastConfig, parcels: gpd.GeoDataFrame, *, today: dt.date | None = None
) -> pd.DataFrame:
    """The config's daily weather: its weather table, or its provider's days via the cache.

    ``parcels`` (any CRS) give the communes and, without stations, their points; ``today``
    (default: today in the region's time zone) bounds the days asked for.
    """
    source = config.sources.weather
    if isinstance(source, TableSourceConfig):
        return read_weather(source.path)
    today = today or dt.datetime.now(zoneinfo.ZoneInfo(config.region.timezone)).date()
    end = min(config.imagery.end, today - dt.timedelta(days=1))
    return cached_daily_weather(
        source,
        weather_points(source, parcels),
        start=config.imagery.start,
        end=end,
        timezone=config.region.timezone,
        today=today,
    )


def cached_daily_weather(
    source: WeatherApiSourceConfig,
    points: Sequence[WeatherPoint],
    *,
    start: dt.date,
    end: dt.date,
    timezone: str,
    today: dt.date,
) -> pd.DataFrame:
    """The weather table of ``points`` over ``start`` … ``end``, downloading what the cache lacks.

    The module docstring says what is cached and when; the table is checked by
    :func:`read_weather` on the cache and holds only these communes and days.
    """
    cache = _usable_cache(source, points)
    provider = DAILY_PROVIDERS[source.provider]
    settings = HttpSettings(source.timeout_s, source.max_retries, source.retry_backoff_s)
    fetch = functools.partial(
        fetch_daily,
        provider,
        timezone=timezone,
        base_url=source.base_url,
        credentials=_credentials(source.provider),
    )
    answers: dict[tuple[float, float, dt.date, dt.date], pd.DataFrame] = {}
    with JsonGetter(settings) as http:
        for point, first, last in _missing_spans(cache, points, start, end):
            asked = (point.latitude, point.longitude, first, last)
            if asked not in answers:  # communes sharing a station share its answer
                answers[asked] = fetch(point, first, last, http=http)
            cache = _merged(cache, _cacheable(answers[asked], point, provider, today=today))
            _write_cache(cache, source.cache)
    return _weather_of(source, points, start, end)


def _credentials(provider: str) -> dict[str, str]:
    """Query parameters with the provider's key from the environment (POWER needs none)."""
    key = os.environ.get(OPEN_METEO_APIKEY_ENV, "").strip()
    return {"apikey": key} if provider == "open-meteo" and key else {}


# --- points ----------------------------------------------------------------------------------


def weather_points(source: WeatherApiSourceConfig, parcels: gpd.GeoDataFrame) -> list[WeatherPoint]:
    """One point per commune of ``parcels``: its configured station, else its parcel centroid."""
    centroids = commune_points(parcels)
    if source.stations is None:
        return centroids
    stations = {point.commune: point for point in read_weather_stations(source.stations)}
    missing = [p.commune for p in centroids if p.commune not in stations]
    if missing:
        raise DataError(
            f"{source.stations}: no station for {len(missing)} commune(s) of the parcels, e.g. "
            f"{', '.join(map(repr, missing[:5]))}; add a row (commune, latitude, longitude) for "
            "each, or remove sources.weather.stations to use the parcel centroids"
        )
    return [stations[p.commune] for p in centroids]


def commune_points(parcels: gpd.GeoDataFrame) -> list[WeatherPoint]:
    """Each commune's area-weighted parcel centroid in WGS84 degrees (4 decimals, ~10 m)."""
    if parcels.crs is None:
        raise DataError("the parcels have no CRS, so their communes cannot be placed for weather")
    projected = parcels if parcels.crs.is_projected else parcels.to_crs(parcels.estimate_utm_crs())
    area = projected.geometry.area.to_numpy()
    centroids = projected.geometry.centroid
    weighted = (
        pd.DataFrame(
            {
                "commune": parcels["commune"].astype(str).str.strip().to_numpy(),
                "x": centroids.x.to_numpy() * area,
                "y": centroids.y.to_numpy() * area,
                "area": area,
            }
        )
        .groupby("commune", sort=True)[["x", "y", "area"]]
        .sum()
    )
    to_degrees = Transformer.from_crs(projected.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_degrees.transform(
        weighted["x"] / weighted["area"], weighted["y"] / weighted["area"]
    )
    return [
        WeatherPoint(commune=str(c), latitude=round(float(y), 4), longitude=round(float(x), 4))
        for c, x, y in zip(weighted.index, lon, lat, strict=True)
    ]


def read_weather_stations(path: Path) -> list[WeatherPoint]:
    """The points of a station table: ``commune``, ``latitude``, ``longitude``, ``station_id``."""
    stations = _read_stations(path)
    require_columns(stations, STATION_COLUMNS, str(path))
    for column, limit in (("latitude", 90.0), ("longitude", 180.0)):
        values = pd.to_numeric(stations[column], errors="coerce")
        bad = values.isna() | (values.abs() > limit)
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise DataError(
                f"{path}: column {column}, row {row + 1}: {stations[column].iloc[row]!r} is not "
                f"a {column} in WGS84 degrees (−{limit:g}…{limit:g}); fix the value"
            )
        stations[column] = values.astype(float)
    repeated = stations["commune"].astype(str).str.strip().duplicated()
    if repeated.any():
        commune = stations["commune"][repeated].iloc[0]
        raise DataError(f"{path}: commune {commune!r} has more than one row; keep one per commune")
    return [_station_point(row) for _, row in stations.iterrows()]


def _read_stations(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, encoding="utf-8-sig")
    except (OSError, ValueError, pa.ArrowException) as error:
        raise SourceError(
            f"cannot read the weather stations {path}: {error}; check sources.weather.stations"
        ) from error


def _station_point(row: pd.Series) -> WeatherPoint:
    station = row.get("station_id")
    return WeatherPoint(
        commune=str(row["commune"]).strip(),
        latitude=float(row["latitude"]),
        longitude=float(row["longitude"]),
        station=None if station is None or pd.isna(station) else str(station),
    )


# --- cache -----------------------------------------------------------------------------------


def _usable_cache(source: WeatherApiSourceConfig, points: Sequence[WeatherPoint]) -> pd.DataFrame:
    """The cached rows still good for these points (empty without a cache)."""
    cache = _read_cache(source.cache)
    other = sorted(set(cache["provider"]) - {source.provider})
    if other:
        raise DataError(
            f"{source.cache} holds weather from {', '.join(other)}, but sources.weather.provider "
            f"is {source.provider}; one cache holds one provider's weather (mixing them would "
            "shift the features): point sources.weather.cache at another file"
        )
    moved = [p.commune for p in points if _moved(cache, p)]
    if moved:
        LOGGER.warning(
            "%s: the point of commune(s) %s moved more than %g°; downloading them anew",
            source.cache,
            ", ".join(moved),
            MAX_POINT_SHIFT_DEG,
        )
    return cache[~cache["commune"].isin(moved)].reset_index(drop=True)


def _moved(cache: pd.DataFrame, point: WeatherPoint) -> bool:
    rows = cache[cache["commune"] == point.commune]
    shift = (
        (rows["latitude"] - point.latitude)
        .abs()
        .combine((rows["longitude"] - point.longitude).abs(), max)
    )
    return bool((shift > MAX_POINT_SHIFT_DEG).any())


def _read_cache(path: Path) -> pd.DataFrame:
    """The cache file's rows; an unreadable one is moved aside to ``*.corrupt`` (and logged)."""
    if not path.exists():
        return _empty_cache()
    try:
        cache = pd.read_parquet(path)
        require_columns(cache, CACHE_COLUMNS, str(path))
        cache = cache.loc[:, list(CACHE_COLUMNS)]
        cache["date"] = pd.to_datetime(cache["date"]).astype("datetime64[ns]")
    except (OSError, ValueError, TypeError, pa.ArrowException) as error:
        _set_aside(path, str(error))
        return _empty_cache()
    return cache


def _empty_cache() -> pd.DataFrame:
    table = pd.DataFrame({column: pd.Series(dtype=float) for column in CACHE_COLUMNS})
    return table.astype({"commune": object, "provider": object, "date": "datetime64[ns]"})


def _set_aside(path: Path, problem: str) -> None:
    """Rename a bad cache to ``*.corrupt`` (never over an earlier one); the next run rebuilds it."""
    target = path.with_name(path.name + ".corrupt")
    number = 1
    while target.exists():
        number += 1
        target = path.with_name(f"{path.name}.corrupt{number}")
    path.replace(target)
    LOGGER.warning(
        "weather cache %s is unusable (%s); moved it to %s, downloading anew", path, problem, target
    )


def _missing_spans(
    cache: pd.DataFrame, points: Sequence[WeatherPoint], start: dt.date, end: dt.date
) -> Iterator[tuple[WeatherPoint, dt.date, dt.date]]:
    """(point, first, last) runs of consecutive days the cache lacks, each at most a year long."""
    asked = pd.date_range(start, end, freq="D")
    for point in points:
        have = pd.DatetimeIndex(cache.loc[cache["commune"] == point.commune, "date"])
        missing = asked.difference(have)
        if missing.empty:
            continue
        run = (missing.to_series().diff() != pd.Timedelta(days=1)).cumsum()
        for _, days in missing.to_series().groupby(run.to_numpy()):
            for offset in range(0, len(days), MAX_DAYS_PER_REQUEST):
                chunk = days.iloc[offset : offset + MAX_DAYS_PER_REQUEST]
                yield point, chunk.iloc[0].date(), chunk.iloc[-1].date()


def _cacheable(
    days: pd.DataFrame, point: WeatherPoint, provider: DailyProvider, *, today: dt.date
) -> pd.DataFrame:
    """Rows to cache: without the all-empty recent days the provider does not have yet."""
    known = days[list(WEATHER_COLUMNS[2:])].notna().any(axis=1).to_numpy()
    recent = (days["date"] >= pd.Timestamp(today - dt.timedelta(days=RECENT_DAYS))).to_numpy()
    not_yet = ~known & recent
    if not_yet.any():
        LOGGER.info(
            "%s has no data yet for %s on %d recent day(s) from %s; asking again next run",
            provider.name,
            point.describe(),
            int(not_yet.sum()),
            f"{days['date'][not_yet].min():%Y-%m-%d}",
        )
    rows = days.loc[~not_yet].copy()
    rows.insert(0, "commune", point.commune)
    rows["provider"] = provider.name
    rows["latitude"] = point.latitude
    rows["longitude"] = point.longitude
    return rows.loc[:, list(CACHE_COLUMNS)]


def _merged(cache: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    if rows.empty:
        return cache
    merged = pd.concat([cache, rows], ignore_index=True) if len(cache) else rows
    merged = merged.drop_duplicates(["commune", "date"], keep="last")
    return merged.sort_values(["commune", "date"]).reset_index(drop=True)


def _write_cache(cache: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as temporary:
        cache.to_parquet(temporary, index=False)


def _weather_of(
    source: WeatherApiSourceConfig, points: Sequence[WeatherPoint], start: dt.date, end: dt.date
) -> pd.DataFrame:
    """The checked cache's rows of these points and days, as a weather table."""
    if not source.cache.exists():
        weather = pd.DataFrame(columns=list(WEATHER_COLUMNS))
    else:
        weather = read_weather(source.cache)
    inside = weather["commune"].isin([p.commune for p in points]) & weather["date"].between(
        pd.Timestamp(start), pd.Timestamp(end)
    )
    weather = weather.loc[inside, list(WEATHER_COLUMNS)].reset_index(drop=True)
    empty = [p for p in points if not (weather["commune"] == p.commune).any()]
    if empty:
        raise DataError(
            f"{source.provider} has no weather for {empty[0].describe()} (and "
            f"{len(empty) - 1} more commune(s)) on any day {start} … {end}; check the "
            "imagery window, or try again later if these days are recent"
        )
    return weather


# --- forecasts -------------------------------------------------------------------------------


def fetch_weather_forecast(
    points: Sequence[WeatherPoint],
    *,
    issued: dt.date,
    days: int = 7,
    timezone: str = "Asia/Ho_Chi_Minh",
    base_url: str | None = None,
    settings: HttpSettings | None = None,
) -> pd.DataFrame:
    """Open-Meteo's daily forecast for the ``days`` days after ``issued``, per point.

    Columns :data:`FORECAST_COLUMNS`; ``lead_days`` 1 is the day after ``issued``. The forecast
    API serves its latest run, so ``issued`` should be today (region time): for an earlier date
    the answer is what the API holds now for those days, not what was forecast then — never use
    it to backtest. Checked like observations (units, every day, plausible values); not cached.
    """
    if not 1 <= days <= MAX_FORECAST_DAYS:
        raise DataError(f"a forecast covers 1 … {MAX_FORECAST_DAYS} days, not {days}")
    first, last = issued + dt.timedelta(days=1), issued + dt.timedelta(days=days)
    with JsonGetter(settings or HttpSettings()) as http:
        frames = [
            _forecast_rows(
                point, first, last, issued, http=http, timezone=timezone, base_url=base_url
            )
            for point in points
        ]
    if not frames:
        return pd.DataFrame(columns=list(FORECAST_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def _forecast_rows(
    point: WeatherPoint,
    first: dt.date,
    last: dt.date,
    issued: dt.date,
    *,
    http: JsonGetter,
    timezone: str,
    base_url: str | None,
) -> pd.DataFrame:
    rows = fetch_daily(
        OPEN_METEO_FORECAST,
        point,
        first,
        last,
        http=http,
        timezone=timezone,
        base_url=base_url,
        credentials=_credentials("open-meteo"),
    )
    rows.insert(0, "issued", pd.Timestamp(issued))
    rows.insert(1, "commune", point.commune)
    rows.insert(3, "lead_days", (rows["date"] - pd.Timestamp(issued)).dt.days.astype("int64"))
    return rows.loc[:, list(FORECAST_COLUMNS)]
