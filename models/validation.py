"""Honest validation splits: a whole held-out season, earlier seasons for training, and a gap.

Random splits of parcel × week rows leak: neighbouring weeks of one parcel share weather, imagery
and outbreaks, so a random test row almost always has its twin in training. Holding out a whole
season, training only on earlier ones and dropping training rows whose label window reaches into
the held-out season keeps the score close to what a forecast will meet.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from pestcast.core.errors import ModelError
from pestcast.features.seasons import SEASON_CODES, season_start
from pestcast.models.spec import label_column

__all__ = [
    "check_labels",
    "season_order",
    "season_split",
    "season_type",
    "week_of_season",
]


def season_type(season: str) -> str:
    """Season type (``WS``, ``SA`` or ``AW``) of a season label such as ``2023-WS``."""
    kind = str(season).rsplit("-", 1)[-1]
    if kind not in SEASON_CODES:
        raise ModelError(
            f"season label {season!r} does not end in one of {list(SEASON_CODES)}; "
            "label seasons with pestcast.features.rice_season"
        )
    return kind


def week_of_season(dates: pd.Series, seasons: pd.Series) -> npt.NDArray[np.int64]:
    """Whole weeks (0, 1, …) from the start of each row's season to its date."""
    starts = seasons.map(lambda label: season_start(str(label)))
    days = (dates - pd.to_datetime(starts)).dt.days.to_numpy(dtype=np.int64)
    return np.maximum(days, 0) // 7


def check_labels(table: pd.DataFrame, pest: str, horizon_days: int) -> str:
    """Check the label column exists and holds only 1, 0 or NaN; returns its name."""
    label = label_column(pest, horizon_days)
    if label not in table.columns:
        raise ModelError(
            f"feature table has no label column {label!r} for pest {pest!r} at horizon "
            f"{horizon_days} d; rebuild the features with this pest and horizon"
        )
    values = pd.to_numeric(table[label], errors="coerce")
    bad = table.loc[
        values.notna() & ~values.isin([0.0, 1.0]) | table[label].notna() & values.isna()
    ]
    if not bad.empty:
        raise ModelError(
            f"label column {label!r} must hold 1, 0 or NaN; found "
            f"{bad[label].unique()[:5].tolist()} (e.g. parcel {bad['parcel_id'].iloc[0]!r})"
        )
    return label


def season_order(table: pd.DataFrame) -> list[str]:
    """Season labels ordered by their first forecast date."""
    first = table.groupby("season", sort=False)["forecast_date"].min()
    return [str(season) for season in first.sort_values().index]


def season_split(
    table: pd.DataFrame,
    *,
    pest: str,
    horizon_days: int,
    validation_season: str | None = None,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Row positions (``iloc``) of the labelled training and held-out validation rows.

    The validation set is one whole season: ``validation_season``, or by default the latest
    *complete* season whose labels hold both classes. A season counts as complete when the table
    carries rows of a later season, i.e. the data runs past its end. Training uses labelled rows of
    earlier seasons only, minus those whose label window (t, t + horizon_days] reaches the first
    forecast date of the validation season.
    """
    label = check_labels(table, pest, horizon_days)
    where = f"{label} ({pest}, horizon {horizon_days} d)"
    labelled = table[label].notna().to_numpy()
    order = [s for s in season_order(table) if (labelled & (table["season"] == s).to_numpy()).any()]
    if len(order) < 2:
        raise ModelError(
            f"{where}: labels cover {len(order)} season(s) {order}; validation holds out a whole "
            "season, so at least two labelled seasons are needed: add survey data of more seasons"
        )
    held_out = validation_season or _latest_complete_season(table, label, order, where)
    _check_validation_season(table, label, held_out, order, where)
    start = table.loc[table["season"] == held_out, "forecast_date"].min()
    earlier = table["season"].isin(order[: order.index(held_out)]).to_numpy()
    clear_of_gap = (table["forecast_date"] + pd.Timedelta(days=horizon_days) < start).to_numpy()
    train = np.flatnonzero(labelled & earlier & clear_of_gap)
    validation = np.flatnonzero(labelled & (table["season"] == held_out).to_numpy())
    _check_both_classes(
        table[label].to_numpy()[train], f"{where}: training seasons before {held_out}"
    )
    return train, validation


def _has_both_classes(labels: npt.NDArray[np.float64]) -> bool:
    return bool((labels == 1.0).any() and (labels == 0.0).any())


def _check_both_classes(labels: npt.NDArray[np.float64], what: str) -> None:
    if not _has_both_classes(labels):
        positives = int((labels == 1.0).sum())
        raise ModelError(
            f"{what}: {labels.size} labelled rows with {positives} positive; both classes are "
            "needed: add survey data or pick another validation_season"
        )


def _latest_complete_season(table: pd.DataFrame, label: str, order: list[str], where: str) -> str:
    last_date = table["forecast_date"].max()
    for season in reversed(order[1:]):
        rows = table["season"] == season
        complete = table.loc[rows, "forecast_date"].max() < last_date
        if complete and _has_both_classes(table.loc[rows, label].to_numpy(dtype=np.float64)):
            return season
    raise ModelError(
        f"{where}: no complete season after the first labelled one has both classes among its "
        f"labels (labelled seasons: {order}); extend the data past a season's end or pass "
        "validation_season explicitly"
    )


def _check_validation_season(
    table: pd.DataFrame, label: str, season: str, order: list[str], where: str
) -> None:
    if season not in order:
        raise ModelError(
            f"{where}: validation_season {season!r} has no labelled rows; choose one of {order}"
        )
    if season == order[0]:
        raise ModelError(
            f"{where}: validation_season {season!r} is the earliest labelled season, leaving "
            f"nothing earlier to train on; choose a later one of {order[1:]}"
        )
    labels = table.loc[table["season"] == season, label].to_numpy(dtype=np.float64)
    _check_both_classes(labels, f"{where}: validation season {season}")
