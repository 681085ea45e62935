"""LightGBM pest-risk models: season-honest validation, baselines, prediction and a file registry.

Pure computation with typed arguments: no configuration, environment, Prefect or network access.
"""

from pestcast.models.baselines import Climatology, fit_climatology, persistence_risk
from pestcast.models.card import ForecastScores, HeldOutMetrics, ModelCard, ReliabilityBin
from pestcast.models.metrics import forecast_metrics, reliability_table, skill_scores
from pestcast.models.predict import (
    DEFAULT_RISK_CLASS_RULE,
    NO_DATA,
    RISK_CLASSES,
    RiskClassRule,
    classify_risk,
    feature_matrix,
    predict_risk,
    risk_drivers,
    risk_interval,
)
from pestcast.models.registry import (
    held_out_path,
    load_risk_model,
    model_paths,
    read_model_card,
    save_risk_model,
)
from pestcast.models.spec import (
    RiskModelSpec,
    TrainedRiskModel,
    check_lightgbm_params,
    label_column,
    severity_column,
)
from pestcast.models.training import fit_risk_model, training_data_hash
from pestcast.models.validation import season_split, season_type, week_of_season

__all__ = [
    "DEFAULT_RISK_CLASS_RULE",
    "NO_DATA",
    "RISK_CLASSES",
    "Climatology",
    "ForecastScores",
    "HeldOutMetrics",
    "ModelCard",
    "ReliabilityBin",
    "RiskClassRule",
    "RiskModelSpec",
    "TrainedRiskModel",
    "check_lightgbm_params",
    "classify_risk",
    "feature_matrix",
    "fit_climatology",
    "fit_risk_model",
    "forecast_metrics",
    "held_out_path",
    "label_column",
    "load_risk_model",
    "model_paths",
    "persistence_risk",
    "predict_risk",
    "read_model_card",
    "reliability_table",
    "risk_drivers",
    "risk_interval",
    "save_risk_model",
    "season_split",
    "season_type",
    "severity_column",
    "skill_scores",
    "training_data_hash",
    "week_of_season",
]
