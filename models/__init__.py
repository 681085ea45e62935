"""LightGBM pest-risk models: season backtests, calibration, risk bands, prediction, a registry.

Pure computation with typed arguments: no configuration, environment, Prefect or network access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pestcast.core.lazy import lazy_reexports

if TYPE_CHECKING:
    from pestcast.models.backtest import (
        FORECASTERS as FORECASTERS,
        backtest_forecasts as backtest_forecasts,
        in_crop_mask as in_crop_mask,
        scored_rows as scored_rows,
        season_folds as season_folds,
    )
    from pestcast.models.baselines import (
        Climatology as Climatology,
        fit_climatology as fit_climatology,
        persistence_risk as persistence_risk,
    )
    from pestcast.models.calibration import (
        Calibration as Calibration,
        calibrate as calibrate,
        fit_calibration as fit_calibration,
    )
    from pestcast.models.card import (
        BacktestSummary as BacktestSummary,
        ModelCard as ModelCard,
        Promotion as Promotion,
        ReliabilityBin as ReliabilityBin,
        ScoreInterval as ScoreInterval,
        SkillTable as SkillTable,
    )
    from pestcast.models.metrics import (
        reliability_table as reliability_table,
    )
    from pestcast.models.predict import (
        NO_DATA as NO_DATA,
        NOT_IN_CROP as NOT_IN_CROP,
        RISK_CLASSES as RISK_CLASSES,
        check_feature_schema as check_feature_schema,
        classify_risk as classify_risk,
        feature_matrix as feature_matrix,
        feature_schema_hash as feature_schema_hash,
        predict_raw_risk as predict_raw_risk,
        predict_risk as predict_risk,
        risk_drivers as risk_drivers,
        risk_interval as risk_interval,
    )
    from pestcast.models.promotion import (
        decide_promotion as decide_promotion,
    )
    from pestcast.models.registry import (
        CHECKSUMS as CHECKSUMS,
        backtest_path as backtest_path,
        load_risk_model as load_risk_model,
        model_paths as model_paths,
        read_checksums as read_checksums,
        read_model_card as read_model_card,
        save_risk_model as save_risk_model,
        write_checksums as write_checksums,
    )
    from pestcast.models.settings import (
        DEFAULT_RISK_CLASS_RULE as DEFAULT_RISK_CLASS_RULE,
        SCORES as SCORES,
        BacktestSettings as BacktestSettings,
        PromotionPolicy as PromotionPolicy,
        RiskClassRule as RiskClassRule,
        check_lightgbm_params as check_lightgbm_params,
    )
    from pestcast.models.skill import (
        score_forecasts as score_forecasts,
    )
    from pestcast.models.spec import (
        RiskModelSpec as RiskModelSpec,
        TrainedRiskModel as TrainedRiskModel,
        label_column as label_column,
        severity_column as severity_column,
    )
    from pestcast.models.training import (
        Backtest as Backtest,
        fit_risk_model as fit_risk_model,
        run_backtest as run_backtest,
        training_data_hash as training_data_hash,
    )
    from pestcast.models.uncertainty import (
        RiskBands as RiskBands,
        fit_risk_bands as fit_risk_bands,
        risk_band as risk_band,
        season_coverage as season_coverage,
    )
    from pestcast.models.validation import (
        season_order as season_order,
        season_type as season_type,
        week_of_season as week_of_season,
    )

_SUBMODULE_NAMES: dict[str, tuple[str, ...]] = {
    "backtest": (
        "FORECASTERS",
        "backtest_forecasts",
        "in_crop_mask",
        "scored_rows",
        "season_folds",
    ),
    "baselines": (
        "Climatology",
        "fit_climatology",
        "persistence_risk",
    ),
    "calibration": (
        "Calibration",
        "calibrate",
        "fit_calibration",
    ),
    "card": (
        "BacktestSummary",
        "ModelCard",
        "Promotion",
        "ReliabilityBin",
        "ScoreInterval",
        "SkillTable",
    ),
    "metrics": ("reliability_table",),
    "predict": (
        "NO_DATA",
        "NOT_IN_CROP",
        "RISK_CLASSES",
        "check_feature_schema",
        "classify_risk",
        "feature_matrix",
        "feature_schema_hash",
        "predict_raw_risk",
        "predict_risk",
        "risk_drivers",
        "risk_interval",
    ),
    "promotion": ("decide_promotion",),
    "registry": (
        "CHECKSUMS",
        "backtest_path",
        "load_risk_model",
        "model_paths",
        "read_checksums",
        "read_model_card",
        "save_risk_model",
        "write_checksums",
    ),
    "settings": (
        "DEFAULT_RISK_CLASS_RULE",
        "SCORES",
        "BacktestSettings",
        "PromotionPolicy",
        "RiskClassRule",
        "check_lightgbm_params",
    ),
    "skill": ("score_forecasts",),
    "spec": (
        "RiskModelSpec",
        "TrainedRiskModel",
        "label_column",
        "severity_column",
    ),
    "training": (
        "Backtest",
        "fit_risk_model",
        "run_backtest",
        "training_data_hash",
    ),
    "uncertainty": (
        "RiskBands",
        "fit_risk_bands",
        "risk_band",
        "season_coverage",
    ),
    "validation": (
        "season_order",
        "season_type",
        "week_of_season",
    ),
}
"""The names this package re-exports, by the submodule that defines them."""

__getattr__, __dir__, __all__ = lazy_reexports(__name__, _SUBMODULE_NAMES)
