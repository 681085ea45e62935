"""What a fetch already has: the solar days it need not read, and the record of each day.

A solar day is settled without opening an image when its statistics (and, with
``--keep-pixels``, its pixels) are cached, or when the failure ledger records it as unreadable
and the run does not retry failures. Every other day is read by the fetch's tasks. Each day ends
as one :class:`DayOutcome`, written to ``scenes.json``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pestcast.flows.failure_ledger import (
    FailedDay,
    FailedRead,
    FailureLedger,
    ReadFailure,
    day_key,
)
from pestcast.flows.observations import (
    ObservationSettings,
    observation_cache_path,
    pixel_cache_key,
    read_cached_observations,
    required_bands,
)
from pestcast.flows.pixel_cache import pixel_folder, pixels_complete
from pestcast.flows.raster_read import AnalysisGrid
from pestcast.flows.stac_search import SceneRef

__all__ = ["DayCache", "DayOutcome", "day_outcome", "settle_days"]

Status = Literal["read", "cached", "skipped"]


@dataclasses.dataclass(frozen=True)
class DayCache:
    """Where a fetch keeps each solar day, and under which settings."""

    observation_dir: Path
    pixel_dir: Path | None
    """None: pixels are not kept (no ``--keep-pixels``)."""
    grid: AnalysisGrid
    settings: ObservationSettings
    parcel_ids: tuple[str, ...]

    def statistics_path(self, scenes: Sequence[SceneRef]) -> Path:
        return observation_cache_path(self.observation_dir, scenes, self.grid, self.settings)

    def cached_outcome(self, scenes: Sequence[SceneRef]) -> DayOutcome | None:
        """The outcome of a day whose statistics (and pixels) are all cached, else None."""
        if self.pixel_dir is not None:
            key = pixel_cache_key(scenes, self.grid, required_bands(self.settings.indices))
            if not pixels_complete(pixel_folder(self.pixel_dir, scenes), key):
                return None
        path = self.statistics_path(scenes)
        stats = read_cached_observations(path, self.parcel_ids, settings=self.settings)
        if stats is None:
            return None
        clear = int((stats["n_valid_px"] > 0).sum())
        return day_outcome(scenes, "cached", path=path, parcels_with_clear_pixels=clear)


@dataclasses.dataclass(frozen=True)
class DayOutcome:
    """What became of one solar day in a fetch (one entry of ``scenes.json``)."""

    solar_day: str
    items: tuple[str, ...]
    cloud_cover: float | None
    status: Status
    """``read`` from the imagery, ``cached`` (nothing read) or ``skipped`` (see ``reason``)."""
    reason: str = ""
    parcels_with_clear_pixels: int = 0
    path: str | None = None
    """The day's statistics (Parquet), None if skipped."""
    bytes_read: int = 0
    """Compressed bytes of the image blocks read (0 unless ``read``)."""
    scenes_read: int = 0
    failure: FailedRead | None = None
    """Why a skipped day failed to read (None for cloud-free reasons)."""
    recorded: bool = False
    """Skipped without reading: the failure ledger records the day as unreadable."""

    @property
    def key(self) -> str:
        return f"{self.solar_day} {'+'.join(self.items)}"

    def skip_reason(self) -> str:
        """The summary's line for a skipped day."""
        if self.failure is None:
            return "read error (see scenes.json)"
        cause = self.failure.failure.cause
        if self.recorded or self.failure.failure.permanent:
            return (
                f"unreadable, recorded in failed_scenes.json ({cause}); "
                "`pestcast fetch --retry-failed` reads it again"
            )
        return f"read failed this time ({cause}); the next fetch tries again"

    def to_json(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        record["items"] = list(self.items)
        if self.failure is not None:
            record["failure"] = {
                "permanent": self.failure.failure.permanent,
                "cause": self.failure.failure.cause,
                "asset": self.failure.asset,
                "href": self.failure.href,
            }
        return record


def day_outcome(
    scenes: Sequence[SceneRef], status: Status, *, path: Path | None = None, **details: Any
) -> DayOutcome:
    """The :class:`DayOutcome` of one solar day's ``scenes``."""
    return DayOutcome(
        solar_day=scenes[0].solar_day.isoformat(),
        items=tuple(s.item_id for s in scenes),
        cloud_cover=scenes[0].cloud_cover,
        status=status,
        path=None if path is None else str(path),
        **details,
    )


def settle_days(
    days: Sequence[Sequence[SceneRef]],
    cache: DayCache,
    ledger: FailureLedger,
    *,
    skip_recorded: bool,
) -> tuple[list[DayOutcome], list[Sequence[SceneRef]]]:
    """(outcomes of the days settled without reading, the days still to read), in day order.

    A cached day is settled; else a day the ledger records is skipped if ``skip_recorded``.
    """
    settled: list[DayOutcome] = []
    to_read: list[Sequence[SceneRef]] = []
    for scenes in days:
        entry = ledger.get(day_key(scenes)) if skip_recorded else None
        if (outcome := cache.cached_outcome(scenes)) is not None:
            settled.append(outcome)
        elif entry is not None:
            settled.append(_recorded_outcome(scenes, entry))
        else:
            to_read.append(scenes)
    return settled, to_read


def _recorded_outcome(scenes: Sequence[SceneRef], entry: FailedDay) -> DayOutcome:
    failure = FailedRead(
        key=entry.key,
        solar_day=entry.solar_day,
        items=entry.items,
        asset=entry.asset,
        href=entry.href,
        failure=ReadFailure(permanent=True, cause=entry.reason),
        message=entry.message,
    )
    reason = (
        f"recorded in failed_scenes.json since {entry.first_seen} ({entry.reason}); "
        "`pestcast fetch --retry-failed` reads it again"
    )
    return day_outcome(scenes, "skipped", reason=reason, failure=failure, recorded=True)
