"""Scoring: risk probabilities, risk classes and the features that drive each parcel's risk."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from pestcast.core.errors import ModelError
from pestcast.models.calibration import calibrate
from pestcast.models.contributions import shap_contributions
from pestcast.models.settings import DEFAULT_RISK_CLASS_RULE, RiskClassRule
from pestcast.models.spec import TrainedRiskModel
from pestcast.models.uncertainty import risk_band

__all__ = [
    "NOT_IN_CROP",
    "NO_DATA",
    "RISK_CLASSES",
    "check_feature_schema",
    "classify_risk",
    "feature_matrix",
    "feature_schema_hash",
    "predict_raw_risk",
    "predict_risk",
    "risk_drivers",
    "risk_interval",
]

RISK_CLASSES = ("high", "medium", "low", "no_data", "not_in_crop")
"""Class names, most urgent first."""
NO_DATA = "no_data"
"""The class of a parcel with no usable information: no recent clear image, no survey history."""
NOT_IN_CROP = "not_in_crop"
"""The class of a parcel the imagery shows fallow or flooded off-season: it is not scored."""


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


def feature_schema_hash(table: pd.DataFrame, features: Sequence[str]) -> str:
    """sha256 of the feature names and their kinds (number or boolean), in order."""
    kinds = [
        (name, "bool" if pd.api.types.is_bool_dtype(table[name]) else "number") for name in features
    ]
    return hashlib.sha256(json.dumps(kinds).encode()).hexdigest()


def _describe(model: TrainedRiskModel) -> str:
    return f"{model.spec.pest} h{model.spec.horizon_days} model {model.card.model_version}"


def check_feature_schema(model: TrainedRiskModel, table: pd.DataFrame) -> None:
    """Refuse a table whose model features differ in name, order or kind from training."""
    what = _describe(model)
    feature_matrix(table.head(0), model.spec.features, what=what)
    if feature_schema_hash(table, model.spec.features) != model.card.feature_schema_sha256:
        raise ModelError(
            f"{what}: the feature table's columns {list(model.spec.features)[:3]}… have other "
            "kinds than when the model was trained (feature schema hash differs); rebuild the "
            "features with the settings of the model card, or retrain"
        )


def predict_raw_risk(model: TrainedRiskModel, table: pd.DataFrame) -> npt.NDArray[np.float64]:
    """The booster's own probability, before calibration (the feature schema checked first)."""
    check_feature_schema(model, table)
    matrix = feature_matrix(table, model.spec.features, what=_describe(model))
    return np.asarray(model.booster.predict(matrix), dtype=np.float64)


def predict_risk(model: TrainedRiskModel, table: pd.DataFrame) -> npt.NDArray[np.float64]:
    """Calibrated probability (0–1) that each row's parcel reaches ≥ light severity within the
    horizon."""
    return calibrate(model.card.calibration, predict_raw_risk(model, table))


def classify_risk(
    risk: npt.ArrayLike,
    rule: RiskClassRule = DEFAULT_RISK_CLASS_RULE,
    *,
    has_data: npt.ArrayLike | None = None,
) -> npt.NDArray[np.str_]:
    """Class of each parcel's risk (one forecast date, pest and horizon): ``high``, ``medium``,
    ``low``, or ``no_data`` where ``has_data`` is False. The regional mean is taken over the
    parcels with data."""
    values = np.asarray(risk, dtype=np.float64)
    known = np.ones(values.shape, bool) if has_data is None else np.asarray(has_data, bool)
    outside = values[known & ~((values >= 0.0) & (values <= 1.0))]
    if outside.size:
        raise ModelError(
            f"risk values must be probabilities in [0, 1] (no NaN); got {outside[:5].tolist()}"
        )
    lift = values / max(float(values[known].mean()) if known.any() else 0.0, 1e-12)
    eligible = known & (values >= rule.min_risk)
    classes = np.full(values.shape, "low", dtype=f"<U{max(map(len, RISK_CLASSES))}")
    classes[eligible & (lift >= rule.medium_lift)] = "medium"
    classes[eligible & ((lift >= rule.high_lift) | (values >= rule.high_risk))] = "high"
    classes[~known] = NO_DATA
    return classes


def risk_interval(
    model: TrainedRiskModel, risk: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """How sure the model is: for each calibrated risk, the interval within which the rate of
    parcels given that risk fell in ``model.card.risk_bands.level`` of the backtested seasons
    (season-conformal; see :mod:`pestcast.models.uncertainty`)."""
    return risk_band(model.card.risk_bands, risk)


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
    contributions = shap_contributions(model.booster, matrix)
    per_feature = contributions[:, :-1]  # the last column is the base value
    order = np.argsort(-per_feature, axis=1, kind="stable")[:, :top_k]
    names = model.spec.features
    return [
        [(names[j], float(row[j])) for j in ranks if row[j] > 0]
        for row, ranks in zip(per_feature, order, strict=True)
    ]
