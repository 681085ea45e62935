"""Sowing windows that escape BPH waves, on synthetic light-trap series with known peaks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from pestcast.core.errors import DataError
from pestcast.features.sowing import (
    SowingRule,
    district_trap_series,
    find_trap_peaks,
    peak_spacing,
    project_peaks,
    sowing_windows,
)

FIRST = dt.date(2024, 1, 1)


def _traps(
    peaks: Sequence[int], *, days: int = 150, district: str = "Thoại Sơn", height: float = 5000.0
) -> pd.DataFrame:
    """Two stations, quiet 20/night, Gaussian waves (σ 2 d) on day numbers ``peaks``."""
    day = np.arange(days)
    mean = 20.0 + height * sum(np.exp(-0.5 * ((day - p) / 2.0) ** 2) for p in peaks)
    dates = pd.date_range(FIRST, periods=days, freq="D")
    return pd.concat(
        pd.DataFrame(
            {
                "station_id": station,
                "district": district,
                "date": dates,
                "bph_count": np.round(mean * scale).astype(np.int64),
            }
        )
        for station, scale in (("LT01", 1.0), ("LT02", 0.8))
    )


def _day(number: int) -> dt.date:
    return FIRST + dt.timedelta(days=number)


def test_peaks_are_found_on_their_days_with_their_height() -> None:
    daily = district_trap_series(_traps([30, 55, 80, 105]), as_of=_day(120))
    peaks, threshold = find_trap_peaks(daily)
    assert [p.date for p in peaks] == [_day(30), _day(55), _day(80), _day(105)]
    assert 20 < threshold < 500
    assert all(2_000 < p.mean_count < 5_000 for p in peaks)


def test_a_peak_needs_three_nights_after_it_to_count() -> None:
    daily = district_trap_series(_traps([30, 55, 80]), as_of=_day(82))
    peaks, _ = find_trap_peaks(daily)
    assert [p.date for p in peaks] == [_day(30), _day(55)]


def test_counts_after_as_of_are_never_used() -> None:
    before = sowing_windows(_traps([30, 55, 80]), as_of=_day(90))
    after = sowing_windows(_traps([30, 55, 80, 95, 100]), as_of=_day(90))
    assert before == after


def test_spacing_comes_from_recent_peaks_or_the_default() -> None:
    daily = district_trap_series(_traps([32, 56, 80]), as_of=_day(100))
    peaks, _ = find_trap_peaks(daily)
    assert peak_spacing(peaks) == (24.0, True)
    assert project_peaks(peaks[-1].date, 24.0, 3) == (_day(104), _day(128), _day(152))
    assert peak_spacing(peaks[-1:]) == (25.0, False)


def test_gaps_of_a_missed_peak_are_not_a_spacing() -> None:
    daily = district_trap_series(_traps([20, 70]), as_of=_day(100))
    peaks, _ = find_trap_peaks(daily)
    assert peak_spacing(peaks) == (25.0, False)


def test_window_follows_the_last_peak_and_clears_the_next_wave() -> None:
    rule = SowingRule()
    (window,) = sowing_windows(_traps([30, 55, 80]), as_of=_day(83), rule=rule)
    assert window.anchor_peak == _day(80)
    assert (window.start, window.end) == (_day(83), _day(86))
    assert window.projected_peaks == (_day(105), _day(130), _day(155))
    assert window.spacing_observed
    next_wave = window.projected_peaks[0] - dt.timedelta(days=rule.wave_margin_days)
    assert window.end + dt.timedelta(days=rule.susceptible_days) < next_wave
    assert "2024-03-24" in window.reason_en
    assert "24/03/2024" in window.reason_vi
    assert "giai đoạn mạ" in window.reason_vi


def test_a_window_already_past_moves_to_the_next_projected_peak() -> None:
    (window,) = sowing_windows(_traps([30, 55, 80]), as_of=_day(95))
    assert window.anchor_peak == _day(105)
    assert (window.start, window.end) == (_day(108), _day(111))
    assert "projected" in window.reason_en


def test_as_of_inside_the_window_shortens_it() -> None:
    (window,) = sowing_windows(_traps([30, 55, 80]), as_of=_day(85))
    assert (window.start, window.end) == (_day(85), _day(86))


def test_a_single_peak_uses_the_default_monthly_spacing() -> None:
    (window,) = sowing_windows(_traps([80]), as_of=_day(90))
    assert not window.spacing_observed
    assert window.spacing_days == 25.0
    assert window.projected_peaks[0] == _day(105)


def test_no_peak_gives_no_window_and_says_why() -> None:
    (window,) = sowing_windows(_traps([], days=100), as_of=_day(99))
    assert window.start is None
    assert window.end is None
    assert window.peaks == ()
    assert "No light-trap peak above" in window.reason_en
    assert "Chưa có đỉnh rầy vào đèn" in window.reason_vi


def test_peaks_too_close_for_the_seedlings_give_no_window() -> None:
    (window,) = sowing_windows(_traps([40, 58, 76]), as_of=_day(78))
    assert window.spacing_days == 18.0
    assert window.start is None
    assert "too close" in window.reason_en


def test_each_district_gets_its_own_window() -> None:
    traps = pd.concat([_traps([30, 55, 80]), _traps([35, 60, 85], district="Châu Thành")])
    windows = sowing_windows(traps, as_of=_day(90))
    assert [w.district for w in windows] == ["Châu Thành", "Thoại Sơn"]
    assert [w.anchor_peak for w in windows] == [_day(85), _day(105)]


def test_a_table_without_counts_before_as_of_is_an_error() -> None:
    with pytest.raises(DataError, match="no counts on or before 2023-12-01"):
        sowing_windows(_traps([30]), as_of=dt.date(2023, 12, 1))
    with pytest.raises(DataError, match="bph_count"):
        sowing_windows(_traps([30]).drop(columns="bph_count"), as_of=_day(40))
