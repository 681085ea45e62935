"""The names officers read, in English and Vietnamese: one table for every output."""

from __future__ import annotations

from pestcast.models import NO_DATA, NOT_IN_CROP

__all__ = ["CLASS_NAMES", "PEST_NAMES"]

PEST_NAMES = {
    "bph": ("brown planthopper", "rầy nâu"),
    "blast": ("rice blast", "đạo ôn"),
}
"""Pest code → (English, Vietnamese) name."""

CLASS_NAMES = {
    "high": ("high", "cao"),
    "medium": ("medium", "trung bình"),
    "low": ("low", "thấp"),
    NO_DATA: ("not enough data", "chưa đủ dữ liệu"),
    NOT_IN_CROP: ("not in crop", "không có lúa"),
}
"""Risk class → (English, Vietnamese) name."""
