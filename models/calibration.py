"""Calibrated probabilities: a map from the booster's raw risk to the observed rate.

Fitted on out-of-fold predictions (each season scored by a model that never saw it), so the map
corrects what the booster does on new seasons, not on its own training rows. Isotonic regression
when the out-of-fold rows are plenty, Platt scaling (a logistic regression on the raw risk's
log-odds) otherwise: isotonic regression overfits small samples (scikit-learn user guide,
"Probability calibration"), and with few positives its steps are few, so it ties parcels the
booster had ranked apart. A Platt fit that would reverse the ranking (slope ≤ 0, which only noise
in a handful of positives gives) is not used: the raw risk stays as it is. Both come from
scikit-learn; the fitted map is stored as numbers in
the model card (never pickled) and applied with :func:`calibrate`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from pestcast.core.errors import ModelError

__all__ = [
    "IDENTITY",
    "ISOTONIC_MIN_POSITIVES",
    "ISOTONIC_MIN_ROWS",
    "Calibration",
    "calibrate",
    "fit_calibration",
]

ISOTONIC_MIN_ROWS = 1000
"""Below this many out-of-fold rows the calibration is Platt scaling: isotonic overfits."""
ISOTONIC_MIN_POSITIVES = 500
"""…or below this many positive rows among them (a 150-parcel test region's hundred positives
gave isotonic maps of a few steps that halved the within-season ROC-AUC gain)."""
_EPSILON = 1e-6


class Calibration(BaseModel):
    """A fitted probability map; ``method`` says which of the fields apply."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["isotonic", "platt", "none"]
    x: tuple[float, ...] = ()
    """Isotonic: raw-risk knots, increasing."""
    y: tuple[float, ...] = ()
    """Isotonic: calibrated risk at each knot (linear in between, constant outside)."""
    slope: float = 1.0
    """Platt: calibrated log-odds = slope · raw log-odds + intercept."""
    intercept: float = 0.0
    n_rows: int = 0
    """Out-of-fold rows it was fitted on."""
    n_positive: int = 0


IDENTITY = Calibration(method="none")
"""No calibration: the raw risk as it is (no out-of-fold rows to fit one on)."""


def _logit(risk: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    clipped = np.clip(risk, _EPSILON, 1.0 - _EPSILON)
    return np.log(clipped / (1.0 - clipped))


def fit_calibration(
    raw_risk: npt.ArrayLike, labels: npt.ArrayLike, *, what: str = "calibration"
) -> Calibration:
    """Fit the map from out-of-fold ``raw_risk`` to ``labels`` (1/0); isotonic with enough rows."""
    risk = np.asarray(raw_risk, dtype=np.float64)
    truth = np.asarray(labels, dtype=np.float64)
    if risk.shape != truth.shape or risk.ndim != 1:
        raise ModelError(f"{what}: raw risk and labels must be 1-D of one length")
    positives = int((truth == 1.0).sum())
    if positives in {0, truth.size}:
        return IDENTITY.model_copy(update={"n_rows": truth.size, "n_positive": positives})
    from sklearn.isotonic import IsotonicRegression  # here: configs load without sklearn
    from sklearn.linear_model import LogisticRegression

    if truth.size >= ISOTONIC_MIN_ROWS and positives >= ISOTONIC_MIN_POSITIVES:
        isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(risk, truth)
        return Calibration(
            method="isotonic",
            x=tuple(float(v) for v in isotonic.X_thresholds_),
            y=tuple(float(v) for v in isotonic.y_thresholds_),
            n_rows=int(truth.size),
            n_positive=positives,
        )
    platt = LogisticRegression(C=1e6).fit(_logit(risk)[:, None], truth)
    if platt.coef_[0, 0] <= 0.0:
        return IDENTITY.model_copy(update={"n_rows": truth.size, "n_positive": positives})
    return Calibration(
        method="platt",
        slope=float(platt.coef_[0, 0]),
        intercept=float(platt.intercept_[0]),
        n_rows=int(truth.size),
        n_positive=positives,
    )


def calibrate(calibration: Calibration, raw_risk: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The calibrated probability of each raw risk."""
    risk = np.asarray(raw_risk, dtype=np.float64)
    if calibration.method == "isotonic":
        return np.interp(risk, calibration.x, calibration.y)
    if calibration.method == "platt":
        log_odds = calibration.slope * _logit(risk) + calibration.intercept
        return 1.0 / (1.0 + np.exp(-log_odds))
    return risk.copy()
