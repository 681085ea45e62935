"""Sowing windows that escape brown-planthopper migration waves (lịch xuống giống né rầy).

Practice
    Provincial plant-protection stations read light traps every night; BPH adults fly to the
    traps in waves, and farmers are told to sow together *right after* a wave's peak ("gieo sạ
    né rầy ... ngay sau đỉnh cao rầy vào đèn", Công ty HAI extension sheet on BPH; "xuống giống
    ngay sau lứa rầy" in Chi cục Trồng trọt và BVTV TP.HCM 2019, "Sử dụng hệ thống bẫy đèn để
    dự báo rầy nâu gây hại trên lúa"): when the traps catch many adults the migrants are on the
    move and few are left in the fields (Lao Động, 15 Jun 2010, "Chiếc bẫy đèn huyền thoại"), so
    seedlings emerge after the migrants have passed and escape early feeding and virus
    transmission (yellow dwarf, ragged stunt). In the delta the traps show one peak a month, each
    5–6 days earlier than the last (a spacing of ~25 days), ~3 peaks per crop, and fields sown
    this way stayed below damage levels (Nguyễn Văn Huỳnh et al. 2012, Can Tho University;
    Dyck et al. 1979).

Method (per district; pure, uses only counts dated on or before ``as_of``)
    1. Daily mean catch over the district's stations (missing nights ignored; days with no
       station interpolated), smoothed by a centred ``smoothing_days`` running mean.
    2. Peaks: local maxima of the smoothed series at least ``peak_ratio`` × its median over the
       last ``lookback_days`` (and at least ``min_peak_count``), ``min_separation_days`` apart
       (the higher peak wins), confirmed once three nights after them are on record.
    3. Spacing: the median gap between the last three peaks when there are ≥ 2 (gaps longer
       than ``max_spacing_days`` mean a missed peak and are ignored), else ``default_spacing_days``.
    4. Projection: the next ``n_projected`` peaks at the last peak + k × spacing.
    5. Window: sow ``sow_after_peak_days`` (3–7) days after the latest peak, but late enough
       in no case that the susceptible stage (the first ``susceptible_days`` days after sowing)
       reaches within ``wave_margin_days`` of the next projected peak; and not before
       ``as_of``. If that window is empty or already past, the same rule is applied to the
       projected peaks in turn.

Assumptions [A]
    Susceptible stage 0–15 days after sowing (seedling, before tillering: when BPH-borne virus
    infection does most harm); a wave is a threat for ±3 days around its peak; 3× the
    lookback median marks a peak; a 120-day lookback (about one crop). The 3–7 day offset after
    the peak follows the extension wording "right after the peak" (sạ ngay sau đỉnh rầy).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import find_peaks

from pestcast.core.errors import DataError
from pestcast.features.columns import require_columns

__all__ = [
    "DEFAULT_SOWING_RULE",
    "LIGHT_TRAP_COLUMNS",
    "SowingRule",
    "SowingWindow",
    "TrapPeak",
    "district_trap_series",
    "district_window",
    "find_trap_peaks",
    "peak_spacing",
    "project_peaks",
    "sowing_windows",
]

LIGHT_TRAP_COLUMNS = ("station_id", "district", "date", "bph_count")
"""Columns of a light-trap table: one row per station and night, ``bph_count`` adults."""


@dataclass(frozen=True)
class SowingRule:
    """Settings of peak finding, projection and window placement (days unless stated)."""

    smoothing_days: int = 5
    """Width of the centred running mean over the daily station mean."""
    lookback_days: int = 120
    """Days of counts before ``as_of`` that are searched for peaks (about one crop) [A]."""
    peak_ratio: float = 3.0
    """A peak is at least this multiple of the lookback median of the smoothed series [A]."""
    min_peak_count: float = 10.0
    """…and at least this many BPH per trap-night (guards a median of zero) [A]."""
    min_separation_days: int = 15
    """Peaks closer than this are one wave; the higher one is kept."""
    confirm_days: int = 1
    """Smoothed days needed after a peak: it counts once ``smoothing_days // 2 + confirm_days``
    nights after it are on record (3 by default)."""
    default_spacing_days: float = 25.0
    """Spacing used with fewer than two peaks: one a month, each 5–6 days earlier."""
    max_spacing_days: float = 40.0
    """Longer gaps between peaks mean a missed peak and are not used for the spacing [A]."""
    n_projected: int = 3
    """Projected peaks reported (about one crop's worth)."""
    sow_after_peak_days: tuple[int, int] = (3, 7)
    """Sowing starts this many days after a peak (first and last day)."""
    susceptible_days: int = 15
    """Days after sowing during which the crop must not meet a wave [A]."""
    wave_margin_days: int = 3
    """Half-width of a wave around its peak [A]."""

    def __post_init__(self) -> None:
        first, last = self.sow_after_peak_days
        if not 0 <= first <= last:
            raise ValueError(f"sow_after_peak_days must be 0 ≤ first ≤ last, got {first, last}")
        if self.smoothing_days < 1 or self.min_separation_days < 1:
            raise ValueError("smoothing_days and min_separation_days must be ≥ 1")

    @property
    def susceptible_stage(self) -> str:
        return f"seedling stage (0–{self.susceptible_days} days after sowing)"

    @property
    def susceptible_stage_vi(self) -> str:
        return f"giai đoạn mạ (0–{self.susceptible_days} ngày sau sạ)"


DEFAULT_SOWING_RULE = SowingRule()


@dataclass(frozen=True)
class TrapPeak:
    """One light-trap peak of a district."""

    date: dt.date
    mean_count: float
    """Smoothed mean BPH adults per trap-night over the district's stations."""


@dataclass(frozen=True)
class SowingWindow:
    """The proposed sowing window of one district on ``as_of``, with its grounds."""

    district: str
    as_of: dt.date
    peaks: tuple[TrapPeak, ...]
    """Peaks found in the lookback, oldest first."""
    spacing_days: float
    """Days between peaks used for the projection."""
    spacing_observed: bool
    """True when the spacing comes from ≥ 2 observed peaks, False for the default."""
    projected_peaks: tuple[dt.date, ...]
    start: dt.date | None
    """First sowing day (None: no window can be proposed yet)."""
    end: dt.date | None
    """Last sowing day, inclusive."""
    anchor_peak: dt.date | None
    """The peak (observed or projected) the window follows."""
    susceptible_stage: str
    """The crop stage kept clear of the next wave."""
    reason_en: str
    reason_vi: str


def sowing_windows(
    traps: pd.DataFrame, *, as_of: dt.date, rule: SowingRule = DEFAULT_SOWING_RULE
) -> list[SowingWindow]:
    """One :class:`SowingWindow` per district of ``traps`` (``LIGHT_TRAP_COLUMNS``), by name."""
    require_columns(traps, ("district", "date", "bph_count"), "light-trap table")
    dates = pd.to_datetime(traps["date"])
    if not (dates <= pd.Timestamp(as_of)).any():
        raise DataError(
            f"the light-trap table has no counts on or before {as_of}; pass an as_of date "
            "inside the records or add recent nights"
        )
    return [
        district_window(
            district_trap_series(group, as_of=as_of, rule=rule), str(district), as_of, rule
        )
        for district, group in traps.assign(date=dates).groupby("district", sort=True)
    ]


def district_trap_series(
    traps: pd.DataFrame, *, as_of: dt.date, rule: SowingRule = DEFAULT_SOWING_RULE
) -> pd.Series:
    """Daily mean BPH per trap-night over stations, on every day of the lookback to ``as_of``."""
    days = pd.date_range(end=pd.Timestamp(as_of), periods=rule.lookback_days, freq="D")
    recent = traps[pd.to_datetime(traps["date"]).between(days[0], days[-1])]
    daily = recent.groupby(pd.to_datetime(recent["date"]))["bph_count"].mean()
    daily = daily.astype(float).reindex(days)
    return daily.interpolate(limit_area="inside").rename("bph_per_trap_night")


def find_trap_peaks(
    daily: pd.Series, rule: SowingRule = DEFAULT_SOWING_RULE
) -> tuple[tuple[TrapPeak, ...], float]:
    """Peaks of a daily series (DatetimeIndex) and the threshold they had to pass."""
    # Full windows only: a truncated window at the end would lean towards the last nights.
    width = rule.smoothing_days
    smoothed = daily.rolling(width, center=True, min_periods=width).mean().dropna()
    if smoothed.empty:
        return (), float("nan")
    threshold = max(rule.peak_ratio * float(smoothed.median()), rule.min_peak_count)
    values = smoothed.to_numpy()
    found, _ = find_peaks(values, height=threshold, distance=rule.min_separation_days)
    last_confirmed = len(values) - 1 - rule.confirm_days
    peaks = tuple(
        TrapPeak(smoothed.index[i].date(), round(float(values[i]), 1))
        for i in found
        if i <= last_confirmed
    )
    return peaks, threshold


def peak_spacing(
    peaks: Sequence[TrapPeak], rule: SowingRule = DEFAULT_SOWING_RULE
) -> tuple[float, bool]:
    """(days between peaks, observed?) from the last three peaks, else the default."""
    days = np.array([p.date.toordinal() for p in peaks[-3:]], dtype=float)
    gaps = np.diff(days)
    gaps = gaps[gaps <= rule.max_spacing_days]
    if len(gaps) == 0:
        return rule.default_spacing_days, False
    return float(np.median(gaps)), True


def project_peaks(last_peak: dt.date, spacing_days: float, count: int) -> tuple[dt.date, ...]:
    """The ``count`` peaks after ``last_peak``, ``spacing_days`` apart (rounded to days)."""
    return tuple(
        last_peak + dt.timedelta(days=round(k * spacing_days)) for k in range(1, count + 1)
    )


def district_window(
    daily: pd.Series, district: str, as_of: dt.date, rule: SowingRule = DEFAULT_SOWING_RULE
) -> SowingWindow:
    """The sowing window of one district from its daily series (see the module docstring)."""
    peaks, threshold = find_trap_peaks(daily, rule)
    if not peaks:
        return _no_peak(district, as_of, threshold, rule)
    spacing, observed = peak_spacing(peaks, rule)
    last = peaks[-1].date
    cycles = int(np.ceil((as_of - last).days / spacing)) + rule.n_projected + 1
    anchors = (last, *project_peaks(last, spacing, cycles))
    grounds = _Grounds(
        district, as_of, peaks, spacing, observed,
        tuple(d for d in anchors[1:] if d > as_of)[: rule.n_projected],
    )  # fmt: skip
    if _window_after(last, anchors[1], dt.date.min, rule) is None:
        return _too_close(grounds, rule)
    for anchor, following in itertools.pairwise(anchors):
        window = _window_after(anchor, following, as_of, rule)
        if window is not None:
            return _proposal(grounds, anchor, following, window, rule)
    return _too_close(grounds, rule)


@dataclass(frozen=True)
class _Grounds:
    """What a district's proposal rests on."""

    district: str
    as_of: dt.date
    peaks: tuple[TrapPeak, ...]
    spacing: float
    observed: bool
    projected: tuple[dt.date, ...]


def _window_after(
    peak: dt.date, following: dt.date, as_of: dt.date, rule: SowingRule
) -> tuple[dt.date, dt.date] | None:
    """Sowing days after ``peak`` whose susceptible stage ends before ``following``'s wave."""
    first, last = rule.sow_after_peak_days
    latest_safe = following - dt.timedelta(days=rule.wave_margin_days + rule.susceptible_days + 1)
    start = max(peak + dt.timedelta(days=first), as_of)
    end = min(peak + dt.timedelta(days=last), latest_safe)
    return (start, end) if start <= end else None


def _proposal(
    grounds: _Grounds,
    anchor: dt.date,
    following: dt.date,
    window: tuple[dt.date, dt.date],
    rule: SowingRule,
) -> SowingWindow:
    last = grounds.peaks[-1]
    seen = anchor == last.date
    start, end = window
    spacing = _days(grounds.spacing)
    en = (
        f"Last light-trap peak {last.date:%Y-%m-%d} ({last.mean_count:,.0f} BPH/trap-night); "
        f"peaks every {spacing} days ({'observed' if grounds.observed else 'default'}). "
        f"Sow {start:%Y-%m-%d} to {end:%Y-%m-%d}, right after the "
        f"{'observed' if seen else 'projected'} peak of {anchor:%Y-%m-%d}, so that the "
        f"{rule.susceptible_stage} clears the next wave expected {following:%Y-%m-%d}."
    )
    vi = (
        f"Đỉnh rầy nâu vào đèn gần nhất {last.date:%d/%m/%Y} ({_vi_number(last.mean_count)} "
        f"con/đèn/đêm); chu kỳ {spacing.replace('.', ',')} ngày "
        f"({'theo các đỉnh đã ghi nhận' if grounds.observed else 'mặc định'}). "
        f"Xuống giống từ {start:%d/%m/%Y} đến {end:%d/%m/%Y}, ngay sau đỉnh rầy "
        f"{'đã ghi nhận' if seen else 'dự kiến'} ngày {anchor:%d/%m/%Y}, để "
        f"{rule.susceptible_stage_vi} né đợt rầy kế tiếp dự kiến {following:%d/%m/%Y}."
    )
    return _result(grounds, rule, en, vi, window=window, anchor=anchor)


def _no_peak(district: str, as_of: dt.date, threshold: float, rule: SowingRule) -> SowingWindow:
    since = as_of - dt.timedelta(days=rule.lookback_days - 1)
    if np.isnan(threshold):
        en = f"No light-trap counts from {since:%Y-%m-%d} to {as_of:%Y-%m-%d}; read the traps."
        vi = f"Không có số liệu bẫy đèn từ {since:%d/%m/%Y} đến {as_of:%d/%m/%Y}; cần đọc bẫy đèn."
    else:
        en = (
            f"No light-trap peak above {threshold:,.0f} BPH/trap-night since {since:%Y-%m-%d}; "
            "keep reading the traps nightly and sow right after the next peak."
        )
        vi = (
            f"Chưa có đỉnh rầy vào đèn trên {_vi_number(threshold)} con/đèn/đêm từ "
            f"{since:%d/%m/%Y}; tiếp tục theo dõi bẫy đèn hằng đêm, xuống giống ngay sau đỉnh "
            "rầy kế tiếp."
        )
    grounds = _Grounds(district, as_of, (), rule.default_spacing_days, False, ())
    return _result(grounds, rule, en, vi)


def _too_close(grounds: _Grounds, rule: SowingRule) -> SowingWindow:
    spacing = _days(grounds.spacing)
    en = (
        f"Peaks come every {spacing} days: too close for the {rule.susceptible_stage} to "
        "clear the next wave; no escape window, consult the plant-protection station."
    )
    vi = (
        f"Các đỉnh rầy cách nhau {spacing.replace('.', ',')} ngày, quá gần để "
        f"{rule.susceptible_stage_vi} né đợt rầy kế tiếp; không có lịch né rầy, hỏi ý kiến "
        "trạm bảo vệ thực vật."
    )
    return _result(grounds, rule, en, vi)


def _result(
    grounds: _Grounds,
    rule: SowingRule,
    en: str,
    vi: str,
    *,
    window: tuple[dt.date, dt.date] | None = None,
    anchor: dt.date | None = None,
) -> SowingWindow:
    start, end = window if window is not None else (None, None)
    return SowingWindow(
        district=grounds.district,
        as_of=grounds.as_of,
        peaks=grounds.peaks,
        spacing_days=grounds.spacing,
        spacing_observed=grounds.observed,
        projected_peaks=grounds.projected,
        start=start,
        end=end,
        anchor_peak=anchor,
        susceptible_stage=rule.susceptible_stage,
        reason_en=en,
        reason_vi=vi,
    )


def _days(value: float) -> str:
    """Days with one decimal only when needed (25, 25.5)."""
    return f"{value:.1f}".removesuffix(".0")


def _vi_number(value: float) -> str:
    """Thousands separated by dots, as written in Vietnamese (4.820)."""
    return f"{value:,.0f}".replace(",", ".")
