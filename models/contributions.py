"""SHAP contributions of a LightGBM model: LightGBM's own TreeSHAP, run once per path pattern.

A tree's TreeSHAP contributions for a row depend on the row only through the direction it takes
at each of the tree's splits. Rows that agree at every split of a tree get the same contributions
from it, so each tree is explained (by ``pred_contrib`` on that tree alone) for one row of each
distinct pattern of directions, and the result is copied to every row with that pattern. A tree
of 15 leaves sorts tens of thousands of parcels into a hundred to a thousand patterns: on the
demo's models this is about 10× faster than ``pred_contrib`` on every row with both cores
(``bench/shap_speed.py``), and agrees with it to rounding (``tests/models/test_contributions.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["shap_contributions"]

_ZERO_THRESHOLD = 1e-35
"""LightGBM's ``kZeroThreshold``: a dense input this close to 0 is read as 0."""
_DENSE_CODE_LIMIT = 1 << 22
"""Codes below this are made dense with a lookup table; larger ones by sorting."""
_CODE_BITS = 62


@dataclass(frozen=True)
class _Split:
    feature: int
    threshold: float
    missing_type: str  # "None", "Zero" or "NaN", as in LightGBM's model dump
    default_left: bool


def _splits(node: dict[str, Any], found: list[_Split]) -> bool:
    """Append the numerical splits under ``node``; False if one is not numerical."""
    if "leaf_index" in node or "split_feature" not in node:
        return True
    if node["decision_type"] != "<=":
        return False
    found.append(
        _Split(
            int(node["split_feature"]),
            float(node["threshold"]),
            str(node["missing_type"]),
            bool(node["default_left"]),
        )
    )
    return _splits(node["left_child"], found) and _splits(node["right_child"], found)


def _tree_splits(booster: Any) -> list[list[_Split]] | None:
    """Each tree's splits, or None for a model whose decisions this module does not replicate
    (categorical splits, linear trees, several trees per iteration)."""
    dump = booster.dump_model()
    if dump.get("num_tree_per_iteration", 1) != 1 or dump.get("is_linear", False):
        return None
    trees = []
    for tree in dump["tree_info"]:
        found: list[_Split] = []
        if not _splits(tree["tree_structure"], found):
            return None
        trees.append(found)
    return trees


class _Columns:
    """The matrix's columns as LightGBM's decisions read them, prepared once for all trees."""

    def __init__(self, matrix: npt.NDArray[np.float64]) -> None:
        self.values = np.array(matrix, dtype=np.float64, order="F")
        self.values[np.abs(self.values) <= _ZERO_THRESHOLD] = 0.0
        self.missing = np.isnan(self.values)
        self.has_missing: npt.NDArray[np.bool_] = np.asarray(self.missing.any(axis=0))
        self._nan_as_zero: dict[int, npt.NDArray[np.float64]] = {}

    def nan_as_zero(self, feature: int) -> npt.NDArray[np.float64]:
        """A split that learnt no direction for NaN reads NaN as 0 (LightGBM's
        ``NumericalDecision``)."""
        if not self.has_missing[feature]:
            return self.values[:, feature]
        if feature not in self._nan_as_zero:
            column = self.values[:, feature].copy()
            column[self.missing[:, feature]] = 0.0
            self._nan_as_zero[feature] = column
        return self._nan_as_zero[feature]

    def goes_left(self, split: _Split) -> npt.NDArray[np.bool_]:
        j = split.feature
        if split.missing_type == "NaN":
            left = self.values[:, j] <= split.threshold
            if split.default_left and self.has_missing[j]:
                left |= self.missing[:, j]
            return left
        values = self.nan_as_zero(j)
        left = values <= split.threshold
        if split.missing_type == "Zero":
            left[values == 0.0] = split.default_left
        return left


def _dense(codes: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], int]:
    """Codes renumbered 0..k-1 (same code, same number), and k."""
    top = int(codes.max()) + 1
    if top <= _DENSE_CODE_LIMIT:
        present = np.zeros(top, bool)
        present[codes] = True
        renumber = np.cumsum(present) - 1
        return renumber[codes], int(renumber[-1]) + 1
    distinct, inverse = np.unique(codes, return_inverse=True)
    return inverse.astype(np.int64), len(distinct)


def _path_patterns(
    columns: _Columns, splits: list[_Split], rows: int
) -> tuple[npt.NDArray[np.int64], int]:
    """Per row, the number of its pattern of directions at ``splits`` (0..k-1), and k."""
    codes = np.zeros(rows, np.int64)
    bits = 0
    for split in splits:
        if bits == _CODE_BITS:
            codes, count = _dense(codes)
            bits = max(int(count - 1).bit_length(), 1)
        codes <<= 1
        codes |= columns.goes_left(split)
        bits += 1
    return _dense(codes)


def shap_contributions(booster: Any, matrix: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """What ``booster.predict(matrix, pred_contrib=True)`` returns, computed per path pattern:
    per row, each feature's SHAP contribution in raw score, then the model's expected value.

    Models with categorical splits, linear trees or several trees per iteration are passed to
    ``pred_contrib`` as they are.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    rows, width = matrix.shape
    if rows == 0:
        return np.zeros((0, width + 1))
    trees = _tree_splits(booster)
    if trees is None:
        return np.asarray(booster.predict(matrix, pred_contrib=True), dtype=np.float64)
    columns = _Columns(matrix)
    # One row per output column, so each tree's additions are contiguous.
    total = np.zeros((width + 1, rows))
    row_numbers = np.arange(rows)
    for index, splits in enumerate(trees):
        pattern, count = _path_patterns(columns, splits, rows)
        example = np.empty(count, np.int64)
        example[pattern] = row_numbers  # any row of a pattern can stand for it
        per_pattern = booster.predict(
            matrix[example], start_iteration=index, num_iteration=1, pred_contrib=True
        )
        for column in [*sorted({split.feature for split in splits}), width]:
            total[column] += np.take(np.ascontiguousarray(per_pattern[:, column]), pattern)
    return total.T.copy()
