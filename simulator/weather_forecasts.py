"""Numerical weather forecasts of the demo region: the run issued each day for the next 14 days.

Each day's 00 UTC run (07:00 in Viet Nam, available that morning) forecasts every commune's daily
weather for the valid days ``issued + 1 … issued + 14`` (``lead_days`` 1 … 14), for the variables
of :mod:`simulator.weather`. A forecast is the realised weather's predictable part, faded with
lead, plus a made-up part of the climate's size (a deterministic run drifts to *a* plausible
weather, not to the climate mean)::

    forecast anomaly = ρ(L) · truth anomaly + √(1 − ρ(L)²) · σ · ε,   ρ(L) = ρ₁ · exp(−((L − 1)/τ)²)

Temperatures and humidity work on the region-mean anomaly from the daily normals (σ: its
31-day running standard deviation); rain on the region-mean rain's normal score within a ±30-day
season window, mapped back through that window's rain distribution (so forecasts have the
climate's dry-day share and amounts: unbiased in distribution, as after quantile mapping). The
commune-to-commune noise of the realised weather is never predictable (it is the gap between a
grid box and a rain gauge). The error mean squared then grows from ``2(1 − ρ₁)σ²`` + local noise
towards ``2σ²`` + local noise: twice the climate variance, the saturation of a single run.

=====================  ===========  ==============================================================
parameter              value        source
=====================  ===========  ==============================================================
ρ₁, τ temperatures     0.85, 8.5 d  ECMWF HRES 2 m temperature keeps an anomaly correlation
                                    ≥ 0.6 to about day 10 in the global mean (Chen et al. 2023,
                                    FuXi, npj Clim. Atmos. Sci. 6:190, Fig. 1, 2018); [A] in the
                                    tropics, where day-to-day variability is small and driven by
                                    clouds and rain, 0.6 is reached at day 6 and skill is nearly
                                    gone (ρ 0.08) by day 14. Day-1 error is not small relative to
                                    the signal: "temperature errors often don't depend strongly
                                    on the forecast range" (ECMWF Forecast User Guide, 2 m
                                    temperature errors).
bias tmax / tmin       −0.3 / +0.3  ECMWF underestimates daily maxima and overestimates minima
                       °C           over land (Lopes, Dutra & Boussetta 2024, Atmosphere 15:93);
                                    systematic 2 m temperature errors are generally < 0.5 °C
                                    (ECMWF Forecast User Guide).
ρ₁, τ humidity         0.8, 7 d     [A] between temperature and rain: humidity follows the rain
                                    regime.
ρ₁, τ rain             0.55, 5 d    24-h tropical rain is barely better than climatology even at
                                    day 1: raw ensembles lose to climatology over northern
                                    tropical Africa for 1–5-day rain, post-processed ones at best
                                    match it (Vogel et al. 2018, Wea. Forecasting 33:369,
                                    doi:10.1175/WAF-D-17-0127.1); over the wider tropics
                                    post-processed day-1 forecasts gain modest skill (Vogel et al.
                                    2020, Wea. Forecasting 35:2367, doi:10.1175/WAF-D-20-0082.1)
                                    and ECMWF's day-1 amounts are only slightly better than a
                                    climatological ensemble over most low latitudes (Walz et al.
                                    2021, doi:10.1175/WAF-D-20-0233.1); skill of up to 30 % over
                                    climatology decreases with lead (Ageet, Fink, Maranan &
                                    Schulz, "Predictability of rainfall over equatorial East
                                    Africa in the ECMWF ensemble reforecasts on short- to
                                    medium-range time scales"). Here ρ falls to 0.29
                                    at day 5, 0.13 at day 7 and 0.02 at day 10: climatology.
error correlation      climate's    the made-up part is a plausible weather sequence: from one
                       / lead       valid day to the next it persists as the variable does in the
                                    simulated climate (lag-1 autocorrelation of its scores), so
                                    window sums have the climate's spread;
                       0.8 / run    [A] successive runs' forecasts of the same day agree (run-to-run
                                    consistency), so a missing run is nearly replaced by the one
                                    before;
                       90 % shared  and the communes (a few km apart, inside one or two 9 km
                                    model grid boxes) share 90 % of the error variance.
cross-variable         climate's    the made-up part has the realised weather's correlation
                                    between variables (a forecast wet day is cooler and more
                                    humid), estimated from the simulated truth.
=====================  ===========  ==============================================================

[A] marks a judgement. Measured on the demo region's weather (seed 42, runs issued 2021-03-03 …
2024-12-31, against each commune's realised weather): tmax RMSE 0.87 / 1.37 / 1.93 °C at day
1 / 7 / 14 (the daily normal's: 1.41 °C), tmin 0.48 / 0.67 / 0.92 °C (0.65), mean RH 2.1 / 3.4 /
4.3 % (3.2); rain correlation 0.46 / 0.13 / 0.05; bias tmax −0.3, tmin +0.3 °C, rain within
10 %. A week's forecast rain (t + 1 … t + 7) correlates 0.39 with what fell, the monthly normal
0.60: beyond its first days a single run adds little to climatology for rain (partial
correlation 0.11), while the week's forecast mean temperature correlates 0.92.

Rain forecasts follow the region-mean rain, which is dry less often than
a single commune (local dry spots, :data:`simulator.weather.LOCAL_DRY_SHARE`): like a model
grid box, the forecast rains lightly on more days than a gauge sees.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import ndtr, ndtri

from pestcast.core.errors import ConfigError
from pestcast.simulator.weather import DailyWeather, daily_normals

__all__ = [
    "FORECAST_LEADS_DAYS",
    "FORECAST_SKILL",
    "FORECAST_VARIABLES",
    "LeadSkill",
    "simulate_weather_forecasts",
]

FloatArray = npt.NDArray[np.float64]

FORECAST_LEADS_DAYS = 14
"""Each run forecasts the 14 days after its issue date."""
FORECAST_VARIABLES = ("tmin_c", "tmax_c", "rh_mean_pct", "rh_max_pct", "rain_mm")
_ANOMALY_VARIABLES = FORECAST_VARIABLES[:4]

RUN_PERSISTENCE = 0.8
"""Correlation of successive runs' errors for the same valid day [A]."""
SHARED_ERROR_SHARE = 0.9
"""Share of the error variance common to all communes (same synoptic error) [A]."""
SEASON_WINDOW_DAYS = 30
"""Half-width of the day-of-year window whose rain distribution a rain forecast is drawn from."""
ANOMALY_SD_WINDOW_DAYS = 31


