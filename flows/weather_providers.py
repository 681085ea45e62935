"""Open-Meteo and NASA POWER daily weather: what to ask, and how to read and check the answer.

=================  ===================================  =======================================
column             Open-Meteo (archive, forecast)       NASA POWER daily point API (``AG``)
=================  ===================================  =======================================
``tmin_c``         ``temperature_2m_min`` (°C)          ``T2M_MIN`` (C)
``tmax_c``         ``temperature_2m_max`` (°C)          ``T2M_MAX`` (C)
``rh_mean_pct``    ``relative_humidity_2m_mean`` (%)    ``RH2M`` (%)
``rh_max_pct``     ``relative_humidity_2m_max`` (%)     estimated: :func:`rh_max_from_dew_point`
``rain_mm``        ``precipitation_sum`` (mm)           ``PRECTOTCORR`` (mm/day)
=================  ===================================  =======================================

Both are asked for pestcast's units, so nothing is converted: the answer's units (Open-Meteo's
``daily_units``, POWER's ``parameters``) are checked instead, and an answer in °F, inches or any
other unit is refused. Days are local: Open-Meteo aggregates hours by the region's time zone
(``timezone=Asia/Ho_Chi_Minh``); POWER's daily values are in local solar time, which for the delta
(104.5–106.8° E, inside the 97.5–112.5° E band of UTC+7) is the same day as Vietnam's clock.

POWER has no daily maximum relative humidity, so ``rh_max_pct`` is estimated from the day's dew
point ``T2MDEW`` and minimum temperature (see :func:`rh_max_from_dew_point`): leaving it empty
would silently zero the blast-wetness and humid-run features, which count days with RH max ≥ 90 %.
POWER marks missing values with its ``header.fill_value`` (−999); they become NaN. POWER's grid is
0.5° × 0.625° (MERRA-2), so neighbouring communes often get the same values.

Every answer is checked before it is kept: its units, that it holds exactly the days asked for
(a missing day is an error naming the provider, URL, commune and day), and that each value lies in
:data:`pestcast.flows.tables.WEATHER_RANGES` with ``tmin ≤ tmax`` and ``rh_mean ≤ rh_max``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from pestcast.core.errors import DataError
from pestcast.features.weather import WEATHER_COLUMNS
from pestcast.flows.tables import WEATHER_RANGES
from pestcast.flows.weather_http import JsonGetter, public_url

__all__ = [
    "DAILY_PROVIDERS",
    "NASA_POWER",
    "OPEN_METEO_ARCHIVE",
    "OPEN_METEO_DAILY",
    "OPEN_METEO_FORECAST",
    "POWER_DAILY",
    "POWER_FILL_VALUE",
    "DailyProvider",
    "DailyRequest",
    "WeatherPoint",
    "fetch_daily",
    "rh_max_from_dew_point",
]

LOGGER = logging.getLogger(__name__)

VALUE_COLUMNS = WEATHER_COLUMNS[2:]
"""The five daily values (after ``commune`` and ``date``)."""

OPEN_METEO_DAILY: dict[str, tuple[str, str]] = {
    "temperature_2m_min": ("tmin_c", "°C"),
    "temperature_2m_max": ("tmax_c", "°C"),
    "relative_humidity_2m_mean": ("rh_mean_pct", "%"),
    "relative_humidity_2m_max": ("rh_max_pct", "%"),
    "precipitation_sum": ("rain_mm", "mm"),
}
"""Open-Meteo daily variable → (pestcast column, the unit its ``daily_units`` must give)."""

POWER_DAILY: dict[str, tuple[str, str]] = {
    "T2M_MIN": ("tmin_c", "C"),
    "T2M_MAX": ("tmax_c", "C"),
    "RH2M": ("rh_mean_pct", "%"),
    "PRECTOTCORR": ("rain_mm", "mm/day"),
    "T2MDEW": ("dew_point_c", "C"),
}
"""POWER parameter → (column, the unit its ``parameters`` must give); the dew point only serves
to estimate ``rh_max_pct``."""

POWER_FILL_VALUE = -999.0
"""POWER's missing-value marker, used when an answer's ``header.fill_value`` does not say."""


@dataclass(frozen=True)
class WeatherPoint:
    """Where one commune's weather is asked for."""

    commune: str
    latitude: float
    """WGS84 degrees north."""
    longitude: float
    """WGS84 degrees east."""
    station: str | None = None
    """The configured station this point is (None: the commune's parcel centroid)."""

    def describe(self) -> str:
        """``commune 'X' (station 'S') at lat, lon`` (no station for a centroid), for messages."""
        station = f" (station {self.station!r})" if self.station else ""
        return f"commune {self.commune!r}{station} at {self.latitude:.4f}, {self.longitude:.4f}"


