"""Publish the per-district sowing windows that escape BPH waves (lịch xuống giống né rầy).

Two files, each written atomically: ``sowing_windows.csv`` (UTF-8 with BOM so Excel shows the
Vietnamese text, bilingual headers) and ``sowing_windows.json`` (the same facts plus the peaks).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd

from pestcast.core.atomic import write_text_atomic
from pestcast.features.sowing import DEFAULT_SOWING_RULE, SowingRule, SowingWindow, sowing_windows

__all__ = ["CSV_HEADERS", "sowing_windows_table", "write_sowing_windows"]

CSV_HEADERS = {
    "district": "district / huyện",
    "as_of": "as of / ngày lập",
    "window_start": "sow from / xuống giống từ ngày",
    "window_end": "sow until / đến ngày",
    "anchor_peak": "after peak / sau đỉnh rầy ngày",
    "last_peak": "last trap peak / đỉnh rầy vào đèn gần nhất",
    "last_peak_count": "BPH per trap-night / số rầy (con/đèn/đêm)",
    "spacing_days": "days between peaks / chu kỳ (ngày)",
    "spacing_observed": "spacing observed / chu kỳ quan sát",
    "projected_peaks": "next peaks / đỉnh rầy dự kiến",
    "susceptible_stage": "stage kept clear / giai đoạn cần né",
    "reason_en": "reason",
    "reason_vi": "lý do",
}
"""CSV column → bilingual header (English / Vietnamese)."""


def write_sowing_windows(
    traps: pd.DataFrame,
    out_dir: Path,
    *,
    as_of: dt.date,
    rule: SowingRule = DEFAULT_SOWING_RULE,
) -> list[Path]:
    """Compute the windows from validated trap counts and write the CSV and the JSON."""
    windows = sowing_windows(traps, as_of=as_of, rule=rule)
    table = sowing_windows_table(windows).rename(columns=CSV_HEADERS)
    csv_path = write_text_atomic(
        Path(out_dir) / "sowing_windows.csv",
        table.to_csv(index=False, lineterminator="\n"),
        encoding="utf-8-sig",
    )
    payload = {"as_of": as_of.isoformat(), "districts": [_as_json(w) for w in windows]}
    json_path = write_text_atomic(
        Path(out_dir) / "sowing_windows.json",
        json.dumps(payload, indent=2, ensure_ascii=False) + "\n",
    )
    return [csv_path, json_path]


def sowing_windows_table(windows: list[SowingWindow]) -> pd.DataFrame:
    """One row per district with the columns of ``CSV_HEADERS`` (dates as ISO strings)."""
    rows = [
        {
            "district": w.district,
            "as_of": w.as_of.isoformat(),
            "window_start": _iso(w.start),
            "window_end": _iso(w.end),
            "anchor_peak": _iso(w.anchor_peak),
            "last_peak": _iso(w.peaks[-1].date) if w.peaks else "",
            "last_peak_count": round(w.peaks[-1].mean_count) if w.peaks else None,
            "spacing_days": round(w.spacing_days, 1),
            "spacing_observed": w.spacing_observed,
            "projected_peaks": " ".join(d.isoformat() for d in w.projected_peaks),
            "susceptible_stage": w.susceptible_stage,
            "reason_en": w.reason_en,
            "reason_vi": w.reason_vi,
        }
        for w in windows
    ]
    return pd.DataFrame(rows, columns=list(CSV_HEADERS))


def _iso(day: dt.date | None) -> str:
    return day.isoformat() if day is not None else ""


def _as_json(window: SowingWindow) -> dict[str, Any]:
    return {
        "district": window.district,
        "window": {"start": _iso(window.start) or None, "end": _iso(window.end) or None},
        "anchor_peak": _iso(window.anchor_peak) or None,
        "peaks": [{"date": p.date.isoformat(), "mean_count": p.mean_count} for p in window.peaks],
        "spacing_days": round(window.spacing_days, 1),
        "spacing_observed": window.spacing_observed,
        "projected_peaks": [d.isoformat() for d in window.projected_peaks],
        "susceptible_stage": window.susceptible_stage,
        "reason": {"en": window.reason_en, "vi": window.reason_vi},
    }
