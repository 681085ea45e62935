"""Rice crop calendars of every field: two or three crops a year with per-field sowing dates.

An Giang practice (EPIDEMIOLOGY.md): winter–spring sown 1 Nov–31 Dec in three waves (1–15 Nov,
16 Nov–15 Dec, 16–31 Dec); summer–autumn sown April to mid May; autumn–winter sown 15 Jul–10 Sep
only inside full-dyke compartments (~60 % of fields); the others lie fallow and flood in the
flood season. Each crop takes 95–105 days [A] from sowing to harvest. Farmers of one canal block
sow together (a block date drawn from the season window, then per-field scatter of 4 days, or
10 days in a third of the blocks [A]); a field is never sown less than 7–14 days after its
previous harvest [A].

Days are integers counted from the calendar's ``first_day``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["NO_CYCLE", "CropCalendar", "CropState", "crop_state", "draw_crop_calendar"]

NO_CYCLE = -1_000_000
"""Sowing/harvest day of a season a field skips."""
THIRD_CROP_SHARE = 0.6
DURATION_DAYS = (95, 105)
TURNAROUND_DAYS = (7, 14)

_WS_WAVES = (((11, 1), (11, 15)), ((11, 16), (12, 15)), ((12, 16), (12, 31)))
_WS_WAVE_SHARES = (0.3, 0.5, 0.2)
_SA_WINDOW = ((4, 1), (5, 15))
_AW_WINDOW = ((7, 15), (9, 10))


@dataclass(frozen=True)
class CropCalendar:
    """Sowing and harvest days of every crop cycle of every field, in time order."""

    first_day: dt.date
    """Day 0 of the day counts."""
    sow: npt.NDArray[np.int32]
    """(field, cycle) sowing day; ``NO_CYCLE`` where the field skips the season."""
    harvest: npt.NDArray[np.int32]
    """(field, cycle) harvest day (first day without crop); ``NO_CYCLE`` likewise."""
    three_crops: npt.NDArray[np.bool_]
    """Field lies in a full-dyke compartment and grows the autumn–winter crop."""

    def day_index(self, day: dt.date) -> int:
        return (day - self.first_day).days


@dataclass(frozen=True)
class CropState:
    """Crop stage of fields on given days: arrays of shape (day, field)."""

    days_since_sowing: npt.NDArray[np.int16]
    """Days since sowing while in crop, −1 otherwise."""
    days_since_harvest: npt.NDArray[np.int16]
    """Days since the last harvest (capped at 999), −1 while in crop."""
    days_to_sowing: npt.NDArray[np.int16]
    """Days until the next sowing (capped at 999)."""
    sowing_day: npt.NDArray[np.float32]
    """Sowing day of the current crop, NaN when not in crop."""

    @property
    def in_crop(self) -> npt.NDArray[np.bool_]:
        return self.days_since_sowing >= 0


def draw_crop_calendar(
    first_day: dt.date,
    last_day: dt.date,
    field_block: npt.NDArray[np.int32],
    field_compartment: npt.NDArray[np.int32],
    rng: np.random.Generator,
) -> CropCalendar:
    """Draw every season from the winter–spring crop growing on ``first_day`` to ``last_day``."""
    three_crops = _third_crop_fields(field_compartment, rng)
    n_fields = len(field_block)
    sows: list[npt.NDArray[np.int32]] = []
    harvests: list[npt.NDArray[np.int32]] = []
    last_harvest = np.full(n_fields, NO_CYCLE, dtype=np.int64)
    for year in range(first_day.year - 1, last_day.year + 1):
        for window, grows in _seasons(year, three_crops):
            base = _block_dates(window, field_block, first_day, rng)
            sow, harvest = _sow_fields(base, field_block, last_harvest, grows, rng)
            sows.append(sow)
            harvests.append(harvest)
            last_harvest = np.where(grows, harvest, last_harvest)
    return CropCalendar(
        first_day=first_day,
        sow=np.stack(sows, axis=1),
        harvest=np.stack(harvests, axis=1),
        three_crops=three_crops,
    )


def _third_crop_fields(
    compartment: npt.NDArray[np.int32], rng: np.random.Generator
) -> npt.NDArray[np.bool_]:
    """Whole compartments, in random order, until ~60 % of the fields grow a third crop."""
    ids, counts = np.unique(compartment, return_counts=True)
    order = rng.permutation(len(ids))
    share = np.cumsum(counts[order]) / counts.sum()
    chosen = ids[order[: int(np.searchsorted(share, THIRD_CROP_SHARE)) + 1]]
    return np.isin(compartment, chosen)


_Window = tuple[list[tuple[dt.date, dt.date]], list[float]]


def _seasons(
    year: int, three_crops: npt.NDArray[np.bool_]
) -> list[tuple[_Window, npt.NDArray[np.bool_]]]:
    """The three seasons starting in ``year``: SA, AW, then WS (sown late in the year)."""
    every = np.ones_like(three_crops)

    def span(window: tuple[tuple[int, int], tuple[int, int]]) -> tuple[dt.date, dt.date]:
        return dt.date(year, *window[0]), dt.date(year, *window[1])

    return [
        (([span(_SA_WINDOW)], [1.0]), every),
        (([span(_AW_WINDOW)], [1.0]), three_crops),
        (([span(w) for w in _WS_WAVES], list(_WS_WAVE_SHARES)), every),
    ]


def _block_dates(
    window: _Window,
    field_block: npt.NDArray[np.int32],
    first_day: dt.date,
    rng: np.random.Generator,
) -> npt.NDArray[np.float64]:
    """Per field, the sowing date its block aims for (a wave, then a day within it)."""
    spans, shares = window
    n_blocks = int(field_block.max()) + 1
    wave = rng.choice(len(spans), size=n_blocks, p=shares)
    lo = np.array([(spans[w][0] - first_day).days for w in wave], dtype=np.float64)
    hi = np.array([(spans[w][1] - first_day).days for w in wave], dtype=np.float64)
    return rng.uniform(lo, hi + 1)[field_block]


def _sow_fields(
    block_date: npt.NDArray[np.float64],
    field_block: npt.NDArray[np.int32],
    last_harvest: npt.NDArray[np.int64],
    grows: npt.NDArray[np.bool_],
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """Per-field sowing and harvest days for one season."""
    n_blocks = int(field_block.max()) + 1
    scatter_sd = np.where(rng.random(n_blocks) < 1 / 3, 10.0, 4.0)[field_block]
    wanted = np.round(block_date + rng.normal(0.0, 1.0, len(grows)) * scatter_sd)
    earliest = last_harvest + rng.integers(*TURNAROUND_DAYS, size=len(grows), endpoint=True)
    sow = np.maximum(wanted, earliest).astype(np.int32)
    duration = rng.integers(*DURATION_DAYS, size=len(grows), endpoint=True)
    harvest = (sow + duration).astype(np.int32)
    return np.where(grows, sow, NO_CYCLE), np.where(grows, harvest, NO_CYCLE)


def crop_state(
    calendar: CropCalendar,
    days: npt.NDArray[np.int64],
    fields: slice | npt.NDArray[np.int64] = slice(None),
) -> CropState:
    """Crop stage of ``fields`` on ``days`` (day counts from ``calendar.first_day``)."""
    sow = calendar.sow[fields].astype(np.int64)
    harvest = calendar.harvest[fields].astype(np.int64)
    t = np.asarray(days, dtype=np.int64)[:, None]
    shape = (len(t), sow.shape[0])
    since_sowing = np.full(shape, -1, dtype=np.int64)
    since_harvest = np.full(shape, 999, dtype=np.int64)
    to_sowing = np.full(shape, 999, dtype=np.int64)
    sowing_day = np.full(shape, np.nan, dtype=np.float32)
    for cycle in range(sow.shape[1]):
        s, h = sow[None, :, cycle], harvest[None, :, cycle]
        exists = s != NO_CYCLE
        growing = exists & (t >= s) & (t < h)
        since_sowing = np.where(growing, t - s, since_sowing)
        sowing_day = np.where(growing, s, sowing_day)
        since_harvest = np.where(exists & (t >= h), t - h, since_harvest)
    for cycle in range(sow.shape[1] - 1, -1, -1):
        s = sow[None, :, cycle]
        to_sowing = np.where((s != NO_CYCLE) & (s > t), s - t, to_sowing)
    since_harvest = np.where(since_sowing >= 0, -1, np.minimum(since_harvest, 999))
    return CropState(
        days_since_sowing=since_sowing.astype(np.int16),
        days_since_harvest=since_harvest.astype(np.int16),
        days_to_sowing=np.minimum(to_sowing, 999).astype(np.int16),
        sowing_day=sowing_day,
    )
