"""Scoring: risk probabilities, risk classes and the features that drive each parcel's risk."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from pestcast.core.errors import ConfigError, ModelError
from pestcast.models.spec import TrainedRiskModel

__all__ = [
    "DEFAULT_RISK_CLASSES",
    "check_risk_classes",
    "classify_risk",
    "feature_matrix",
    "predict_risk",
    "risk_drivers",
]

DEFAULT_RISK_CLASSES: tuple[tuple[str, float], ...] = (("low", 0.2), ("medium", 0.5), ("high", 1.0))
"""(class name, upper bound of risk) pairs, lowest first; the demo configuration's classes."""


def feature_matrix(
    table: pd.DataFrame, features: Sequence[str], *, what: str
) -> npt.NDArray[np.float64]:
    """The feature columns as a float64 matrix (NaN where missing), in the given order.

    ``what`` names the model in error messages, e.g. ``"bph h7 model"``.
    """
    missing = [name for name in features if name not in table.columns]
    if missing:
        raise ModelError(
            f"{what}: the table lacks feature columns {missing}; rebuild the feature table "
            "with the feature set the model was trained on, or retrain the model"
        )
    frame = table[list(features)]
    not_numeric = [
        name
        for name in features
        if not (
            pd.api.types.is_numeric_dtype(frame[name]) or pd.api.types.is_bool_dtype(frame[name])
        )
    ]
    if not_numeric:
        raise ModelError(
            f"{what}: feature columns {not_numeric} are not numeric; encode them as numbers"
        )
    return frame.to_numpy(dtype=np.float64, na_value=np.nan)


def _describe(model: TrainedRiskModel) -> str:
    return f"{model.spec.pest} h{model.spec.horizon_days} model {model.card.model_version}"


def predict_risk(model: TrainedRiskModel, table: pd.DataFrame) -> npt.NDArray[np.float64]:
    """Probability (0–1) that each row's parcel reaches ≥ light severity within the horizon."""
    matrix = feature_matrix(table, model.spec.features, what=_describe(model))
    return np.asarray(model.booster.predict(matrix), dtype=np.float64)


def check_risk_classes(thresholds: Sequence[tuple[str, float]]) -> tuple[list[str], list[float]]:
    """Validate (class name, upper bound) pairs; returns names and bounds, lowest class first.

    Bounds must be > 0, strictly increasing, and the last must be ≥ 1 so every risk gets a class.
    """
    pairs = list(thresholds)
    names = [str(name) for name, _ in pairs]
    bounds = [float(bound) for _, bound in pairs]
    problem = None
    if not pairs:
        problem = "no classes given"
    elif len(set(names)) != len(names):
        problem = f"class names repeat: {names}"
    elif bounds[0] <= 0 or any(b <= a for a, b in itertools.pairwise(bounds)):
        problem = f"upper bounds must be > 0 and strictly increasing, got {bounds}"
    elif bounds[-1] < 1.0:
        problem = (
            f"the last upper bound must be ≥ 1 so that every risk gets a class, got {bounds[-1]}"
        )
    if problem:
        raise ConfigError(
            f"risk class thresholds {pairs}: {problem}; give (name, upper bound) pairs, "
            "lowest first, e.g. [('low', 0.2), ('medium', 0.5), ('high', 1.0)]"
        )
    return names, bounds


def classify_risk(
    risk: npt.ArrayLike, thresholds: Sequence[tuple[str, float]]
) -> npt.NDArray[np.str_]:
    """Name of the risk class of each probability: the first class whose upper bound ≥ risk."""
    names, bounds = check_risk_classes(thresholds)
    values = np.asarray(risk, dtype=np.float64)
    outside = values[~((values >= 0.0) & (values <= 1.0))]
    if outside.size:
        raise ModelError(
            f"risk values must be probabilities in [0, 1] (no NaN); got {outside[:5].tolist()}"
        )
    positions = np.searchsorted(np.asarray(bounds), values, side="left")
    return np.asarray(names, dtype=np.str_)[positions]


def risk_drivers(
    model: TrainedRiskModel, table: pd.DataFrame, *, top_k: int = 3
) -> list[list[tuple[str, float]]]:
    """Per row, up to ``top_k`` features that raise the risk most (positive SHAP contributions),
    largest first; a row whose features all lower its risk has no drivers.

    Contributions are in log-odds: all features' contributions plus the model's base value add
    up to the row's log-odds.
    """
    if top_k < 1:
        raise ModelError(f"risk_drivers: top_k must be ≥ 1, got {top_k}")
    matrix = feature_matrix(table, model.spec.features, what=_describe(model))
    contributions = np.asarray(model.booster.predict(matrix, pred_contrib=True), dtype=np.float64)
    per_feature = contributions[:, :-1]  # the last column is the base value
    order = np.argsort(-per_feature, axis=1, kind="stable")[:, :top_k]
    names = model.spec.features
    return [
        [(names[j], float(row[j])) for j in ranks if row[j] > 0]
        for row, ranks in zip(per_feature, order, strict=True)
    ]
