"""Nightly brown-planthopper light-trap catches at a few stations of the demo region.

Plant-protection stations in the delta empty their light traps every morning and count the BPH
adults caught overnight; the daily series sets the "sowing calendar to escape BPH" (lịch xuống
giống né rầy) and the forecast of migration waves (Chi cục Trồng trọt và BVTV TP.HCM 2019, "Sử
dụng hệ thống bẫy đèn để dự báo rầy nâu gây hại trên lúa").

Stations
    Two per district: in each district, the two communes holding the most registered parcels
    (ties in ``COMMUNES`` order) get one trap, placed at the mean centroid of their parcels.
    Ids ``LT01``, ``LT02``… in ``COMMUNES`` order [A: real networks have one trap per commune or
    a few per district].

Expected catch of station *s* on night *d*
    :math:`\\mu_{s,d} = e_s \\, (q + h \\, w_d)` with

    * ``w_d`` the simulator's BPH immigration series (:func:`~pestcast.simulator.epidemic.
      light_trap_waves`, 0–1, Gaussian pulses of σ 2.5 days every 25 days), the very draw that
      drives the epidemic: one peak a month, each ~5–6 days earlier than the last, ~3 per crop
      (Nguyễn Văn Huỳnh et al. 2012, Can Tho University, daily light-trap catches in the delta);
    * ``q`` = 30 BPH per trap-night on quiet nights [A];
    * ``h`` = 5,000 BPH per trap-night added at the top of a wave [A: no published delta peak
      catch was found; practitioners report thousands to tens of thousands per trap-night in
      migration waves, while the Red River delta peaks at only 28–104 (Phạm Hồng Hiển et al.,
      VAAS journal, 2020–2022 data)];
    * ``e_s`` a station efficiency (bulb, height, surroundings), lognormal with σ 0.3 [A].

Noise and gaps
    Counts are negative binomial with mean ``μ`` and size 3 (variance μ + μ²/3) [A]: catches
    are strongly over-dispersed from night to night (wind, moonlight). A night is missing (no
    row) with probability 0.02, or 0.5 when the commune's rain reaches 40 mm, since heavy rain
    overflows the trap's funnel and the catch is lost (Vũ Thị Quí Trang, Chi cục TT&BVTV,
    "Cải tiến bẫy đèn") [A: rates].

All draws come from the ``light_traps`` stream, so adding the traps changes no other output.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import shapely

from pestcast.simulator.geometry import COMMUNES, CRS, RegionLayout
from pestcast.simulator.weather import DailyWeather

__all__ = [
    "LIGHT_TRAPS",
    "LightTrapModel",
    "simulate_light_traps",
    "trap_stations",
]

STATIONS_PER_DISTRICT = 2


@dataclass(frozen=True)
class LightTrapModel:
    """Coefficients of the light-trap catch model (see the module docstring)."""

    quiet_per_night: float = 30.0
    """Mean BPH adults per trap-night away from migration waves [A]."""
    wave_per_night: float = 5000.0
    """Mean BPH adults per trap-night added at the top of a wave [A]."""
    station_sd: float = 0.3
    """Standard deviation of the log station efficiency [A]."""
    dispersion: float = 3.0
    """Negative-binomial size: variance = mean + mean² / size [A]."""
    missing_probability: float = 0.02
    """Chance that a night's catch is not recorded [A]."""
    heavy_rain_mm: float = 40.0
    """Rain from which the funnel overflows and the catch is often lost [A]."""
    heavy_rain_missing_probability: float = 0.5


LIGHT_TRAPS = LightTrapModel()


def trap_stations(layout: RegionLayout) -> pd.DataFrame:
    """Station table: ``station_id``, ``district``, ``commune``, ``lon``, ``lat`` (WGS84, 6 dp)."""
    parcels = layout.parcels
    counts = parcels["commune"].value_counts()
    chosen = []
    for district in dict.fromkeys(d for _, d in COMMUNES):
        names = [c for c, d in COMMUNES if d == district and counts.get(c, 0) > 0]
        ranked = sorted(names, key=lambda c: -counts[c])[:STATIONS_PER_DISTRICT]
        chosen += [(c, district) for c, _ in COMMUNES if c in ranked]
    centroids = shapely.get_coordinates(shapely.centroid(parcels.geometry.to_numpy()))
    xy = np.array([centroids[(parcels["commune"] == c).to_numpy()].mean(axis=0) for c, _ in chosen])
    to_wgs84 = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs84.transform(xy[:, 0], xy[:, 1])
    return pd.DataFrame(
        {
            "station_id": [f"LT{k + 1:02d}" for k in range(len(chosen))],
            "district": [d for _, d in chosen],
            "commune": [c for c, _ in chosen],
            "lon": np.round(lon, 6),
            "lat": np.round(lat, 6),
        }
    )


def simulate_light_traps(
    stations: pd.DataFrame,
    immigration: npt.NDArray[np.float64],
    weather: DailyWeather,
    last_day: dt.date,
    rng: np.random.Generator,
    *,
    model: LightTrapModel = LIGHT_TRAPS,
) -> pd.DataFrame:
    """Nightly catches ``station_id``, ``district``, ``date``, ``bph_count`` (int64 ≥ 0).

    One row per station and recorded night from ``weather.first_day`` to ``last_day``; missing
    nights have no row. ``immigration`` is the epidemic's daily series (one value per day).
    """
    n_days = (last_day - weather.first_day).days + 1
    communes = [name for name, _ in COMMUNES]
    columns = [communes.index(c) for c in stations["commune"]]
    efficiency = np.exp(rng.normal(0.0, model.station_sd, len(stations)))
    mean = efficiency * (model.quiet_per_night + model.wave_per_night * immigration[:n_days, None])
    counts = rng.negative_binomial(model.dispersion, model.dispersion / (model.dispersion + mean))
    heavy = weather.rain_mm[:n_days, columns] >= model.heavy_rain_mm
    chance = np.where(heavy, model.heavy_rain_missing_probability, model.missing_probability)
    recorded = rng.random(counts.shape) >= chance
    day, station = np.nonzero(recorded.T)[::-1]
    dates = weather.dates()[:n_days].to_numpy("datetime64[ns]")
    return pd.DataFrame(
        {
            "station_id": stations["station_id"].to_numpy(dtype=object)[station],
            "district": stations["district"].to_numpy(dtype=object)[station],
            "date": dates[day],
            "bph_count": counts[day, station].astype(np.int64),
        }
    )
