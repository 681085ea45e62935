"""How many solar days a fetch reads at once: bounded by memory, not by the number of blocks.

One day's peak memory is estimated from the analysis grid, the parcel pixels on it and the
bands read (:func:`day_peak_bytes`, factors measured below). The memory budget is
``imagery.max_memory_gb`` or half of what is available; at most ``budget // day`` days are in
flight (at least one). Days go to tasks in blocks (a task reads its days one after another, so
a task in flight holds one day); :func:`run_bounded` submits the next block only when one
finishes.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
import psutil  # type: ignore[import-untyped]

from pestcast.flows.strip_stats import STRIP_ROWS

__all__ = [
    "DAYS_PER_TASK",
    "FetchPlan",
    "day_peak_bytes",
    "memory_budget_bytes",
    "plan_fetch",
    "run_bounded",
]

DAYS_PER_TASK = 16
"""Most solar days per task: coarse tasks keep Prefect's per-task overhead small."""

# Peak RSS above the idle process for one solar day of ``observe_solar_day`` (strip by strip,
# ``flows.strip_stats``), measured with ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` in a fresh
# process per case, on synthetic deflate COGs (uint16 10 m and 20 m bands, SCL at 20 m, 512-px
# blocks) read onto 2000² and 4000² grids at 10 m, with 3 and 7 bands (SCL counted) and parcels
# covering 0.7 % and 69 % of the grid (Dec 2026, this 2-core machine). Measured 38–145 MB
# (3 bands) and 66–249 MB (7 bands) at 0.7 % cover, 138–406 MB and 334–778 MB at 69 %; with
# every strip read whole (``--keep-pixels``) 488 and 624 MB for 7 bands on 4000². The sum
# below lies within 5 % of or above every case. Much of the per-grid-pixel part is GDAL's
# process-wide block cache (at most GDAL_CACHEMAX), so days in flight share it: the estimate
# errs high.
PEAK_BYTES_PER_PIXEL = 5.0
"""Per grid pixel."""
PEAK_BYTES_PER_PIXEL_BAND = 2.0
"""Per grid pixel and band read: decoded DN blocks."""
PEAK_BYTES_PER_STRIP_PARCEL_PIXEL_BAND = 28.0
"""Per parcel pixel of the fullest strip and band: its reflectance, indices and sums."""
KEEP_PIXELS_BYTES_PER_STRIP_PIXEL_BAND = 16.0
"""``--keep-pixels``, per pixel of a whole strip and band: reflectance and DN of the strip."""
MEMORY_SHARE = 0.5
"""Share of the available memory a fetch may use when ``imagery.max_memory_gb`` is not set."""


def day_peak_bytes(
    labels: npt.NDArray[np.integer], *, n_bands: int, keep_pixels: bool = False
) -> int:
    """Estimated peak memory of reading one solar day onto the grid of ``labels``, in bytes.

    ``labels`` is the parcel label raster (0 outside parcels); ``n_bands`` counts every band
    read, SCL included; ``keep_pixels``: the day's pixels are kept too.
    """
    rows, cols = (int(n) for n in labels.shape)
    strip_rows = min(rows, STRIP_ROWS)
    fullest = max(
        (
            int(np.count_nonzero(labels[start : start + STRIP_ROWS]))
            for start in range(0, rows, STRIP_ROWS)
        ),
        default=0,
    )
    peak: float = (PEAK_BYTES_PER_PIXEL + PEAK_BYTES_PER_PIXEL_BAND * n_bands) * rows * cols
    peak += PEAK_BYTES_PER_STRIP_PARCEL_PIXEL_BAND * n_bands * fullest
    if keep_pixels:
        peak += KEEP_PIXELS_BYTES_PER_STRIP_PIXEL_BAND * n_bands * strip_rows * cols
    return math.ceil(peak)


def memory_budget_bytes(max_memory_gb: float | None) -> int:
    """``max_memory_gb`` in bytes, or :data:`MEMORY_SHARE` of the memory available now."""
    if max_memory_gb is not None:
        return int(max_memory_gb * 1e9)
    available: int = psutil.virtual_memory().available
    return int(available * MEMORY_SHARE)


@dataclasses.dataclass(frozen=True)
class FetchPlan:
    """How the solar days still to read are cut into tasks and how many run at once."""

    day_peak_bytes: int
    """Estimated peak memory of one day (:func:`day_peak_bytes`)."""
    budget_bytes: int
    """Memory the days in flight may fill."""
    days_in_flight: int
    """Tasks (each reading one day at a time) running at once; at least 1."""
    days_per_task: int
    """Solar days per task (the last task may have fewer)."""

    def blocks(self, days: Sequence[Any]) -> list[Sequence[Any]]:
        """``days`` in consecutive blocks of :attr:`days_per_task`."""
        size = self.days_per_task
        return [days[i : i + size] for i in range(0, len(days), size)]

    def to_json(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def plan_fetch(
    n_days: int, day_bytes: int, budget_bytes: int, *, max_in_flight: int | None = None
) -> FetchPlan:
    """Days in flight within ``budget_bytes`` (at least 1, at most ``max_in_flight``: by
    default twice the CPUs, reads being mostly waits), and blocks sized so that every task in
    flight gets some days yet none holds more than :data:`DAYS_PER_TASK`."""
    ceiling = max_in_flight or 2 * (os.cpu_count() or 1)
    in_flight = max(1, min(ceiling, budget_bytes // max(day_bytes, 1)))
    per_task = min(DAYS_PER_TASK, max(1, math.ceil(n_days / in_flight)))
    return FetchPlan(
        day_peak_bytes=day_bytes,
        budget_bytes=budget_bytes,
        days_in_flight=int(in_flight),
        days_per_task=per_task,
    )


class _Future(Protocol):
    def result(self) -> Any: ...


_F = TypeVar("_F", bound=_Future)
_B = TypeVar("_B")


def run_bounded(
    blocks: Iterable[_B],
    submit: Callable[[_B], _F],
    *,
    limit: int,
    wait_first: Callable[[list[_F]], _F],
) -> Iterator[Any]:
    """Submit ``blocks`` keeping at most ``limit`` in flight; yield each result as it finishes.

    ``wait_first(futures)`` blocks until one of ``futures`` is done and returns it (Prefect:
    ``next(as_completed(futures))``). A failed block raises here, and nothing more is
    submitted.
    """
    pending = deque(blocks)
    running: list[_F] = []
    while pending or running:
        while pending and len(running) < max(1, limit):
            running.append(submit(pending.popleft()))
        done = wait_first(running)
        running.remove(done)
        yield done.result()
