"""Settings of the simulated demo region and the simulator version that keys the cache."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from pestcast.core.errors import ConfigError

__all__ = ["SIMULATOR_VERSION", "SPINUP_DAYS", "DemoSettings"]

SIMULATOR_VERSION = "1.3.0"
"""Bump whenever the simulator's output changes for the same settings: it invalidates caches."""

SPINUP_DAYS = 120
"""Days simulated before ``start`` so that weather, crops and epidemics are not at a cold start."""


@dataclass(frozen=True)
class DemoSettings:
    """What to simulate; every field is part of the region's cache key (``MANIFEST.json``)."""

    seed: int = 42
    """Seed of every random draw: the same seed gives the same bytes."""
    n_parcels: int = 2000
    """Number of registered rice parcels (0.2–3 ha each) written to ``parcels.gpkg``."""
    start: dt.date = dt.date(2021, 7, 1)
    """Date of the first scene and first survey week; weather and epidemics spin up before it."""
    end: dt.date = dt.date(2024, 12, 31)
    """Last day covered by scenes, weather, surveys and truth (inclusive)."""
    revisit_days: int = 5
    """Days between Sentinel-2 acquisitions (S2A and S2B alternate)."""
    survey_fraction: float = 0.15
    """Share of the parcels in crop surveyed each week, per pest (0–1]."""
    survey_weekday: int = 2
    """Weekday of the weekly field survey (0 = Monday … 6 = Sunday)."""

    def __post_init__(self) -> None:
        problems = [
            message
            for failed, message in (
                (self.n_parcels < 10, f"n_parcels must be at least 10, got {self.n_parcels}"),
                (self.end <= self.start, f"end {self.end} must be after start {self.start}"),
                (self.revisit_days < 1, f"revisit_days must be ≥ 1, got {self.revisit_days}"),
                (
                    not 0 < self.survey_fraction <= 1,
                    f"survey_fraction must be in (0, 1], got {self.survey_fraction}",
                ),
                (
                    not 0 <= self.survey_weekday <= 6,
                    f"survey_weekday must be 0–6, got {self.survey_weekday}",
                ),
            )
            if failed
        ]
        if problems:
            raise ConfigError("demo region settings: " + "; ".join(problems))

    def to_json(self) -> dict[str, Any]:
        """The settings as JSON-ready values (dates as ISO strings)."""
        return {
            key: value.isoformat() if isinstance(value, dt.date) else value
            for key, value in asdict(self).items()
        }
