"""Clouds, cirrus, cloud shadows and swath edges of each simulated scene.

Scene cloud fraction follows the season and that day's weather: a logistic model with monthly
intercepts (wet season May–Oct mostly overcast, dry season Dec–Apr mostly clear), more cloud on
rainy days and on humid days, and a wide random term so scenes range from clear to overcast [A].

Clouds are smooth random blobs: Gaussian-filtered white noise thresholded at the scene's cloud
fraction; opacity rises over a short ramp above the threshold, so blob edges are thin and partly
transparent. Some scenes carry thin cirrus (a smoother field, opacity ≤ 0.3). Shadows are the
cloud opacity displaced away from the sun (solar position at 03:26 UTC over the region, cloud
base 0.8–2 km [A]). A few scenes lie at a swath edge and have a nodata strip.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.ndimage import gaussian_filter

__all__ = [
    "CloudLayers",
    "CloudPlan",
    "cloud_layers",
    "plan_clouds",
    "scene_cloud_fraction",
    "solar_position",
    "swath_nodata",
]

LATITUDE_DEG = 10.30
LONGITUDE_DEG = 105.25
PIXEL_M = 20.0
OPACITY_RAMP = 0.8
"""Noise units over which a cloud goes from transparent to opaque: sets the thin edge width."""
CIRRUS_MAX_OPACITY = 0.3
SWATH_EDGE_PROBABILITY = 0.03

_MONTHLY_LOGIT = (-2.3, -2.7, -2.5, -1.7, -0.3, 0.1, 0.4, 0.4, 0.4, 0.1, -0.8, -1.5)
"""Intercepts of the cloud-fraction logit by month (January first) [A, tuned]."""


@dataclass(frozen=True)
class CloudPlan:
    """Random settings of one scene's atmosphere."""

    cloud_fraction: float
    """Target share (0–1) of the scene under cloud."""
    cirrus_fraction: float
    """Share under thin cirrus (0 when the scene has none)."""
    blob_scale_px: float
    """Gaussian filter sigma of the cloud field, 20 m pixels."""
    shadow_offset_px: tuple[int, int]
    """(rows, cols) from a pixel to the cloud that shades it, 20 m pixels."""
    swath_edge: tuple[float, bool] | None
    """(share of the width cut, True if the nodata side is west), or None."""
    haze: float
    """Aerosol haze, 0–1 (adds path radiance, mostly in blue)."""


@dataclass(frozen=True)
class CloudLayers:
    """Per-pixel atmosphere on the 20 m grid."""

    opacity: npt.NDArray[np.float32]
    """Cloud opacity 0–1."""
    brightness: npt.NDArray[np.float32]
    """Cloud brightness factor (thicker cores are brighter)."""
    cirrus: npt.NDArray[np.float32]
    """Cirrus opacity 0–0.3."""
    shadow: npt.NDArray[np.float32]
    """Opacity of the cloud shading each pixel, 0–1."""


def scene_cloud_fraction(
    day: dt.date,
    rain_today_mm: float,
    rain_yesterday_mm: float,
    humidity_anomaly_pct: float,
    rng: np.random.Generator,
) -> float:
    """Cloud fraction 0–1 of a scene given the region's weather that day."""
    logit = (
        _MONTHLY_LOGIT[day.month - 1]
        + 1.2 * (rain_today_mm >= 1.0)
        + 0.5 * (rain_yesterday_mm >= 1.0)
        + 0.12 * humidity_anomaly_pct
        + rng.normal(0.0, 1.5)
    )
    fraction = 1.0 / (1.0 + math.exp(-logit))
    return 0.0 if fraction < 0.01 else min(fraction, 0.995)


def plan_clouds(
    acquired_utc: dt.datetime, cloud_fraction: float, rng: np.random.Generator
) -> CloudPlan:
    """Draw blob size, cirrus, shadow geometry, swath edge and haze for one scene."""
    cirrus = rng.random() < 0.1 + 0.3 * cloud_fraction
    zenith, azimuth = solar_position(acquired_utc)
    reach = rng.uniform(800.0, 2000.0) * math.tan(math.radians(zenith)) / PIXEL_M
    offset = (
        round(-reach * math.cos(math.radians(azimuth))),
        round(reach * math.sin(math.radians(azimuth))),
    )
    edge = rng.random() < SWATH_EDGE_PROBABILITY
    return CloudPlan(
        cloud_fraction=cloud_fraction,
        cirrus_fraction=float(rng.uniform(0.1, 0.5)) if cirrus else 0.0,
        blob_scale_px=float(rng.uniform(5.0, 14.0)),
        shadow_offset_px=offset,
        swath_edge=(float(rng.uniform(0.05, 0.4)), bool(rng.random() < 0.5)) if edge else None,
        haze=float(rng.beta(1.5, 8.0)),
    )


