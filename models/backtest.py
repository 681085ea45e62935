"""Backtest: every labelled season forecast by a model that never saw it, with the baselines.

Leave-one-season-out: the model that forecasts season S trains on the labelled rows in crop (as
the model in service does) of every other season, minus a gap of ``gap_days`` (at least the
horizon) on both sides of S, so that no training label window reaches into S and no training row
right after S carries S's surveys in its survey history. With ``past_only`` it trains on earlier
seasons only (what an office that started this year could have done); the first labelled season
is then not forecast.

Out-of-fold raw risks are calibrated season by season with a map fitted on the *other* seasons'
out-of-fold rows (:mod:`pestcast.models.calibration`), so the calibrated backtest is honest too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from pestcast.core.errors import ModelError
from pestcast.models.baselines import fit_climatology, persistence_risk
from pestcast.models.booster import train_booster
from pestcast.models.calibration import IDENTITY, Calibration, calibrate, fit_calibration
from pestcast.models.predict import feature_matrix
from pestcast.models.spec import RiskModelSpec
from pestcast.models.validation import check_labels, season_order

__all__ = [
    "FORECASTERS",
    "SeasonFold",
    "backtest_forecasts",
    "in_crop_mask",
    "scored_rows",
    "season_folds",
]

FORECASTERS = ("model", "model_uncalibrated", "persistence", "climatology")
"""Columns ``risk_<name>`` of a backtest: the calibrated model, its raw risk, the baselines."""
IN_CROP = "in_crop"


@dataclass(frozen=True)
class SeasonFold:
    """One held-out season: positions (``iloc``) of its rows and of the training rows."""

    season: str
    train: npt.NDArray[np.intp]
    held_out: npt.NDArray[np.intp]


def in_crop_mask(table: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """The feature table's crop mask (every row in crop when the table has none)."""
    if IN_CROP not in table.columns:
        return np.ones(len(table), bool)
    return table[IN_CROP].fillna(1.0).to_numpy(dtype=np.float64) > 0.5


def scored_rows(forecasts: pd.DataFrame) -> pd.DataFrame:
    """The rows a backtest is scored on: labelled, of parcels in crop."""
    return forecasts[forecasts["in_crop"].astype(bool) & forecasts["label"].notna()]


def _both_classes(labels: npt.NDArray[np.float64]) -> bool:
    return bool((labels == 1.0).any() and (labels == 0.0).any())


def _fold_problem(held_out: npt.NDArray[np.float64], train: npt.NDArray[np.float64]) -> str:
    """Why a season cannot be backtested, from its and its training rows' labels ('' if it can)."""
    if not _both_classes(held_out):
        return "its labelled rows in crop hold one class only"
    if not _both_classes(train):
        return "the seasons left to train on hold one class only; add labels of other seasons"
    return ""


def season_folds(
    table: pd.DataFrame,
    *,
    label: str,
    gap_days: int,
    seasons: Sequence[str] | None = None,
    past_only: bool = False,
) -> list[SeasonFold]:
    """Folds for every labelled season with both classes (or ``seasons``) that has training data,
    in time order. Training rows are labelled rows in crop, as for the model in service.

    Raises when a season asked for by name cannot be backtested, or when none can.
    """
    values = table[label].to_numpy(dtype=np.float64)
    labelled = ~np.isnan(values)
    usable = labelled & in_crop_mask(table)
    season_of = table["season"].astype(str).to_numpy()
    order = [s for s in season_order(table) if labelled[season_of == s].any()]
    wanted = list(seasons) if seasons else order
    unknown = [s for s in wanted if s not in order]
    if unknown:
        raise ModelError(f"{label}: seasons {unknown} have no labelled rows; choose among {order}")
    dates = table["forecast_date"]
    folds = []
    for season in [s for s in order if s in wanted]:
        rows = season_of == season
        span = dates[rows]
        gap = pd.Timedelta(days=gap_days)
        clear = ((dates < span.min() - gap) | (dates > span.max() + gap)).to_numpy()
        if past_only:
            clear = clear & np.isin(season_of, order[: order.index(season)])
        train = np.flatnonzero(usable & clear & ~rows)
        problem = _fold_problem(values[rows & usable], values[train])
        if not problem:
            folds.append(SeasonFold(season, train, np.flatnonzero(rows)))
        elif seasons:
            raise ModelError(f"{label}: season {season} cannot be backtested: {problem}")
    if not folds:
        raise ModelError(
            f"{label}: no season can be backtested (labelled seasons: {order}); at least two "
            "labelled seasons with both classes are needed"
        )
    return folds


def _fold_forecasts(table: pd.DataFrame, fold: SeasonFold, spec: RiskModelSpec) -> pd.DataFrame:
    train, season = table.iloc[fold.train], table.iloc[fold.held_out]
    booster = train_booster(train, spec)
    raw = np.asarray(
        booster.predict(feature_matrix(season, spec.features, what=f"backtest {fold.season}")),
        dtype=np.float64,
    )
    prevalence = float(train[spec.label].mean())
    return pd.DataFrame(
        {
            "parcel_id": season["parcel_id"].to_numpy(),
            "forecast_date": season["forecast_date"].to_numpy(),
            "season": fold.season,
            "in_crop": in_crop_mask(season),
            "label": season[spec.label].to_numpy(dtype=np.float64),
            "risk_model_uncalibrated": raw,
            "risk_persistence": persistence_risk(season, spec.pest, unsurveyed=prevalence),
            "risk_climatology": fit_climatology(train, spec.label).predict(season),
        }
    )


def _calibrations(forecasts: pd.DataFrame, past_only: bool) -> dict[str, Calibration]:
    """Per season, the map fitted on the other (or earlier) seasons' labelled in-crop rows."""
    usable = scored_rows(forecasts)
    seasons = list(dict.fromkeys(forecasts["season"]))
    maps = {}
    for index, season in enumerate(seasons):
        others = seasons[:index] if past_only else [s for s in seasons if s != season]
        rows = usable[usable["season"].isin(others)]
        maps[season] = (
            fit_calibration(rows["risk_model_uncalibrated"], rows["label"])
            if len(rows)
            else IDENTITY
        )
    return maps


def backtest_forecasts(
    table: pd.DataFrame,
    spec: RiskModelSpec,
    *,
    gap_days: int | None = None,
    seasons: Sequence[str] | None = None,
    past_only: bool = False,
) -> pd.DataFrame:
    """Out-of-fold forecasts of every row of every backtested season.

    Columns: ``parcel_id, forecast_date, season, in_crop, label`` and ``risk_<forecaster>`` for
    each of :data:`FORECASTERS`. Rows out of crop keep their forecasts (scores ignore them).
    """
    check_labels(table, spec.pest, spec.horizon_days)
    gap = spec.horizon_days if gap_days is None else gap_days
    if gap < spec.horizon_days:
        raise ModelError(
            f"backtest gap {gap} d is shorter than the horizon {spec.horizon_days} d: label "
            "windows of training rows would reach into the held-out season"
        )
    folds = season_folds(
        table, label=spec.label, gap_days=gap, seasons=seasons, past_only=past_only
    )
    forecasts = pd.concat([_fold_forecasts(table, fold, spec) for fold in folds], ignore_index=True)
    maps = _calibrations(forecasts, past_only)
    calibrated = np.empty(len(forecasts))
    for season, rows in forecasts.groupby("season", sort=False).indices.items():
        calibrated[rows] = calibrate(
            maps[str(season)], forecasts["risk_model_uncalibrated"].to_numpy()[rows]
        )
    forecasts.insert(5, "risk_model", calibrated)
    return forecasts
