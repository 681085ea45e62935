"""Reading what an earlier stage wrote, with an error that names the command that makes it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from pestcast.core.errors import DataError

__all__ = ["read_stage_output", "require_stage_output"]


def require_stage_output(path: Path, stage: str) -> Path:
    """A previous stage's output, or a DataError saying which command makes it."""
    if not path.is_file():
        raise DataError(f"{path} does not exist yet; run `pestcast {stage} --config FILE` first")
    return path


def read_stage_output(
    path: Path,
    stage: str,
    *,
    filters: Sequence[tuple[str, str, Any]] = (),
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """A previous stage's Parquet output; a cut-short or corrupt file says which stage to rerun.

    ``filters`` (pyarrow's ``(column, op, value)``) read only the matching rows: row groups whose
    statistics exclude them are not even decoded. ``columns``: only those the file has of these.
    """
    try:
        source = require_stage_output(path, stage)
        if columns is not None:
            present = set(pq.read_schema(source).names)
            columns = [name for name in columns if name in present]
        return pd.read_parquet(source, filters=list(filters) or None, columns=columns)
    except (OSError, ValueError) as error:
        raise DataError(
            f"{path} cannot be read ({error}); it was probably cut short: run "
            f"`pestcast {stage} --config FILE` again to rebuild it"
        ) from None
