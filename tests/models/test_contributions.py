"""SHAP contributions per path pattern equal LightGBM's pred_contrib on every row."""

from __future__ import annotations

import json
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from pestcast.models.contributions import shap_contributions

ROWS = 3000


def _features(rng: np.random.Generator, rows: int) -> np.ndarray:
    """Five features with NaN, exact zeros and values LightGBM reads as zero."""
    matrix = rng.normal(size=(rows, 5))
    matrix[:, 1] = np.round(matrix[:, 1])  # many exact zeros
    matrix[rng.random(rows) < 0.15, 2] = np.nan
    matrix[rng.random(rows) < 0.10, 3] = 0.0
    matrix[rng.random(rows) < 0.05, 3] = 1e-40
    return matrix


def _train(params: dict[str, Any], *, categorical: list[int] | None = None) -> lgb.Booster:
    rng = np.random.default_rng(7)
    matrix = _features(rng, ROWS)
    if categorical:
        matrix[:, categorical] = rng.integers(0, 6, size=(ROWS, len(categorical)))
    signal = np.nan_to_num(matrix[:, 0] + matrix[:, 1] * matrix[:, 2] - np.abs(matrix[:, 3]))
    if categorical:
        signal += 2.0 * np.isin(matrix[:, categorical[0]], [1, 3])
    labels = (signal + rng.normal(scale=0.5, size=ROWS) > 0).astype(float)
    dataset = lgb.Dataset(matrix, labels, categorical_feature=categorical or "auto")
    settings = {"objective": "binary", "verbose": -1, "seed": 1, "num_threads": 1, **params}
    return lgb.train(settings, dataset, num_boost_round=40)


def _scored_rows() -> np.ndarray:
    """Rows to explain, with NaN in every column (also where training had none)."""
    matrix = _features(np.random.default_rng(11), 1500)
    matrix[::97] = np.nan
    matrix[5::101, 0] = 1e-40
    return matrix


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"num_leaves": 15}, id="nan-missing"),
        pytest.param({"num_leaves": 15, "zero_as_missing": True}, id="zero-missing"),
        pytest.param({"num_leaves": 15, "use_missing": False}, id="no-missing"),
        pytest.param({"num_leaves": 90, "min_data_in_leaf": 5}, id="over-62-splits"),
        pytest.param({"num_leaves": 7, "objective": "regression"}, id="regression"),
        pytest.param({"num_leaves": 15, "min_data_in_leaf": ROWS}, id="single-leaf-trees"),
    ],
)
def test_equals_pred_contrib(params: dict[str, Any]) -> None:
    booster = _train(params)
    rows = _scored_rows()
    expected = booster.predict(rows, pred_contrib=True)
    np.testing.assert_allclose(shap_contributions(booster, rows), expected, rtol=0, atol=1e-12)


def test_many_splits_cross_the_code_width() -> None:
    booster = _train({"num_leaves": 90, "min_data_in_leaf": 5})
    splits = max(tree["num_leaves"] - 1 for tree in booster.dump_model()["tree_info"])
    assert splits > 62


def test_categorical_models_use_pred_contrib() -> None:
    booster = _train({"num_leaves": 15}, categorical=[4])
    rows = _scored_rows()
    rows[:, 4] = np.random.default_rng(3).integers(0, 6, size=len(rows))
    assert '"=="' in json.dumps(booster.dump_model())  # a categorical split
    expected = booster.predict(rows, pred_contrib=True)
    np.testing.assert_array_equal(shap_contributions(booster, rows), expected)


def test_no_rows() -> None:
    booster = _train({"num_leaves": 7})
    assert shap_contributions(booster, np.empty((0, 5))).shape == (0, 6)
