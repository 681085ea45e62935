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

    def __post_init__(self) -> None:
        for name in ("neighbour_radius_m", "survey_window_days", "imagery_lookback_days"):
            if not getattr(self, name) > 0:
                raise DataError(f"feature setting {name} must be > 0, got {getattr(self, name)}")
        for name in ("min_clear_px", "recent_flooding_days"):
            if getattr(self, name) < 1:
                raise DataError(f"feature setting {name} must be ≥ 1, got {getattr(self, name)}")
        for name in ("ndvi_change_lags_days", "weather_windows_days"):
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


DEFAULT_FEATURE_SETTINGS = FeatureSettings()
