"""Scores of probability forecasts on held-out rows: discrimination, accuracy, reliability.

Every score comes from scikit-learn; only the expected calibration error, which scikit-learn does
not offer, is computed here from its reliability curve.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)

from pestcast.models.card import ForecastScores, ReliabilityBin

__all__ = ["RELIABILITY_BINS", "forecast_metrics", "reliability_table", "skill_scores"]

RELIABILITY_BINS = 10
"""Equal-width probability bins of the reliability table."""


def _finite_or_none(value: float) -> float | None:
    """JSON has no NaN: undefined scores become null in the model card."""
    return float(value) if np.isfinite(value) else None


def reliability_table(
    labels: npt.NDArray[np.float64], risk: npt.NDArray[np.float64], *, bins: int = RELIABILITY_BINS
) -> tuple[ReliabilityBin, ...]:
    """Per equal-width risk bin: bounds, rows, mean forecast risk and observed positive rate.

    The rates come from :func:`sklearn.calibration.calibration_curve` (``strategy="uniform"``),
    which leaves out empty bins; the row counts use the same bin edges.
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.searchsorted(edges[1:-1], risk, side="left")  # as calibration_curve bins
    counts = np.bincount(which, minlength=bins)
    observed, predicted = calibration_curve(labels, risk, n_bins=bins, strategy="uniform")
    filled = iter(zip(observed, predicted, strict=True))
    table = []
    for index, count in enumerate(counts):
        rate, mean = next(filled) if count else (None, None)
        table.append(
            ReliabilityBin(
                lower=float(edges[index]),
                upper=float(edges[index + 1]),
                n=int(count),
                mean_risk=None if mean is None else float(mean),
                observed_rate=None if rate is None else float(rate),
            )
        )
    return tuple(table)


def _expected_calibration_error(table: tuple[ReliabilityBin, ...], total: int) -> float:
    """Row-weighted mean |observed rate − mean risk| over the reliability bins."""
    gaps = [
        row.n * abs(row.observed_rate - row.mean_risk)
        for row in table
        if row.observed_rate is not None and row.mean_risk is not None
    ]
    return float(sum(gaps) / total)


def forecast_metrics(
    labels: npt.NDArray[np.float64], risk: npt.NDArray[np.float64]
) -> ForecastScores:
    """ROC-AUC, PR-AUC, Brier, log-loss, prevalence, n and reliability of ``risk``.

    ``labels`` are 1/0, ``risk`` probabilities 0–1 for the same rows. AUCs are None when the rows
    hold a single class.
    """
    both = bool((labels == 1.0).any() and (labels == 0.0).any())
    reliability = reliability_table(labels, risk)
    return ForecastScores(
        n=int(labels.size),
        prevalence=float(labels.mean()),
        mean_risk=float(risk.mean()),
        roc_auc=float(roc_auc_score(labels, risk)) if both else None,
        pr_auc=float(average_precision_score(labels, risk)) if both else None,
        brier=float(brier_score_loss(labels, risk)),
        log_loss=float(log_loss(labels, risk, labels=[0.0, 1.0])),
        expected_calibration_error=_expected_calibration_error(reliability, labels.size),
        reliability=reliability,
    )


def skill_scores(
    model: ForecastScores, baselines: dict[str, ForecastScores]
) -> dict[str, float | None]:
    """Skill of the model over each baseline: Brier skill score 1 − B/B_ref and AUC differences."""
    skill: dict[str, float | None] = {}
    for name, reference in baselines.items():
        bss = 1.0 - model.brier / reference.brier if reference.brier > 0 else np.nan
        auc_gain = (
            model.roc_auc - reference.roc_auc
            if model.roc_auc is not None and reference.roc_auc is not None
            else np.nan
        )
        skill[f"brier_skill_vs_{name}"] = _finite_or_none(bss)
        skill[f"roc_auc_gain_vs_{name}"] = _finite_or_none(auc_gain)
    return skill
