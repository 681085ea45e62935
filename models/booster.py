"""One LightGBM fit of a risk model's spec on labelled rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pestcast.models.predict import feature_matrix
from pestcast.models.spec import RiskModelSpec, lightgbm_params

__all__ = ["train_booster"]


def train_booster(rows: pd.DataFrame, spec: RiskModelSpec) -> Any:
    """A ``lightgbm.Booster`` fitted on ``rows`` (all labelled) with the spec's settings."""
    import lightgbm as lgb  # here: configs load without LightGBM (and its OpenMP runtime)

    what = f"{spec.pest} h{spec.horizon_days} training"
    matrix = feature_matrix(rows, spec.features, what=what)
    labels = rows[spec.label].to_numpy(dtype=np.float64)
    dataset = lgb.Dataset(
        matrix, label=labels, feature_name=list(spec.features), free_raw_data=True
    )
    return lgb.train(lightgbm_params(spec), dataset, num_boost_round=spec.num_boost_round)
