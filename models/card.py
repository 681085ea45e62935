"""The model card: what a risk model is, what it was trained on and how well it did, as types.

Saved as JSON beside the LightGBM text model; reading one validates every field, so a card that
is truncated, edited by hand or written by another version fails with the key at fault instead of
a ``KeyError`` deep in a report.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ForecastScores", "HeldOutMetrics", "ModelCard", "ReliabilityBin"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="null")


class ReliabilityBin(_Frozen):
    """One equal-width bin of forecast risk."""

    lower: float
    upper: float
    n: int
    """Rows whose risk falls in the bin."""
    mean_risk: float | None
    """Mean forecast risk of those rows (None for an empty bin)."""
    observed_rate: float | None
    """Share of them that were positive (None for an empty bin)."""


class ForecastScores(_Frozen):
    """Scores of one probability forecast on the held-out rows; AUCs None with one class only."""

    n: int
    prevalence: float
    mean_risk: float
    roc_auc: float | None
    pr_auc: float | None
    brier: float
    log_loss: float
    expected_calibration_error: float
    reliability: tuple[ReliabilityBin, ...]


class HeldOutMetrics(_Frozen):
    """The model and the baselines on the same held-out rows, and the model's skill over them."""

    model: ForecastScores
    baselines: dict[str, ForecastScores]
    """``persistence`` and ``climatology``."""
    skill: dict[str, float | None]
    """``brier_skill_vs_<baseline>`` and ``roc_auc_gain_vs_<baseline>``."""


class ModelCard(_Frozen):
    """Provenance, data and held-out skill of one pest × horizon model."""

    pest: str
    horizon_days: int
    label: str
    model_version: str
    created_utc: str
    features: tuple[str, ...]
    """Model inputs, in the booster's order."""
    feature_settings: dict[str, dict[str, Any]]
    """Every window and radius of the feature table: value and why that default."""
    params: dict[str, Any]
    """LightGBM parameters as configured."""
    lightgbm_params: dict[str, Any]
    """The parameters actually used (binary objective, seed, threads…)."""
    num_boost_round: int
    seed: int
    validation_season: str
    training_seasons: tuple[str, ...]
    refit_seasons: tuple[str, ...]
    n_rows: dict[str, int]
    """Rows of the train, validation and refit fits."""
    label_prevalence: dict[str, float]
    gap_days: int
    """Training rows whose label window reaches this close to the held-out season are dropped."""
    metrics: HeldOutMetrics
    calibration: str
    data_hash: str
    lightgbm_version: str
    feature_importance_gain: dict[str, float]
    model_file_sha256: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")
    """sha256 of the LightGBM text file; empty until the model is saved."""