@dataclass(frozen=True)
class DailyRequest:
    """One request: a point and the days ``start`` … ``end`` (both included)."""

    provider: str
    url: str
    params: Mapping[str, str]
    point: WeatherPoint
    start: dt.date
    end: dt.date

    @property
    def where(self) -> str:
        """Provider, URL (without keys) and point, for messages."""
        return f"{self.provider} {public_url(self.url, self.params)} ({self.point.describe()})"

    @property
    def asked(self) -> str:
        """Point and days, for messages."""
        return f"{self.point.describe()}, {self.start} … {self.end}"


@dataclass(frozen=True)
class DailyProvider:
    """A daily weather API: its name, default URL, query and answer parser."""

    name: str
    url: str
    query: Callable[[WeatherPoint, dt.date, dt.date, str], dict[str, str]]
    """Query parameters for a point, first and last day and the region's time zone."""
    parse: Callable[[Any, DailyRequest], pd.DataFrame]
    """``date`` and the five value columns from one decoded JSON answer (units checked)."""


# --- Open-Meteo ------------------------------------------------------------------------------


def _open_meteo_query(
    point: WeatherPoint, start: dt.date, end: dt.date, timezone: str
) -> dict[str, str]:
    return {
        "latitude": f"{point.latitude:.4f}",
        "longitude": f"{point.longitude:.4f}",
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "daily": ",".join(OPEN_METEO_DAILY),
        "timezone": timezone,
        "temperature_unit": "celsius",
        "precipitation_unit": "mm",
    }


def _parse_open_meteo(answer: Any, request: DailyRequest) -> pd.DataFrame:
    daily = _member(answer, "daily", request)
    units = _member(answer, "daily_units", request)
    if not _same_time_zone(answer, request):
        raise DataError(
            f"{request.where}: the answer is for time zone {answer.get('timezone')!r}, not "
            f"{request.params['timezone']!r} as asked, so its days would be other days; check "
            "sources.weather.base_url"
        )
    expected = {"time": "iso8601"} | {name: unit for name, (_, unit) in OPEN_METEO_DAILY.items()}
    _require_units(units, expected, request, member="daily_units")
    columns = {"date": daily.get("time")} | {
        column: daily.get(name) for name, (column, _) in OPEN_METEO_DAILY.items()
    }
    return _table(columns, request, date_format="%Y-%m-%d")


def _same_time_zone(answer: dict[str, Any], request: DailyRequest) -> bool:
    """Whether the answer's days are the asked time zone's: same name, or same UTC offset."""
    asked = request.params["timezone"]
    if answer.get("timezone") == asked:
        return True
    noon = dt.datetime.combine(request.start, dt.time(12), tzinfo=zoneinfo.ZoneInfo(asked))
    offset = noon.utcoffset()
    return offset is not None and answer.get("utc_offset_seconds") == offset.total_seconds()


# --- NASA POWER ------------------------------------------------------------------------------


def _power_query(
    point: WeatherPoint, start: dt.date, end: dt.date, _timezone: str
) -> dict[str, str]:
    return {
        "parameters": ",".join(POWER_DAILY),
        "community": "AG",
        "longitude": f"{point.longitude:.4f}",
        "latitude": f"{point.latitude:.4f}",
        "start": f"{start:%Y%m%d}",
        "end": f"{end:%Y%m%d}",
        "format": "JSON",
        "time-standard": "LST",
    }


def _parse_power(answer: Any, request: DailyRequest) -> pd.DataFrame:
    properties = _member(answer, "properties", request)
    parameter = _member(properties, "parameter", request, parent="properties")
    units = {
        name: about.get("units") if isinstance(about, dict) else None
        for name, about in _member(answer, "parameters", request).items()
    }
    _require_units(
        units, {name: unit for name, (_, unit) in POWER_DAILY.items()}, request, member="parameters"
    )
    fill = _member(answer, "header", request).get("fill_value", POWER_FILL_VALUE)
    series: dict[str, dict[str, Any]] = {
        column: values
        for name, (column, _) in POWER_DAILY.items()
        if isinstance(values := parameter.get(name), dict) and values
    }
    missing = [name for name, (column, _) in POWER_DAILY.items() if column not in series]
    if missing:
        raise DataError(
            f"{request.where}: the answer has no values for {', '.join(missing)} in "
            "properties.parameter; check sources.weather.base_url"
        )
    days = sorted(set().union(*(values.keys() for values in series.values())))
    columns = {"date": days} | {
        column: [_unless_fill(values.get(day), fill) for day in days]
        for column, values in series.items()
    }
    table = _table(columns, request, date_format="%Y%m%d")
    table["rh_max_pct"] = rh_max_from_dew_point(
        table["tmin_c"], table.pop("dew_point_c"), table["rh_mean_pct"]
    )
    return table[["date", *VALUE_COLUMNS]]


