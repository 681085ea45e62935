"""Every window, radius and threshold of the feature table, each with the reason for its default.

The defaults are set from agronomy, survey practice and the sensor, never from a simulator: the
reason of each is in its ``metadata["why"]``, which the model card copies, so a reader can see
where every number came from. ``bench/feature_sensitivity.py`` shows how skill changes around them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from pestcast.core.errors import DataError

__all__ = ["DEFAULT_FEATURE_SETTINGS", "FeatureSettings"]


def _setting(default: Any, why: str) -> Any:
    return field(default=default, metadata={"why": why})


@dataclass(frozen=True)
class FeatureSettings:
    """How the feature table is computed. Distances in metres, windows in days."""

    neighbour_radius_m: float = _setting(
        500.0,
        "A parcel's neighbourhood for infestation shares and sowing asynchrony. At the delta's "
        "0.2–3 ha parcels a 500 m radius (~78 ha) holds about 40–80 parcels, so that weekly "
        "surveys of a small share of the parcels still see several neighbours per window.",
    )
    survey_window_days: int = _setting(
        21,
        "How far back survey findings count as 'recent': three weekly survey rounds "
        "(QCVN 01-166:2014 surveys every 7 days), shorter than one brown planthopper "
        "generation (22–28 days), so the shares describe the current generation.",
    )
    imagery_lookback_days: int = _setting(
        150,
        "Older observations describe an earlier crop: longer than one rice crop of "
        "95–105 days plus its fallow.",
    )
    min_clear_px: int = _setting(
        3,
        "A parcel observation counts as clear with at least this many unmasked 10 m pixels "
        "(300 m²); fewer pixels are mostly edge pixels mixed with bunds and canals.",
    )
    ndvi_change_lags_days: tuple[int, ...] = _setting(
        (15, 30),
        "NDVI change against about 3 and 6 Sentinel-2 revisits (5 days) earlier: the first "
        "catches a sudden drop, the second the crop's trajectory.",
    )
    recent_flooding_days: int = _setting(
        30,
        "A flooding signal this recent marks a parcel as newly sown or transplanted: within "
        "30 days of flooding EVI has not reached half its seasonal peak (Xiao et al. 2005).",
    )
    weather_windows_days: tuple[int, ...] = _setting(
        (7, 14),
        "Weather over the last one and two weeks: the span of one blast latent period "
        "(5 days, EPIRICE) and of a brown planthopper egg and early nymph stage (5–7 + 7 days).",
    )
    damage_trend_days: int = _setting(
        30,
        "A parcel's own trajectory is the straight line through its clear observations of the "
        "30 days before its latest one (six 5-day revisits, so two or more survive most "
        "cloudy spells): a rice canopy changes phase about monthly (tillering, booting, "
        "heading, ripening), so over 30 days its index is close to linear and a drop below "
        "the line is damage rather than growth.",
    )
    nbr_crop_age_tolerance_days: int = _setting(
        10,
        "Neighbours count as 'the same crop age' when their latest flooding signal is at most "
        "10 days from the parcel's: a flooding date is only known to one revisit (5 days, "
        "more under clouds), so two revisits is the closest ages can be told apart.",
    )
    nbr_contrast_min_parcels: int = _setting(
        3,
        "The neighbour median needs at least 3 same-age neighbours seen on the same day: a "
        "median of 3 is the smallest that one damaged or mixed-pixel neighbour cannot move.",
    )
    survey_kernel_bandwidth_m: float = _setting(
        250.0,
        "Gaussian bandwidth of the survey infestation field. Infestations spread from field "
        "to field (BPH nymphs and short-winged adults walk to the next field; most blast "
        "spores land within tens of metres of their lesion), so nearer parcels weigh more; "
        "two bandwidths reach the 500 m neighbour radius, the neighbourhood the other "
        "survey features use. Weights stop at three bandwidths (1 %).",
    )
    survey_half_life_days: float = _setting(
        7.0,
        "A survey finding's weight in the field halves every 7 days: surveys come every "
        "7 days (QCVN 01-166:2014), so the latest round counts twice the one before, and a "
        "finding one BPH generation old (21–28 days) counts 1/8 to 1/16. Findings older "
        "than survey_window_days are not used.",
    )
    light_trap_window_days: int = _setting(
        7,
        "Light-trap catches are averaged over the last 7 nights: a BPH flight wave lasts "
        "about ±3 days around its peak, and a week evens out nights cut short by rain or "
        "moonlight; the trend compares it with the 7 nights before.",
    )
    crop_duration_days: int = _setting(
        120,
        "A flooding signal older than this belongs to a crop already harvested: delta rice "
        "varieties take 90–105 days from sowing to harvest, and land preparation floods the "
        "field up to about two weeks before sowing.",
    )
    crop_establishment_days: int = _setting(
        60,
        "A crop turns green (NDVI ≥ 0.5) by maximum tillering, 40–50 days after sowing; a "
        "field flooded this long ago that never turned green was not sown (e.g. flood-season "
        "fallow after the water receded) or its crop failed.",
    )
    sar_change_lag_days: int = _setting(
        24,
        "Radar VH change is taken against the latest Sentinel-1 scene acquired 24–48 days "
        "before the parcel's latest one: two 12-day revisits of Sentinel-1A, alone since "
        "Sentinel-1B failed on 23 Dec 2021 (6-day revisits before, so 24 days is four then). "
        "Over 24 days a tillering canopy's VH rises by several dB (about 8 dB from sowing to "
        "heading in Mekong rice profiles), far above the noise of a parcel mean, and a harvest "
        "in between drops it at once.",
    )
    sar_min_valid_px: int = _setting(
        10,
        "A parcel's radar backscatter counts with at least 10 valid 10 m pixels: Sentinel-1 GRD "
        "speckle (4.4 looks per pixel; the 10 m pixels oversample the 20 × 22 m resolution "
        "cell about 4.4 times) leaves the mean of N pixels about 4.3/√N dB uncertain, ±1.4 dB "
        "at 10 pixels: well below the 6–8 dB VH rise of a rice crop.",
    )
    forecast_weather_windows_days: tuple[int, ...] = _setting(
        (7, 14),
        "Forecast weather over the next one and two weeks, the days the 7- and 14-day labels "
        "look ahead (t < survey ≤ t + h). Two weeks is about as far as daily forecasts are "
        "published (ECMWF's ensemble 15 days, Open-Meteo 16), and further would add only "
        "climate: tropical rain forecasts are barely better than climatology at day 1 and lose "
        "what skill they have within about a week (Vogel et al. 2018, 2020, Wea. Forecasting "
        "33:369, 35:2367); a 28-day window would be mostly climatology.",
    )

    def __post_init__(self) -> None:
        for name in _POSITIVE:
            if not getattr(self, name) > 0:
                raise DataError(f"feature setting {name} must be > 0, got {getattr(self, name)}")
        for name in _AT_LEAST_ONE:
            if getattr(self, name) < 1:
                raise DataError(f"feature setting {name} must be ≥ 1, got {getattr(self, name)}")
        if self.nbr_crop_age_tolerance_days < 0:
            raise DataError(
                "feature setting nbr_crop_age_tolerance_days must be ≥ 0, got "
                f"{self.nbr_crop_age_tolerance_days}"
            )
        if self.crop_establishment_days > self.crop_duration_days:
            raise DataError(
                "feature setting crop_establishment_days must be ≤ crop_duration_days, got "
                f"{self.crop_establishment_days} > {self.crop_duration_days}"
            )
        for name in (
            "ndvi_change_lags_days",
            "weather_windows_days",
            "forecast_weather_windows_days",
        ):
            values = tuple(getattr(self, name))
            if not values or min(values) < 1 or len(set(values)) != len(values):
                raise DataError(f"feature setting {name} needs distinct days ≥ 1, got {values}")
            object.__setattr__(self, name, values)

    def documented(self) -> dict[str, dict[str, Any]]:
        """Each setting's value and the reason for its default, for the model card."""
        return {
            item.name: {"value": getattr(self, item.name), "why_default": item.metadata["why"]}
            for item in fields(self)
        }


_POSITIVE = (
    "neighbour_radius_m",
    "survey_window_days",
    "imagery_lookback_days",
    "survey_kernel_bandwidth_m",
    "survey_half_life_days",
)
_AT_LEAST_ONE = (
    "min_clear_px",
    "recent_flooding_days",
    "damage_trend_days",
    "nbr_contrast_min_parcels",
    "light_trap_window_days",
    "crop_duration_days",
    "crop_establishment_days",
    "sar_change_lag_days",
    "sar_min_valid_px",
)

DEFAULT_FEATURE_SETTINGS = FeatureSettings()
