"""LightGBM pest-risk models: season backtests, calibration, risk bands, prediction, a registry.

Pure computation with typed arguments: no configuration, environment, Prefect or network access.
"""

from pestcast.models.backtest import (
    FORECASTERS,
    backtest_forecasts,
    in_crop_mask,
    scored_rows,
    season_folds,
)
from pestcast.models.baselines import Climatology, fit_climatology, persistence_risk
from pestcast.models.calibration import Calibration, calibrate, fit_calibration
from pestcast.models.card import (
    BacktestSummary,
    ModelCard,
    Promotion,
    ReliabilityBin,
    ScoreInterval,
    SkillTable,
)
from pestcast.models.metrics import reliability_table
from pestcast.models.predict import (
    DEFAULT_RISK_CLASS_RULE,
    NO_DATA,
    NOT_IN_CROP,
    RISK_CLASSES,
    RiskClassRule,
    check_feature_schema,
    classify_risk,
    feature_matrix,
    feature_schema_hash,
    predict_raw_risk,
    predict_risk,
    risk_drivers,
    risk_interval,
)
from pestcast.models.promotion import PromotionPolicy, decide_promotion
from pestcast.models.registry import (
    CHECKSUMS,
    backtest_path,
    load_risk_model,
    model_paths,
    read_checksums,
    read_model_card,
    save_risk_model,
    write_checksums,
)
from pestcast.models.skill import SCORES, score_forecasts
from pestcast.models.spec import (
    RiskModelSpec,
    TrainedRiskModel,
    check_lightgbm_params,
    label_column,
    severity_column,
)
from pestcast.models.training import (
    Backtest,
    BacktestSettings,
    fit_risk_model,
    run_backtest,
    training_data_hash,
)
from pestcast.models.uncertainty import RiskBands, fit_risk_bands, risk_band, season_coverage
from pestcast.models.validation import season_order, season_type, week_of_season

__all__ = [
    "CHECKSUMS",
    "DEFAULT_RISK_CLASS_RULE",
    "FORECASTERS",
    "NOT_IN_CROP",
    "NO_DATA",
    "RISK_CLASSES",
    "SCORES",
    "Backtest",
    "BacktestSettings",
    "BacktestSummary",
    "Calibration",
    "Climatology",
    "ModelCard",
    "Promotion",
    "PromotionPolicy",
    "ReliabilityBin",
    "RiskBands",
    "RiskClassRule",
    "RiskModelSpec",
    "ScoreInterval",
    "SkillTable",
    "TrainedRiskModel",
    "backtest_forecasts",
    "backtest_path",
    "calibrate",
    "check_feature_schema",
    "check_lightgbm_params",
    "classify_risk",
    "decide_promotion",
    "feature_matrix",
    "feature_schema_hash",
    "fit_calibration",
    "fit_climatology",
    "fit_risk_bands",
    "fit_risk_model",
    "in_crop_mask",
    "label_column",
    "load_risk_model",
    "model_paths",
    "persistence_risk",
    "predict_raw_risk",
    "predict_risk",
    "read_checksums",
    "read_model_card",
    "reliability_table",
    "risk_band",
    "risk_drivers",
    "risk_interval",
    "run_backtest",
    "save_risk_model",
    "score_forecasts",
    "scored_rows",
    "season_coverage",
    "season_folds",
    "season_order",
    "season_type",
    "severity_column",
    "training_data_hash",
    "week_of_season",
    "write_checksums",
]