@dataclass(frozen=True)
class LeadSkill:
    """Anomaly correlation of the forecast with the truth: ρ₁ · exp(−((L − 1)/τ)²)."""

    first_day: float
    """ρ₁, the correlation at lead 1."""
    decay_days: float
    """τ, days over which the correlation fades (it falls to ρ₁/e at lead 1 + τ)."""
    bias: float = 0.0
    """Added to every forecast, in the variable's unit."""

    def correlation(self, leads: npt.ArrayLike) -> FloatArray:
        lead = np.asarray(leads, dtype=np.float64)
        return self.first_day * np.exp(-(((lead - 1.0) / self.decay_days) ** 2))


FORECAST_SKILL = {
    "tmin_c": LeadSkill(0.85, 8.5, bias=0.3),
    "tmax_c": LeadSkill(0.85, 8.5, bias=-0.3),
    "rh_mean_pct": LeadSkill(0.8, 7.0),
    "rh_max_pct": LeadSkill(0.8, 7.0),
    "rain_mm": LeadSkill(0.55, 5.0),
}
"""Skill of each variable (see the module table for the sources)."""


def simulate_weather_forecasts(
    weather: DailyWeather,
    communes: list[str],
    *,
    last_issue: dt.date,
    rng: np.random.Generator,
    first_issue: dt.date | None = None,
) -> pd.DataFrame:
    """Forecasts issued every day from ``first_issue`` (default: the weather's first day) to
    ``last_issue``.

    Long table, one row per issue date × commune × lead: ``issued``, ``valid_date`` (days),
    ``lead_days`` (1 … 14, ``valid_date − issued``), ``commune`` and the weather columns of
    :data:`FORECAST_VARIABLES` (°C, %, mm; one decimal). Every valid day must be simulated.
    """
    first = first_issue or weather.first_day
    issues = np.arange((first - weather.first_day).days, (last_issue - weather.first_day).days + 1)
    if issues.size == 0 or issues[0] < 0 or issues[-1] + FORECAST_LEADS_DAYS >= weather.n_days:
        raise ConfigError(
            f"forecasts issued {first} … {last_issue} need weather up to "
            f"{last_issue + dt.timedelta(days=FORECAST_LEADS_DAYS)}; simulate a longer period"
        )
    leads = np.arange(1, FORECAST_LEADS_DAYS + 1)
    valid = issues[:, None] + leads[None, :]
    signals = _standard_signals(weather, rng)
    noise = _forecast_noise(signals, len(issues), len(communes), rng)
    values = {}
    for k, name in enumerate(FORECAST_VARIABLES):
        skill = FORECAST_SKILL[name]
        rho = skill.correlation(leads)[None, :, None]
        score = rho * signals.scores[name][valid][..., None] + np.sqrt(1 - rho**2) * noise[..., k]
        values[name] = signals.to_values(name, score, valid) + skill.bias
    return _long_table(_consistent(values), issues, leads, communes, weather.first_day)


