"""The Mekong delta rice-season calendar (labels such as ``2023-WS``, their order) and day numbers.

====  ====================  =============================================
code  season                calendar window (the label's year is ``Y``)
====  ====================  =============================================
WS    winter–spring         1 Nov (Y − 1) – 15 Mar (Y)
SA    summer–autumn         16 Mar (Y) – 31 Jul (Y)
AW    autumn–winter         1 Aug (Y) – 31 Oct (Y)
====  ====================  =============================================

The windows tile the year, so every date has exactly one season. Parcels are sown at different
times inside a window; crop age comes from imagery (days since flooding), not from this calendar.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from pestcast.core.errors import DataError

__all__ = [
    "SEASON_CODES",
    "day_numbers",
    "rice_season",
    "season_end",
    "season_start",
    "sorted_seasons",
]

SEASON_CODES = ("WS", "SA", "AW")
"""Season codes in calendar order within a season year."""

_START_MONTH_DAY = {"WS": (11, 1), "SA": (3, 16), "AW": (8, 1)}
_LABEL = re.compile(r"^(\d{4})-(WS|SA|AW)$")


def rice_season(dates: Any) -> pd.Series:
    """Season label (``YYYY-WS|SA|AW``) of each date; missing dates give missing labels.

    ``dates`` may be a Series (its index is kept), an Index, an array or a list of date-likes.
    """
    index = dates.index if isinstance(dates, pd.Series) else None
    stamps = pd.DatetimeIndex(pd.to_datetime(np.asarray(dates)))
    missing = np.asarray(stamps.isna())
    stamps = pd.DatetimeIndex(stamps.fillna(pd.Timestamp(2000, 1, 1)))
    month_day = np.asarray(stamps.month * 100 + stamps.day)
    code = np.select(
        [(month_day >= 1101) | (month_day <= 315), month_day <= 731], ["WS", "SA"], "AW"
    )
    year = np.where(month_day >= 1101, stamps.year + 1, stamps.year)
    labels = np.char.add(np.char.add(year.astype(str), "-"), code)
    return pd.Series(labels, index=index, dtype="str", name="season").mask(missing)


def season_start(label: str) -> pd.Timestamp:
    """First day of season ``label`` (e.g. ``2023-WS`` → 2022-11-01)."""
    year, code = _parse(label)
    month, day = _START_MONTH_DAY[code]
    return pd.Timestamp(year - 1 if code == "WS" else year, month, day)


def season_end(label: str) -> pd.Timestamp:
    """Last day of season ``label`` (e.g. ``2023-WS`` → 2023-03-15)."""
    year, code = _parse(label)
    following = {"WS": f"{year}-SA", "SA": f"{year}-AW", "AW": f"{year + 1}-WS"}[code]
    return season_start(following) - pd.Timedelta(days=1)


def sorted_seasons(labels: Iterable[str]) -> list[str]:
    """Distinct season labels in chronological order (missing values dropped)."""
    distinct = {str(label) for label in labels if isinstance(label, str)}
    return sorted(distinct, key=season_start)


def _parse(label: str) -> tuple[int, str]:
    match = _LABEL.match(str(label))
    if match is None:
        raise DataError(
            f"season label {label!r} is not of the form YYYY-WS, YYYY-SA or YYYY-AW "
            "(winter–spring, summer–autumn, autumn–winter)"
        )
    return int(match.group(1)), match.group(2)


def day_numbers(dates: Any) -> npt.NDArray[np.int64]:
    """Calendar days as integers (days since 1970-01-01); the time of day is dropped.

    Day numbers make "days since" features exact integer arithmetic and work the same for any
    datetime resolution (``ns``, ``us``, ``s``). Missing dates are an error.
    """
    stamps = pd.DatetimeIndex(pd.to_datetime(np.asarray(dates)))
    if stamps.tz is not None:
        raise DataError("local calendar dates must be timezone-naive; convert them to local time")
    if stamps.hasnans:
        raise DataError("dates contain missing values (NaT); fill or drop those rows")
    return np.asarray(stamps.to_numpy().astype("datetime64[D]").astype(np.int64))
