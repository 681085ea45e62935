"""Scores of probability forecasts on held-out rows: discrimination, accuracy, reliability."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import average_precision_score, roc_auc_score

from pestcast.models.predict import classify_risk

__all__ = ["RELIABILITY_BINS", "forecast_metrics", "reliability_table", "skill_scores"]

RELIABILITY_BINS = 10
"""Equal-width probability bins of the reliability table."""

_EPSILON = 1e-15


def _finite_or_none(value: float) -> float | None:
    """JSON has no NaN: undefined scores become null in the model card."""
    return float(value) if np.isfinite(value) else None


def reliability_table(
    labels: npt.NDArray[np.float64], risk: npt.NDArray[np.float64], *, bins: int = RELIABILITY_BINS
) -> list[dict[str, Any]]:
    """Per equal-width risk bin: bounds, rows, mean forecast risk and observed positive rate."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(risk, edges[1:-1], right=False), 0, bins - 1)
    table = []
    for index in range(bins):
        inside = which == index
        count = int(inside.sum())
        table.append(
            {
                "lower": float(edges[index]),
                "upper": float(edges[index + 1]),
                "n": count,
                "mean_risk": float(risk[inside].mean()) if count else None,
                "observed_rate": float(labels[inside].mean()) if count else None,
            }
        )
    return table


def _expected_calibration_error(table: list[dict[str, Any]], total: int) -> float:
    """Row-weighted mean |observed rate − mean risk| over the reliability bins."""
    gaps = [row["n"] * abs(row["observed_rate"] - row["mean_risk"]) for row in table if row["n"]]
    return float(sum(gaps) / total)


def _top_class_recall(
    labels: npt.NDArray[np.float64],
    risk: npt.NDArray[np.float64],
    risk_classes: Sequence[tuple[str, float]],
) -> tuple[float, float]:
    """Share of positive rows put in the top risk class, and the positive rate inside it."""
    top = classify_risk(risk, risk_classes) == str(risk_classes[-1][0])
    positives = labels == 1.0
    recall = positives[top].sum() / max(int(positives.sum()), 1)
    precision = positives[top].mean() if top.any() else np.nan
    return float(recall), float(precision)


def forecast_metrics(
    labels: npt.NDArray[np.float64],
    risk: npt.NDArray[np.float64],
    *,
    risk_classes: Sequence[tuple[str, float]],
) -> dict[str, Any]:
    """ROC-AUC, PR-AUC, Brier, log-loss, prevalence, n, reliability and top-class recall.

    ``labels`` are 1/0, ``risk`` probabilities 0–1 for the same rows. AUCs are null when the rows
    hold a single class.
    """
    both = bool((labels == 1.0).any() and (labels == 0.0).any())
    clipped = np.clip(risk, _EPSILON, 1.0 - _EPSILON)
    log_loss = -np.mean(labels * np.log(clipped) + (1.0 - labels) * np.log1p(-clipped))
    reliability = reliability_table(labels, risk)
    recall, precision = _top_class_recall(labels, risk, risk_classes)
    return {
        "n": int(labels.size),
        "prevalence": float(labels.mean()),
        "mean_risk": float(risk.mean()),
        "roc_auc": float(roc_auc_score(labels, risk)) if both else None,
        "pr_auc": float(average_precision_score(labels, risk)) if both else None,
        "brier": float(np.mean((risk - labels) ** 2)),
        "log_loss": float(log_loss),
        "expected_calibration_error": _expected_calibration_error(reliability, labels.size),
        "top_class": str(risk_classes[-1][0]),
        "top_class_recall": recall,
        "top_class_precision": _finite_or_none(precision),
        "reliability": reliability,
    }


def skill_scores(model: dict[str, Any], baselines: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Skill of the model over each baseline: Brier skill score 1 − B/B_ref and AUC differences."""
    skill: dict[str, Any] = {}
    for name, reference in baselines.items():
        brier_ref = reference["brier"]
        bss = 1.0 - model["brier"] / brier_ref if brier_ref > 0 else np.nan
        auc_gain = (
            model["roc_auc"] - reference["roc_auc"]
            if model["roc_auc"] is not None and reference["roc_auc"] is not None
            else np.nan
        )
        skill[f"brier_skill_vs_{name}"] = _finite_or_none(bss)
        skill[f"roc_auc_gain_vs_{name}"] = _finite_or_none(auc_gain)
    return skill