@dataclass(frozen=True)
class _Signals:
    """The region's daily weather as standard scores, and the way back to values."""

    scores: dict[str, FloatArray]
    """Per variable, one standard score per simulated day."""
    normals: dict[str, FloatArray]
    spread: dict[str, FloatArray]
    rain_sorted: FloatArray
    """(day, sample) region rain of each day's season window, ascending, +inf padded."""
    rain_count: npt.NDArray[np.int64]

    def to_values(self, name: str, score: FloatArray, valid: npt.NDArray[np.int64]) -> FloatArray:
        """Scores of shape (issue, lead, commune) on valid days ``valid`` back to the unit."""
        day = valid[..., None]
        if name != "rain_mm":
            return self.normals[name][day] + self.spread[name][day] * score
        count = self.rain_count[day]
        rank = np.minimum((ndtr(score) * count).astype(np.int64), count - 1)
        rain = self.rain_sorted[day, rank]
        return np.where(rain < 0.1, 0.0, rain)


def _standard_signals(weather: DailyWeather, rng: np.random.Generator) -> _Signals:
    normals = daily_normals(weather.dates())
    scores, spread = {}, {}
    for name in _ANOMALY_VARIABLES:
        anomaly = getattr(weather, name).mean(axis=1) - normals[name]
        normals[name] = normals[name] + anomaly.mean()  # the simulated climate's own mean
        anomaly = anomaly - anomaly.mean()
        rolling = pd.Series(anomaly).rolling(ANOMALY_SD_WINDOW_DAYS, center=True, min_periods=5)
        spread[name] = rolling.std().bfill().ffill().to_numpy()
        scores[name] = anomaly / spread[name]
    rain = weather.rain_mm.mean(axis=1)
    window = _season_window(weather.dates())
    scores["rain_mm"] = _rain_scores(rain, window, rng)
    return _Signals(
        scores=scores,
        normals=normals,
        spread=spread,
        rain_sorted=np.sort(np.where(window, rain[None, :], np.inf), axis=1),
        rain_count=window.sum(axis=1),
    )


def _season_window(dates: pd.DatetimeIndex) -> npt.NDArray[np.bool_]:
    """(day, day) True where the second day is within ±30 days of the first's day of year."""
    doy = dates.day_of_year.to_numpy()
    gap = np.abs(doy[:, None] - doy[None, :])
    return np.minimum(gap, 365 - gap) <= SEASON_WINDOW_DAYS  # type: ignore[no-any-return]


def _rain_scores(
    rain: FloatArray, window: npt.NDArray[np.bool_], rng: np.random.Generator
) -> FloatArray:
    """Normal score of each day's rain within its season window (ties, e.g. dry days, spread
    uniformly over their share)."""
    below = (window & (rain[None, :] < rain[:, None])).sum(axis=1)
    tied = (window & (rain[None, :] == rain[:, None])).sum(axis=1)
    share = (below + rng.uniform(0.0, 1.0, rain.size) * tied) / window.sum(axis=1)
    return ndtri(np.clip(share, 1e-4, 1 - 1e-4))  # type: ignore[no-any-return]


