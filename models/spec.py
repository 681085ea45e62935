"""What a risk model is: pest, horizon, feature columns and LightGBM settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pestcast.core.errors import ModelError
from pestcast.features.timeseries import KEY_COLUMNS
from pestcast.models.card import ModelCard
from pestcast.models.settings import OBJECTIVE_ALIASES, check_lightgbm_params

__all__ = [
    "MAX_THREADS",
    "RiskModelSpec",
    "TrainedRiskModel",
    "label_column",
    "lightgbm_params",
    "severity_column",
]

MAX_THREADS = 2
"""LightGBM threads: the project's machines have 2 cores, and fewer threads keep runs repeatable."""

_THREAD_ALIASES = ("num_threads", "num_thread", "nthread", "nthreads", "n_jobs")
_SEED_ALIASES = ("seed", "random_seed", "random_state")


def label_column(pest: str, horizon_days: int) -> str:
    """Name of the 1/0/NaN label: the pest reached ≥ light severity within (t, t + h days]."""
    return f"label_{pest}_h{horizon_days}"


def severity_column(pest: str) -> str:
    """Name of the feature holding the parcel's last surveyed severity (0–3, NaN if never)."""
    return f"last_severity_{pest}"


@dataclass(frozen=True)
class RiskModelSpec:
    """One pest × horizon model: which features feed it and how LightGBM is trained."""

    pest: str
    """Pest code as used in the label columns, e.g. ``"bph"`` or ``"blast"``."""
    horizon_days: int
    """Forecast horizon in days: the label covers (forecast_date, forecast_date + horizon]."""
    features: tuple[str, ...]
    """Feature columns, in the order the booster sees them."""
    params: Mapping[str, Any]
    """LightGBM parameters (learning_rate, num_leaves…); objective, seed, threads are set here."""
    num_boost_round: int = 300
    """Boosting rounds, the same for the validation fit and the final refit."""
    seed: int = 0
    """Seed for LightGBM's bagging and feature sampling."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "params", dict(self.params))
        where = f"model spec {self.pest!r} h{self.horizon_days}"
        if not self.pest or self.horizon_days <= 0:
            raise ModelError(f"{where}: pest must be named and horizon_days must be > 0")
        if self.num_boost_round <= 0:
            raise ModelError(f"{where}: num_boost_round must be > 0, got {self.num_boost_round}")
        _check_features(self.features, where)
        check_lightgbm_params(self.params, where)

    @property
    def label(self) -> str:
        """The label column this model learns."""
        return label_column(self.pest, self.horizon_days)


@dataclass(frozen=True)
class TrainedRiskModel:
    """A fitted risk model: the booster used for forecasts, its spec and its model card."""

    booster: Any
    """``lightgbm.Booster`` refitted on every labelled row; predicts P(label = 1)."""
    spec: RiskModelSpec
    """Pest, horizon, features and LightGBM settings the booster was trained with."""
    card: ModelCard
    """Provenance, backtest skill against the baselines, calibration and risk bands."""
    backtest: pd.DataFrame | None = None
    """Out-of-fold forecasts of every backtested season (model, baselines) with their labels."""

    @property
    def model_version(self) -> str:
        """Version string shared by the model file, its card and the risk maps it scores."""
        return self.card.model_version


def _check_features(features: tuple[str, ...], where: str) -> None:
    if not features:
        raise ModelError(f"{where}: no feature columns given; pass the feature table's features")
    duplicated = sorted({name for name in features if features.count(name) > 1})
    if duplicated:
        raise ModelError(f"{where}: feature columns listed twice: {duplicated}")
    leaking = [name for name in features if name.startswith("label_") or name in KEY_COLUMNS]
    if leaking:
        raise ModelError(
            f"{where}: {leaking} are labels or keys, not features; drop them from the feature list"
        )


def lightgbm_params(spec: RiskModelSpec) -> dict[str, Any]:
    """The LightGBM parameters actually used: the spec's, made binary, seeded and deterministic."""
    params = {
        key: value
        for key, value in spec.params.items()
        if key not in OBJECTIVE_ALIASES and key not in _THREAD_ALIASES + _SEED_ALIASES
    }
    requested_threads = next((spec.params[k] for k in _THREAD_ALIASES if k in spec.params), 0)
    threads = (
        MAX_THREADS if int(requested_threads) <= 0 else min(int(requested_threads), MAX_THREADS)
    )
    params.update(
        objective="binary",
        seed=spec.seed,
        deterministic=True,
        num_threads=threads,
        verbosity=-1,
    )
    if "force_row_wise" not in params:
        params.setdefault("force_col_wise", True)
    return params
