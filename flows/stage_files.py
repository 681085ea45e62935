"""Reading what an earlier stage wrote, with an error that names the command that makes it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pestcast.core.errors import DataError

__all__ = ["read_stage_output", "require_stage_output"]


def require_stage_output(path: Path, stage: str) -> Path:
    """A previous stage's output, or a DataError saying which command makes it."""
    if not path.is_file():
        raise DataError(f"{path} does not exist yet; run `pestcast {stage} --config FILE` first")
    return path


def read_stage_output(path: Path, stage: str) -> pd.DataFrame:
    """A previous stage's Parquet output; a cut-short or corrupt file says which stage to rerun."""
    try:
        return pd.read_parquet(require_stage_output(path, stage))
    except (OSError, ValueError) as error:
        raise DataError(
            f"{path} cannot be read ({error}); it was probably cut short: run "
            f"`pestcast {stage} --config FILE` again to rebuild it"
        ) from None
