"""The two forecasts a model must beat: persistence (last survey) and climatology (same week)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from pestcast.core.errors import ModelError
from pestcast.models.spec import severity_column
from pestcast.models.validation import season_type, week_of_season

__all__ = ["CLIMATOLOGY_PSEUDO_ROWS", "Climatology", "fit_climatology", "persistence_risk"]

CLIMATOLOGY_PSEUDO_ROWS = 20.0
"""Weight, in rows, of the season-type rate when smoothing a week's rate (few rows per week)."""

MAX_SEVERITY = 3.0
"""Severity classes 0 none, 1 light, 2 medium, 3 heavy."""


def persistence_risk(
    table: pd.DataFrame, pest: str, *, unsurveyed: float
) -> npt.NDArray[np.float64]:
    """Last surveyed severity / 3 as risk; ``unsurveyed`` (e.g. training prevalence) if none.

    Thresholded at 1/3 it is the forecast "the last survey found ≥ light, so it will again".
    """
    column = severity_column(pest)
    if column not in table.columns:
        raise ModelError(
            f"feature table has no {column!r} column needed by the persistence baseline for "
            f"{pest!r}; rebuild the features with survey history"
        )
    severity = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
    score = np.clip(severity / MAX_SEVERITY, 0.0, 1.0)
    return np.where(np.isnan(score), unsurveyed, score)


@dataclass(frozen=True)
class Climatology:
    """Positive-label rate by season type (WS/SA/AW) and week of season, from training seasons."""

    weekly_rate: dict[tuple[str, int], float]
    """Smoothed rate per (season type, week of season)."""
    type_rate: dict[str, float]
    """Smoothed rate per season type, used for weeks the training seasons never saw."""
    prevalence: float
    """Overall training rate, used for season types the training seasons never saw."""

    def predict(self, table: pd.DataFrame) -> npt.NDArray[np.float64]:
        """Climatological risk (0–1) of each row, from its season type and week of season."""
        kinds = table["season"].map(season_type).to_numpy()
        weeks = week_of_season(table["forecast_date"], table["season"])
        return np.array(
            [
                self.weekly_rate.get((kind, int(week)), self.type_rate.get(kind, self.prevalence))
                for kind, week in zip(kinds, weeks, strict=True)
            ],
            dtype=np.float64,
        )


def _smoothed(positives: pd.Series, rows: pd.Series, prior: pd.Series | float) -> pd.Series:
    return (positives + CLIMATOLOGY_PSEUDO_ROWS * prior) / (rows + CLIMATOLOGY_PSEUDO_ROWS)


def fit_climatology(train: pd.DataFrame, label: str) -> Climatology:
    """Label rates of labelled ``train`` rows by season type and week, shrunk to coarser rates."""
    rows = train.loc[train[label].notna()]
    if rows.empty:
        raise ModelError(f"climatology for {label!r}: no labelled training rows")
    frame = pd.DataFrame(
        {
            "kind": rows["season"].map(season_type).to_numpy(),
            "week": week_of_season(rows["forecast_date"], rows["season"]),
            "y": rows[label].to_numpy(dtype=np.float64),
        }
    )
    prevalence = float(frame["y"].mean())
    by_type = frame.groupby("kind")["y"].agg(["sum", "count"])
    type_rate = _smoothed(by_type["sum"], by_type["count"], prevalence)
    by_week = frame.groupby(["kind", "week"])["y"].agg(["sum", "count"]).reset_index()
    prior = by_week["kind"].map(type_rate)
    weekly = _smoothed(by_week["sum"], by_week["count"], prior)
    return Climatology(
        weekly_rate={
            (str(k), int(w)): float(r)
            for k, w, r in zip(by_week["kind"], by_week["week"], weekly, strict=True)
        },
        type_rate={str(k): float(r) for k, r in type_rate.items()},
        prevalence=prevalence,
    )
