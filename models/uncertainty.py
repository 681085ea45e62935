"""How sure a calibrated risk is: an interval for the rate at which such forecasts come true.

A calibrated 12 % means "about 12 in 100 parcels given this risk are found infested". How far a
season strays from that is the uncertainty an officer meets, and it is larger than sampling error:
seasons differ in weather and pressure. So the interval is conformal over seasons (split
conformal prediction with seasons as the exchangeable units; Vovk et al. 2005, Angelopoulos &
Bates 2023): for each risk bin, each backtested season gives one deviation |observed rate − mean
calibrated risk| of its out-of-fold forecasts in the bin, and the half-width is the
⌈(n + 1)·level⌉-th smallest of the n seasons' deviations. With too few seasons for the level, the
interval is the whole [0, 1]: no claim the data cannot back.

:func:`season_coverage` checks the claim the honest way, leaving each season out in turn and
asking whether its bins fall within intervals fitted on the others.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict

from pestcast.core.errors import ModelError
from pestcast.models.settings import DEFAULT_LEVEL

__all__ = [
    "MIN_ROWS_PER_BIN",
    "RiskBands",
    "fit_risk_bands",
    "risk_band",
    "season_coverage",
    "season_deviations",
]

MIN_ROWS_PER_BIN = 30
"""A season's bin with fewer labelled rows gives no deviation (its rate is mostly noise)."""
BIN_QUANTILES = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 1.0)
"""Bin edges as quantiles of the out-of-fold calibrated risk: finer where the warnings are."""


class RiskBands(BaseModel):
    """Per risk bin, the half-width of the ``level`` interval around the calibrated risk."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    level: float
    edges: tuple[float, ...]
    """Bin edges on the calibrated risk, increasing; the outer ones are 0 and 1."""
    half_widths: tuple[float, ...]
    """One per bin; 1.0 where too few seasons back a narrower claim."""
    seasons: tuple[str, ...]
    """Seasons whose out-of-fold forecasts set the half-widths."""
    coverage: float | None = None
    """Share of (season, bin) pairs whose observed rate fell within intervals fitted without that
    season (None until :func:`season_coverage` has been run)."""


def _bin_edges(calibrated: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # The outer quantiles (minimum, maximum) give way to 0 and 1; a constant risk, whose
    # quantiles are one value, then still has one bin.
    inner = np.unique(np.quantile(calibrated, BIN_QUANTILES))[1:-1]
    return np.concatenate([[0.0], inner, [1.0]])


def _which_bin(
    edges: npt.NDArray[np.float64], risk: npt.NDArray[np.float64]
) -> npt.NDArray[np.intp]:
    return np.clip(np.searchsorted(edges, risk, side="right") - 1, 0, len(edges) - 2)


def season_deviations(
    calibrated: npt.NDArray[np.float64],
    labels: npt.NDArray[np.float64],
    seasons: npt.NDArray[np.str_],
    edges: npt.NDArray[np.float64],
) -> pd.DataFrame:
    """One row per (season, bin) with enough rows: n, observed rate, mean risk, deviation."""
    frame = pd.DataFrame(
        {"season": seasons, "bin": _which_bin(edges, calibrated), "y": labels, "p": calibrated}
    )
    groups = frame.groupby(["season", "bin"]).agg(
        n=("y", "size"), observed=("y", "mean"), mean_risk=("p", "mean")
    )
    groups = groups[groups["n"] >= MIN_ROWS_PER_BIN].reset_index()
    groups["deviation"] = (groups["observed"] - groups["mean_risk"]).abs()
    return groups


def _conformal_half_width(deviations: npt.NDArray[np.float64], level: float) -> float:
    rank = math.ceil((deviations.size + 1) * level)
    if rank > deviations.size:
        return 1.0
    return float(np.sort(deviations)[rank - 1])


def _half_widths(deviations: pd.DataFrame, n_bins: int, level: float) -> tuple[float, ...]:
    return tuple(
        _conformal_half_width(
            deviations.loc[deviations["bin"] == index, "deviation"].to_numpy(), level
        )
        for index in range(n_bins)
    )


def fit_risk_bands(
    calibrated: npt.ArrayLike,
    labels: npt.ArrayLike,
    seasons: npt.ArrayLike,
    *,
    level: float = DEFAULT_LEVEL,
) -> RiskBands:
    """Intervals from labelled out-of-fold rows: their calibrated risk, label and season."""
    if not 0.0 < level < 1.0:
        raise ModelError(f"risk bands: level must be in (0, 1), got {level}")
    risk = np.asarray(calibrated, dtype=np.float64)
    truth = np.asarray(labels, dtype=np.float64)
    season = np.asarray(seasons).astype(str)
    if risk.size == 0:
        return RiskBands(level=level, edges=(0.0, 1.0), half_widths=(1.0,), seasons=())
    edges = _bin_edges(risk)
    deviations = season_deviations(risk, truth, season, edges)
    return RiskBands(
        level=level,
        edges=tuple(float(e) for e in edges),
        half_widths=_half_widths(deviations, len(edges) - 1, level),
        seasons=tuple(sorted(set(season.tolist()))),
    )


def risk_band(
    bands: RiskBands, risk: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Lower and upper ends of each calibrated risk's interval, within [0, 1]."""
    values = np.asarray(risk, dtype=np.float64)
    half = np.asarray(bands.half_widths)[_which_bin(np.asarray(bands.edges), values)]
    return np.clip(values - half, 0.0, 1.0), np.clip(values + half, 0.0, 1.0)


def season_coverage(
    calibrated: npt.ArrayLike,
    labels: npt.ArrayLike,
    seasons: npt.ArrayLike,
    *,
    level: float = DEFAULT_LEVEL,
) -> float | None:
    """Leave-one-season-out coverage: the share of each season's bins whose observed rate lies
    within the interval fitted on the other seasons (None with fewer than two seasons)."""
    risk = np.asarray(calibrated, dtype=np.float64)
    truth = np.asarray(labels, dtype=np.float64)
    season = np.asarray(seasons).astype(str)
    names = sorted(set(season.tolist()))
    if len(names) < 2:
        return None
    covered, total = 0, 0
    for held_out in names:
        others = season != held_out
        bands = fit_risk_bands(risk[others], truth[others], season[others], level=level)
        edges = np.asarray(bands.edges)
        rows = season_deviations(risk[~others], truth[~others], season[~others], edges)
        half = np.asarray(bands.half_widths)[rows["bin"].to_numpy()]
        covered += int((rows["deviation"].to_numpy() <= half).sum())
        total += len(rows)
    return covered / total if total else None