def _forecast_noise(
    signals: _Signals, n_issues: int, n_communes: int, rng: np.random.Generator
) -> FloatArray:
    """(issue, lead, commune, variable) standard noise: correlated along lead as each variable
    is from day to day, between runs, between communes and, like the climate, between variables.
    """
    scores = np.column_stack([signals.scores[name] for name in FORECAST_VARIABLES])
    field = np.stack(
        [
            _run_field(n_issues, 1 + n_communes, rng, lead_persistence=_day_to_day(score))
            for score in scores.T
        ],
        axis=-1,
    )
    field = field @ np.linalg.cholesky(np.corrcoef(scores, rowvar=False)).T
    shared, local = field[:, :, :1], field[:, :, 1:]
    return np.sqrt(SHARED_ERROR_SHARE) * shared + np.sqrt(1 - SHARED_ERROR_SHARE) * local  # type: ignore[no-any-return]


def _day_to_day(score: FloatArray) -> float:
    """Lag-1 autocorrelation of a daily series (0 … 0.95)."""
    return float(np.clip(np.corrcoef(score[1:], score[:-1])[0, 1], 0.0, 0.95))


def _run_field(
    n_issues: int, n_series: int, rng: np.random.Generator, *, lead_persistence: float
) -> FloatArray:
    """(issue, lead, series) unit-variance noise, correlation ``lead_persistence``^Δlead along a
    run and RUN_PERSISTENCE^Δrun between runs for the same valid day.

    Each run keeps one lead more than it publishes, so the next run's last lead has a
    predecessor.
    """
    step = _Ar1(lead_persistence)
    shocks = rng.standard_normal((n_issues, FORECAST_LEADS_DAYS, n_series))
    fresh = np.empty_like(shocks)
    fresh[:, 0] = shocks[:, 0]
    for lead in range(1, FORECAST_LEADS_DAYS):
        fresh[:, lead] = step(fresh[:, lead - 1], shocks[:, lead])
    beyond = rng.standard_normal((n_issues, n_series))
    field = np.empty((n_issues, FORECAST_LEADS_DAYS + 1, n_series))
    keep, renew = RUN_PERSISTENCE, np.sqrt(1 - RUN_PERSISTENCE**2)
    field[0, :-1] = fresh[0]
    field[0, -1] = step(field[0, -2], beyond[0])
    for issue in range(1, n_issues):
        field[issue, :-1] = keep * field[issue - 1, 1:] + renew * fresh[issue]
        field[issue, -1] = step(field[issue, -2], beyond[issue])
    return field[:, :-1]


@dataclass(frozen=True)
class _Ar1:
    """One step of a stationary unit-variance AR(1) with lag-1 correlation ``phi``."""

    phi: float

    def __call__(self, last: FloatArray, shock: FloatArray) -> FloatArray:
        return self.phi * last + np.sqrt(1 - self.phi**2) * shock  # type: ignore[no-any-return]


def _consistent(values: dict[str, FloatArray]) -> dict[str, FloatArray]:
    """Physical order kept: tmin ≤ tmax, RH within 0–100 %, rh_mean ≤ rh_max."""
    rh_mean = np.clip(values["rh_mean_pct"], 0.0, 100.0)
    return values | {
        "tmin_c": np.minimum(values["tmin_c"], values["tmax_c"]),
        "rh_mean_pct": rh_mean,
        "rh_max_pct": np.clip(np.maximum(values["rh_max_pct"], rh_mean), None, 100.0),
    }


def _long_table(
    values: dict[str, FloatArray],
    issues: npt.NDArray[np.int64],
    leads: npt.NDArray[np.int64],
    communes: list[str],
    first_day: dt.date,
) -> pd.DataFrame:
    """Rows ordered by issue date, commune and lead."""
    n_issues, n_leads, n_communes = len(issues), len(leads), len(communes)
    day_zero = np.datetime64(first_day, "D")
    issued = np.repeat(day_zero + issues, n_communes * n_leads)
    lead = np.tile(leads, n_issues * n_communes)
    return pd.DataFrame(
        {
            "issued": issued.astype("datetime64[ns]"),
            "valid_date": (issued + lead).astype("datetime64[ns]"),
            "lead_days": lead.astype(np.int64),
            "commune": np.tile(np.repeat(np.asarray(communes, dtype=object), n_leads), n_issues),
            **{
                name: values[name].transpose(0, 2, 1).ravel().round(1)
                for name in FORECAST_VARIABLES
            },
        }
    )
