"""A parcel's top risk drivers as short plain sentences in English and Vietnamese.

The drivers are the features with the largest positive SHAP contributions
(:func:`pestcast.models.risk_drivers`); each is said with the parcel's own value, e.g.
"6 humid days in a row" / "6 ngày ẩm liên tiếp". Feature names follow ``features/``'s docstrings:
``<name>_<w>d`` windows, ``<name>_<pest>`` survey features.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pestcast.flows.labels import PEST_NAMES, format_vi

__all__ = ["Reason", "has_phrase", "reason", "reasons_text"]


SEVERITY_NAMES = (
    ("none", "không nhiễm"),
    ("light", "nhiễm nhẹ"),
    ("medium", "nhiễm trung bình"),
    ("heavy", "nhiễm nặng"),
)
"""Survey severity 0–3 → (English, Vietnamese)."""

_WINDOW = re.compile(r"^(?P<stem>.+)_(?P<days>\d+)d$")


@dataclass(frozen=True)
class Reason:
    """One driver said in both languages."""

    en: str
    vi: str


# (English, Vietnamese) templates. Fields: v the value, pct the value as a percentage, pts the
# value × 100 as signed points, d the window in days, pest_en/pest_vi the pest (survey features),
# sev_en/sev_vi a severity class, per_night e^v − 1 (light traps' log catch back to a count).
_PHRASES: dict[str, tuple[str, str]] = {
    # imagery
    "ndvi_last": ("dense green canopy (NDVI {v:.2f})", "lúa xanh tốt, tán dày (NDVI {v:.2f})"),
    "evi_last": ("vigorous canopy (EVI {v:.2f})", "lúa sinh trưởng mạnh (EVI {v:.2f})"),
    "ndre_last": (
        "lush, nitrogen-rich leaves (NDRE {v:.2f})",
        "lá xanh đậm, nhiều đạm (NDRE {v:.2f})",
    ),
    "lswi_last": ("wet field (LSWI {v:.2f})", "ruộng ẩm, nhiều nước (LSWI {v:.2f})"),
    "ndvi_change": (
        "greenness changed by {v:+.2f} in {d} days",
        "độ xanh thay đổi {v:+.2f} trong {d} ngày",
    ),
    "days_since_flooding": (
        "crop about {v:.0f} days after sowing",
        "lúa khoảng {v:.0f} ngày sau sạ",
    ),
    "ndvi_max_crop": ("crop peak greenness NDVI {v:.2f}", "độ xanh cao nhất vụ NDVI {v:.2f}"),
    "ndvi_drop_from_crop_max": (
        "greenness {v:.2f} below its peak",
        "độ xanh giảm {v:.2f} so với đỉnh",
    ),
    "nbr_days_since_flooding_std": (
        "neighbours sown up to {v:.0f} days apart",
        "ruộng xung quanh xuống giống lệch nhau {v:.0f} ngày",
    ),
    "nbr_flooded_share": (
        "{pct} of neighbours newly sown ({d} days)",
        "{pct} ruộng lân cận mới xuống giống ({d} ngày)",
    ),
    "days_into_season": ("{v:.0f} days into the season", "{v:.0f} ngày từ đầu vụ"),
    # damage seen now: the canopy against its own trend and its neighbours of the same age
    "ndre_vs_trend": (
        "leaves {v:+.2f} NDRE off their own trend",
        "lá lệch {v:+.2f} NDRE so với xu hướng của ruộng",
    ),
    "ndvi_vs_trend": (
        "greenness {v:+.2f} off its own trend",
        "độ xanh lệch {v:+.2f} so với xu hướng của ruộng",
    ),
    "evi_vs_trend": ("canopy {v:+.2f} EVI off its own trend", "tán lá lệch {v:+.2f} EVI"),
    "ndre_vs_nbr": (
        "{v:+.2f} NDRE against neighbours of the same age",
        "NDRE {v:+.2f} so với ruộng cùng tuổi lúa",
    ),
    "ndvi_vs_nbr": (
        "greenness {v:+.2f} against neighbours of the same age",
        "độ xanh {v:+.2f} so với ruộng cùng tuổi lúa",
    ),
    "evi_vs_nbr": (
        "canopy {v:+.2f} EVI against neighbours of the same age",
        "tán lá {v:+.2f} EVI so với ruộng cùng tuổi lúa",
    ),
    "ndre_std_last": (
        "patchy canopy (NDRE spread {v:.2f})",
        "tán lá loang lổ (độ lệch NDRE {v:.2f})",
    ),
    "ndre_std_change": (
        "canopy patchiness changed by {v:+.2f}",
        "độ loang lổ của tán lá thay đổi {v:+.2f}",
    ),
    # radar (Sentinel-1): sees through clouds
    "vv_db_last": (
        "radar: field surface and stems (VV {v:.1f} dB)",
        "radar: mặt ruộng và thân lúa (VV {v:.1f} dB)",
    ),
    "vh_db_last": (
        "radar: canopy density (VH {v:.1f} dB)",
        "radar: độ dày tán lúa (VH {v:.1f} dB)",
    ),
    "vh_vv_db_last": (
        "radar canopy-to-ground ratio VH−VV {v:.1f} dB",
        "tỉ số tán lúa/mặt ruộng trên radar VH−VV {v:.1f} dB",
    ),
    "vh_db_change": (
        "radar canopy signal changed by {v:+.1f} dB in {d} days",
        "tín hiệu tán lúa trên radar thay đổi {v:+.1f} dB trong {d} ngày",
    ),
    # weather
    "tmin_mean": (
        "nights averaging {v:.1f} °C ({d} days)",
        "nhiệt độ đêm trung bình {v:.1f} °C ({d} ngày)",
    ),
    "tmax_mean": (
        "days averaging {v:.1f} °C ({d} days)",
        "nhiệt độ ngày trung bình {v:.1f} °C ({d} ngày)",
    ),
    "rh_mean": (
        "humidity {v:.0f} % on average ({d} days)",
        "độ ẩm trung bình {v:.0f} % ({d} ngày)",
    ),
    "rh_max_mean": (
        "humid nights, {v:.0f} % at most ({d} days)",
        "đêm ẩm, độ ẩm cao nhất {v:.0f} % ({d} ngày)",
    ),
    "rain_sum": ("{v:.0f} mm of rain in {d} days", "mưa {v:.0f} mm trong {d} ngày"),
    "rainy_days": ("{v:.0f} rainy days of {d}", "{v:.0f} ngày mưa trong {d} ngày"),
    "degree_days": (
        "warm: {v:.0f} degree-days in {d} days",
        "trời ấm: {v:.0f} độ-ngày trong {d} ngày",
    ),
    "hot_days": ("{v:.0f} days above 35 °C in {d}", "{v:.0f} ngày trên 35 °C trong {d} ngày"),
    "blast_wet_days": ("leaves wet on {v:.0f} of {d} days", "lá ướt {v:.0f} trong {d} ngày"),
    "blast_rct_mean": (
        "temperatures favour blast ({d} days)",
        "nhiệt độ thuận lợi cho đạo ôn ({d} ngày)",
    ),
    "humid_days_in_a_row": ("{v:.0f} humid days in a row", "{v:.0f} ngày ẩm liên tiếp"),
    # weather forecast for the days ahead
    "fcst_rain_sum": (
        "{v:.0f} mm of rain forecast for the next {d} days",
        "dự báo mưa {v:.0f} mm trong {d} ngày tới",
    ),
    "fcst_tmean_mean": (
        "forecast to average {v:.1f} °C over the next {d} days",
        "dự báo nhiệt độ trung bình {v:.1f} °C trong {d} ngày tới",
    ),
    "fcst_rh_mean": (
        "humidity forecast at {v:.0f} % on average (next {d} days)",
        "dự báo độ ẩm trung bình {v:.0f} % ({d} ngày tới)",
    ),
    "fcst_wet_days": (
        "{v:.0f} rainy days forecast in the next {d}",
        "dự báo {v:.0f} ngày mưa trong {d} ngày tới",
    ),
    # surveys
    "last_severity": ("last {pest_en} survey: {sev_en}", "điều tra {pest_vi} gần nhất: {sev_vi}"),
    "nbr_infested_share": (
        "{pest_en} reported nearby ({pct} of surveyed neighbours)",
        "có {pest_vi} gần đây ({pct} ruộng lân cận được điều tra)",
    ),
    "commune_infested_share": (
        "{pest_en} in the commune ({pct} of surveyed fields)",
        "có {pest_vi} trong xã ({pct} ruộng được điều tra)",
    ),
    "region_infested_share": (
        "{pest_en} across the region ({pct} of surveyed fields)",
        "{pest_vi} trên toàn vùng ({pct} ruộng được điều tra)",
    ),
    "region_infested_trend": (
        "{pest_en} rising in the region ({pts:+.0f} points)",
        "{pest_vi} đang tăng trong vùng ({pts:+.0f} điểm)",
    ),
    "history_infested_rate": (
        "{pest_en} found in {pct} of this field's surveys",
        "ruộng này từng nhiễm {pest_vi} ở {pct} lần điều tra",
    ),
    "survey_field": (
        "{pest_en} found close by lately ({pct} of nearby findings, recent ones first)",
        "có {pest_vi} ở gần đây ({pct} kết quả điều tra lân cận, mới nhất tính nhiều hơn)",
    ),
    # light traps
    "trap_bph_log": (
        "light traps caught about {per_night:,.0f} planthoppers a night ({d} nights)",
        "đèn bẫy vào khoảng {per_night:,.0f} con rầy nâu mỗi đêm ({d} đêm)",
    ),
    "trap_bph_log_trend": (
        "light-trap catches rising ({v:+.1f} on a log scale, {d} nights)",
        "rầy vào đèn tăng ({v:+.1f} theo thang log, {d} đêm)",
    ),
    # data-quality columns, when a data scientist feeds them to the models
    "days_since_clear_obs": ("no clear image for {v:.0f} days", "{v:.0f} ngày chưa có ảnh rõ"),
    "last_obs_valid_px": (
        "last image shows {v:.0f} clear pixels",
        "ảnh gần nhất có {v:.0f} điểm ảnh rõ",
    ),
    "nbr_count": ("{v:.0f} neighbouring fields", "{v:.0f} ruộng lân cận"),
    "days_since_sar_obs": ("no radar image for {v:.0f} days", "{v:.0f} ngày chưa có ảnh radar"),
    "fcst_issue_age_days": (
        "weather forecast {v:.0f} days old",
        "bản tin dự báo thời tiết đã cũ {v:.0f} ngày",
    ),
    "days_since_survey": (
        "last {pest_en} survey {v:.0f} days ago",
        "điều tra {pest_vi} cách đây {v:.0f} ngày",
    ),
    "history_surveys": (
        "{v:.0f} {pest_en} surveys of this field",
        "ruộng đã được điều tra {pest_vi} {v:.0f} lần",
    ),
    "survey_field_weight": (
        "{pest_en} evidence nearby weighs {v:.1f} recent surveys",
        "bằng chứng {pest_vi} lân cận tương đương {v:.1f} lần điều tra gần đây",
    ),
}


def _phrase_for(feature: str) -> tuple[tuple[str, str], str] | None:
    """The phrase of a feature and its suffix (window days or pest code), if one is known."""
    if feature in _PHRASES:
        return _PHRASES[feature], ""
    window = _WINDOW.match(feature)
    if window and window["stem"] in _PHRASES:
        return _PHRASES[window["stem"]], window["days"]
    stem, _, pest = feature.rpartition("_")
    if stem in _PHRASES:
        return _PHRASES[stem], pest
    return None


def reason(feature: str, value: float) -> Reason:
    """One driver as a sentence; a feature with no phrase is named as it is."""
    found = _phrase_for(feature)
    if found is None or not math.isfinite(value):
        return Reason(feature, feature)
    (english, vietnamese), suffix = found
    pest_en, pest_vi = PEST_NAMES.get(suffix, (suffix, suffix))
    sev_en, sev_vi = SEVERITY_NAMES[min(max(round(value), 0), 3)]
    fields = {
        "v": value,
        "pct": f"{100 * value:.0f} %",
        "pts": 100 * value,
        "d": suffix,
        "pest_en": pest_en,
        "pest_vi": pest_vi,
        "sev_en": sev_en,
        "sev_vi": sev_vi,
        "per_night": math.expm1(min(value, 30.0)),
    }
    return Reason(english.format(**fields), format_vi(vietnamese, **fields))


def has_phrase(feature: str) -> bool:
    """Whether ``feature`` has a phrase (a test keeps every model input covered)."""
    return _phrase_for(feature) is not None


def reasons_text(drivers: Sequence[tuple[str, float]], values: Mapping[Any, Any]) -> Reason:
    """Up to three drivers of one parcel, joined by ``; `` in each language."""
    said = [reason(name, float(values[name])) for name, _ in drivers]
    return Reason("; ".join(r.en for r in said), "; ".join(r.vi for r in said))
