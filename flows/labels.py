"""The names officers read, in English and Vietnamese: one table for every output."""

from __future__ import annotations

import string
from typing import Any

from pestcast.models import NO_DATA, NOT_IN_CROP

__all__ = ["CLASS_NAMES", "PEST_NAMES", "format_vi", "number_vi"]

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


def number_vi(value: float, spec: str = ",.1f") -> str:
    """A number as Vietnamese writes it: 1.234,5 (dot for thousands, comma for decimals)."""
    return format(value, spec).translate(_SWAP_SEPARATORS)


def format_vi(template: str, /, **fields: Any) -> str:
    """``template.format(**fields)`` with every number written as Vietnamese writes it."""
    return _VietnameseNumbers().format(template, **fields)


_SWAP_SEPARATORS = str.maketrans({",": ".", ".": ","})


class _VietnameseNumbers(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return number_vi(value, format_spec)
        return str(super().format_field(value, format_spec))