def _unless_fill(value: Any, fill: Any) -> Any:
    if isinstance(value, int | float) and isinstance(fill, int | float):
        return None if math.isclose(value, fill) else value
    return value


def rh_max_from_dew_point(
    tmin_c: npt.ArrayLike, dew_point_c: npt.ArrayLike, rh_mean_pct: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Daily maximum relative humidity (%) estimated from the dew point and minimum temperature.

    RH peaks near dawn, at the day's minimum temperature; with the day's actual vapour pressure
    ``e_a = e°(T_dew)`` (FAO-56, Allen et al. 1998, eq. 14; ``e°`` its eq. 11, kPa) the maximum is
    ``100 · e°(T_dew) / e°(T_min)`` — FAO-56 eq. 17 read backwards, taking ``e_a`` constant over
    the day. The result is at least the day's mean RH (when known) and at most 100 %; NaN if
    the dew point or minimum temperature is.
    """
    dew = np.asarray(dew_point_c, dtype=np.float64)
    tmin = np.asarray(tmin_c, dtype=np.float64)
    mean = np.asarray(rh_mean_pct, dtype=np.float64)
    estimate = 100.0 * _saturation_kpa(dew) / _saturation_kpa(tmin)
    at_least_mean = np.where(np.isnan(mean), estimate, np.maximum(estimate, mean))
    return np.minimum(at_least_mean, 100.0)


def _saturation_kpa(temperature_c: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Saturation vapour pressure (kPa) over water at ``temperature_c`` (FAO-56 eq. 11)."""
    result: npt.NDArray[np.float64] = 0.6108 * np.exp(
        17.27 * temperature_c / (temperature_c + 237.3)
    )
    return result


# --- answers ---------------------------------------------------------------------------------


def _member(
    answer: Any, key: str, request: DailyRequest, *, parent: str = "the answer"
) -> dict[str, Any]:
    value = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(value, dict):
        raise DataError(
            f"{request.where}: {parent} has no {key!r} object, so it is not a {request.provider} "
            "daily answer; check sources.weather.base_url"
        )
    return value


def _require_units(
    units: Mapping[str, Any], expected: Mapping[str, str], request: DailyRequest, *, member: str
) -> None:
    for name, unit in expected.items():
        if units.get(name) != unit:
            raise DataError(
                f"{request.where}: {member} gives {name} in {units.get(name)!r}, not {unit!r} "
                f"as pestcast asks; nothing is converted, so the answer is refused (a server "
                f"set to °F or inches, or another variable): check sources.weather.base_url"
            )


def _table(columns: Mapping[str, Any], request: DailyRequest, *, date_format: str) -> pd.DataFrame:
    lengths = {name: len(v) if isinstance(v, list) else None for name, v in columns.items()}
    if None in lengths.values() or len(set(lengths.values())) != 1:
        raise DataError(
            f"{request.where}: the answer's daily lists are missing or of different lengths "
            f"({lengths}); it cannot be read"
        )
    days = pd.to_datetime(
        pd.Series(columns["date"], dtype=object), format=date_format, errors="coerce"
    )
    if days.isna().any():
        bad = columns["date"][int(np.flatnonzero(days.isna())[0])]
        raise DataError(f"{request.where}: {bad!r} in the answer is not a day ({date_format})")
    table = pd.DataFrame({"date": days.astype("datetime64[ns]")})
    for name, values in columns.items():
        if name != "date":
            table[name] = _numbers(values, name, table["date"], request)
    return table


def _numbers(values: list[Any], name: str, days: pd.Series, request: DailyRequest) -> pd.Series:
    """Float values, NaN for JSON null; anything that is not a number is an error."""
    wrong = [i for i, v in enumerate(values) if v is not None and not _is_number(v)]
    if wrong:
        raise DataError(
            f"{request.where}: {name} on {days.iloc[wrong[0]]:%Y-%m-%d} is {values[wrong[0]]!r}, "
            "not a number"
        )
    return pd.Series([math.nan if v is None else float(v) for v in values], dtype=float)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --- checks ----------------------------------------------------------------------------------


def _require_days(table: pd.DataFrame, request: DailyRequest) -> pd.DataFrame:
    """``table`` sorted by day if it holds each day asked for exactly once, else a DataError."""
    asked = pd.date_range(request.start, request.end, freq="D")
    days = pd.DatetimeIndex(table["date"])
    repeated = days[days.duplicated()]
    if len(repeated):
        raise DataError(f"{request.where}: the answer gives {repeated[0]:%Y-%m-%d} twice")
    extra = days.difference(asked)
    if len(extra):
        raise DataError(
            f"{request.where}: the answer holds {len(extra)} day(s) not asked for "
            f"({request.start} … {request.end}), first {extra[0]:%Y-%m-%d}; check "
            "sources.weather.base_url"
        )
    missing = asked.difference(days)
    if len(missing):
        raise DataError(
            f"{request.where}: the answer lacks {len(missing)} of the {len(asked)} days asked "
            f"for, first {missing[0]:%Y-%m-%d}; the provider skipped days: try again later, or "
            "use another provider (sources.weather.provider)"
        )
    return table.sort_values("date").reset_index(drop=True)


def _require_plausible(table: pd.DataFrame, request: DailyRequest) -> None:
    """Each value in :data:`WEATHER_RANGES`; ``tmin ≤ tmax`` and ``rh_mean ≤ rh_max``."""
    for column, (low, high, unit) in WEATHER_RANGES.items():
        bad = (table[column] < low) | (table[column] > high)
        _refuse_first(
            table,
            bad,
            request,
            f"{column} = {{}} {unit} is outside {low:g}…{high:g} {unit}",
            column,
        )
    for lower, upper in (("tmin_c", "tmax_c"), ("rh_mean_pct", "rh_max_pct")):
        bad = table[lower] > table[upper]
        _refuse_first(table, bad, request, f"{lower} = {{}} is above {upper}", lower)


def _refuse_first(
    table: pd.DataFrame, bad: pd.Series, request: DailyRequest, problem: str, column: str
) -> None:
    if not bad.any():
        return
    first = int(np.flatnonzero(bad.to_numpy())[0])
    value = float(table[column].iloc[first])
    raise DataError(
        f"{request.where}: on {table['date'].iloc[first]:%Y-%m-%d} {problem.format(f'{value:g}')} "
        f"({int(bad.sum())} day(s) like this); the provider's data is implausible: report it to "
        "the provider, or use another (sources.weather.provider)"
    )


# --- requests --------------------------------------------------------------------------------

OPEN_METEO_ARCHIVE = DailyProvider(
    name="open-meteo",
    url="https://archive-api.open-meteo.com/v1/archive",
    query=_open_meteo_query,
    parse=_parse_open_meteo,
)
"""Open-Meteo's historical weather API (reanalysis: ERA5, ERA5-Land and others)."""

OPEN_METEO_FORECAST = DailyProvider(
    name="open-meteo forecast",
    url="https://api.open-meteo.com/v1/forecast",
    query=_open_meteo_query,
    parse=_parse_open_meteo,
)
"""Open-Meteo's forecast API: the same daily variables and answer, from its latest run."""

NASA_POWER = DailyProvider(
    name="nasa-power",
    url="https://power.larc.nasa.gov/api/temporal/daily/point",
    query=_power_query,
    parse=_parse_power,
)
"""NASA POWER's daily point API, agroclimatology community (MERRA-2 and GEOS near real time)."""

DAILY_PROVIDERS: dict[str, DailyProvider] = {
    "open-meteo": OPEN_METEO_ARCHIVE,
    "nasa-power": NASA_POWER,
}
"""Provider of daily observations by its name in ``sources.weather.provider``."""


def fetch_daily(
    provider: DailyProvider,
    point: WeatherPoint,
    start: dt.date,
    end: dt.date,
    *,
    http: JsonGetter,
    timezone: str,
    base_url: str | None = None,
    credentials: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One point's daily weather ``start`` … ``end``: ``date`` and the five value columns.

    Checked as the module says: units, every day asked for present once, plausible values.
    ``credentials`` are extra query parameters (e.g. Open-Meteo's ``apikey``), never shown.
    """
    request = DailyRequest(
        provider=provider.name,
        url=base_url or provider.url,
        params=provider.query(point, start, end, timezone) | dict(credentials or {}),
        point=point,
        start=start,
        end=end,
    )
    answer = http.get(request.url, request.params, provider=provider.name, asked=request.asked)
    table = _require_days(provider.parse(answer, request), request)
    _require_plausible(table, request)
    return table
