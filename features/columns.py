"""The one check that an input table has the columns a computation relies on."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from pestcast.core.errors import DataError

__all__ = ["require_columns"]


def require_columns(table: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise a :class:`DataError` naming ``what`` (a table or file) and the missing columns."""
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise DataError(
            f"{what} lacks column(s) {', '.join(missing)}; "
            f"it has {', '.join(map(str, table.columns))}"
        )