def solar_position(when_utc: dt.datetime) -> tuple[float, float]:
    """Approximate solar (zenith, azimuth clockwise from north), degrees, over the region."""
    day_of_year = when_utc.timetuple().tm_yday
    declination = math.radians(23.44 * math.sin(2 * math.pi * (284 + day_of_year) / 365))
    solar_hours = when_utc.hour + when_utc.minute / 60 + LONGITUDE_DEG / 15
    hour_angle = math.radians(15.0 * (solar_hours - 12.0))
    latitude = math.radians(LATITUDE_DEG)
    cos_zenith = math.sin(latitude) * math.sin(declination) + math.cos(latitude) * math.cos(
        declination
    ) * math.cos(hour_angle)
    azimuth = math.atan2(
        -math.sin(hour_angle),
        math.tan(declination) * math.cos(latitude) - math.sin(latitude) * math.cos(hour_angle),
    )
    return math.degrees(math.acos(cos_zenith)), math.degrees(azimuth) % 360.0


def cloud_layers(plan: CloudPlan, shape: tuple[int, int], rng: np.random.Generator) -> CloudLayers:
    """Render the plan's clouds, cirrus and shadows on a grid of ``shape`` (20 m pixels)."""
    rows, cols = shape
    pad = max(abs(plan.shadow_offset_px[0]), abs(plan.shadow_offset_px[1])) + 1
    field = _smooth_noise((rows + 2 * pad, cols + 2 * pad), plan.blob_scale_px, rng)
    window = field[pad : pad + rows, pad : pad + cols]
    if plan.cloud_fraction <= 0.0:
        opacity_field = np.zeros_like(field)
        threshold = float(window.max()) + 1.0
    else:
        threshold = float(np.quantile(window, 1.0 - plan.cloud_fraction))
        opacity_field = np.clip((field - threshold) / OPACITY_RAMP, 0.0, 1.0) ** 0.7
    dr, dc = plan.shadow_offset_px
    cirrus = np.zeros(shape)
    if plan.cirrus_fraction > 0:
        thin = _smooth_noise(shape, 3.0 * plan.blob_scale_px, rng)
        cut = float(np.quantile(thin, 1.0 - plan.cirrus_fraction))
        cirrus = CIRRUS_MAX_OPACITY * np.clip((thin - cut) / 0.8, 0.0, 1.0)
    return CloudLayers(
        opacity=opacity_field[pad : pad + rows, pad : pad + cols].astype(np.float32),
        brightness=(0.85 + 0.15 * np.clip((window - threshold) / 1.5, 0.0, 1.0)).astype(np.float32),
        cirrus=cirrus.astype(np.float32),
        shadow=opacity_field[pad + dr : pad + dr + rows, pad + dc : pad + dc + cols].astype(
            np.float32
        ),
    )


def _smooth_noise(
    shape: tuple[int, int], sigma: float, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """Gaussian-filtered white noise rescaled to unit standard deviation."""
    field = gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return (field - field.mean()) / field.std()  # type: ignore[no-any-return]


def swath_nodata(edge: tuple[float, bool] | None, shape: tuple[int, int]) -> npt.NDArray[np.bool_]:
    """True beyond the swath edge: a line tilted 12° from north cutting ``edge[0]`` of the width."""
    rows, cols = shape
    if edge is None:
        return np.zeros(shape, dtype=bool)
    share, west = edge
    v = (np.arange(rows)[:, None] + 0.5) / rows
    u = (np.arange(cols)[None, :] + 0.5) / cols
    tilt = (v - 0.5) * math.tan(math.radians(12.0)) * rows / cols
    return u < share + tilt if west else u > 1.0 - share + tilt
