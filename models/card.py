"""The model card: what a risk model is, what it was trained on and how well it did, as types.

Saved as JSON beside the LightGBM text model; reading one validates every field, so a card that
is truncated, edited by hand or written by another version fails with the key at fault instead of
a ``KeyError`` deep in a report.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pestcast.models.calibration import Calibration
from pestcast.models.uncertainty import RiskBands

__all__ = [
    "BacktestSummary",
    "ModelCard",
    "Promotion",
    "ReliabilityBin",
    "ScoreInterval",
    "SkillTable",
]


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


class ScoreInterval(_Frozen):
    """A score and its bootstrap interval (dates resampled); None where undefined."""

    value: float | None
    low: float | None
    high: float | None


class SkillTable(_Frozen):
    """One forecaster's backtest scores on the labelled rows of parcels in crop."""

    n_rows: int
    n_positive: int
    n_dates: int
    scores: dict[str, ScoreInterval]
    """``roc_auc``, ``within_date_roc_auc``, ``pr_auc``, ``brier``,
    ``expected_calibration_error``, ``top5_capture``, ``top10_capture``, ``top20_capture``."""


class BacktestSummary(_Frozen):
    """How the model and the baselines did on seasons their models never saw."""

    seasons: tuple[str, ...]
    """Seasons forecast out of fold."""
    past_only: bool
    """True: each season's model trained on earlier seasons only."""
    gap_days: int
    """Training rows this close to the held-out season (either side) are dropped."""
    replicates: int
    interval_level: float
    pooled: dict[str, SkillTable]
    """Forecaster (``model``, ``model_uncalibrated``, ``persistence``, ``climatology``) → scores
    over every backtested season."""
    per_season: dict[str, dict[str, SkillTable]]
    """Season → forecaster → scores."""
    reliability_uncalibrated: tuple[ReliabilityBin, ...]
    reliability: tuple[ReliabilityBin, ...]
    """Pooled reliability of the raw and of the calibrated out-of-fold risk."""


class Promotion(_Frozen):
    """Whether this model went into service, and why."""

    promoted: bool
    reason: str
    compared_with: str | None = None
    """Model version in service when this one was trained (None: there was none)."""


class ModelCard(_Frozen):
    """Provenance, data, backtest skill, calibration and uncertainty of one pest × horizon model."""

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
    data_window: tuple[str, str]
    """First and last forecast date of the feature table (ISO dates)."""
    refit_seasons: tuple[str, ...]
    """Seasons whose labelled rows the booster in service was fitted on."""
    n_rows: dict[str, int]
    """Rows of the refit and of the backtest (labelled, in crop)."""
    label_prevalence: float
    """Share of positive labels among the refit rows."""
    backtest: BacktestSummary
    calibration: Calibration
    """Raw risk → calibrated probability, fitted on every backtested season's out-of-fold rows."""
    risk_bands: RiskBands
    """How sure a calibrated risk is: season-conformal intervals, with their validated coverage."""
    feature_schema_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    """sha256 of the feature names and kinds, in order: a table built otherwise is refused."""
    package_versions: dict[str, str]
    data_hash: str
    lightgbm_version: str
    feature_importance_gain: dict[str, float]
    promotion: Promotion | None = None
    """Set when the model is registered: promoted into service or kept aside, and why."""
    model_file_sha256: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")
    """sha256 of the LightGBM text file; empty until the model is saved."""
