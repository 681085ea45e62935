"""How fast the reasons' SHAP contributions are: LightGBM's pred_contrib on every row against
``pestcast.models.contributions.shap_contributions`` (pred_contrib once per path pattern).

Run from the repository root, after ``make demo``: ``.venv/bin/python bench/shap_speed.py``.
Explains the in-crop rows of the demo feature table's newest :data:`DATES` forecast dates with
each of the demo's current models (both pests, every horizon), both ways in the same process, one
after the other: ``pred_contrib`` with 2 threads (the models' setting; it is the only one of the
two that uses both cores), then the per-pattern way. Records wall seconds, the largest difference
between the two results and the mean number of path patterns per tree; writes
``bench/results/shap_speed.md`` (overwritten).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from feature_table_speed import commit, machine

from pestcast.flows.config import load_config
from pestcast.flows.default_paths import DEFAULT_CONFIG
from pestcast.flows.layout import RunLayout
from pestcast.models import feature_matrix, in_crop_mask, load_risk_model
from pestcast.models.contributions import _Columns, _path_patterns, _tree_splits, shap_contributions

REQUIRES = ["work/demo/features.parquet", "registry/demo/current"]
RESULTS = Path(__file__).parent / "results" / "shap_speed.md"
DATES = 30
THREADS = 2


def newest_rows(table: pd.DataFrame) -> pd.DataFrame:
    dates = np.sort(table["forecast_date"].unique())[-DATES:]
    rows = table.loc[table["forecast_date"].isin(dates).to_numpy() & in_crop_mask(table)]
    return rows.reset_index(drop=True)


def mean_patterns(booster: object, matrix: np.ndarray) -> float:
    trees = _tree_splits(booster)
    if trees is None:
        return float("nan")
    columns = _Columns(matrix)
    return float(np.mean([_path_patterns(columns, splits, len(matrix))[1] for splits in trees]))


def measure(booster: object, matrix: np.ndarray) -> dict[str, float]:
    started = time.perf_counter()
    reference = booster.predict(matrix, pred_contrib=True, num_threads=THREADS)  # type: ignore[attr-defined]
    every_row_s = time.perf_counter() - started
    started = time.perf_counter()
    per_pattern = shap_contributions(booster, matrix)
    per_pattern_s = time.perf_counter() - started
    return {
        "every_row_s": every_row_s,
        "per_pattern_s": per_pattern_s,
        "max_difference": float(np.abs(per_pattern - reference).max()),
        "patterns": mean_patterns(booster, matrix),
    }


def main() -> None:
    config = load_config(DEFAULT_CONFIG)
    layout = RunLayout.from_config(config)
    rows = newest_rows(pd.read_parquet(layout.feature_table))
    load = os.getloadavg()[0]
    lines = []
    totals = np.zeros(2)
    for pest in config.model.pests:
        for horizon in config.model.horizons_days:
            model = load_risk_model(layout.current_model, pest, horizon)
            matrix = feature_matrix(rows, model.spec.features, what=f"{pest} h{horizon}")
            result = measure(model.booster, matrix)
            totals += (result["every_row_s"], result["per_pattern_s"])
            lines.append(
                f"| {pest} | {horizon} | {model.booster.num_trees()} | {result['patterns']:.0f} "
                f"| {result['every_row_s']:.2f} | {result['per_pattern_s']:.2f} "
                f"| {result['every_row_s'] / result['per_pattern_s']:.1f}× "
                f"| {result['max_difference']:.1e} |"
            )
            print(lines[-1], flush=True)
    RESULTS.write_text(
        f"""# SHAP contributions: pred_contrib on every row vs once per path pattern

`bench/shap_speed.py` at {commit()}, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.
Machine: {machine()}; load average {load:.2f} at the start. LightGBM {version("lightgbm")},
NumPy {version("numpy")}.

{len(rows):,} rows (the in-crop parcels of the demo's newest {DATES} forecast dates), each of
the demo's current models. `pred_contrib` on every row with {THREADS} threads; per pattern:
`shap_contributions` (one Python thread, `pred_contrib` once per path pattern of each tree).

| pest | horizon d | trees | patterns / tree | every row s | per pattern s | faster | max diff |
|---|---:|---:|---:|---:|---:|---:|---:|
{chr(10).join(lines)}

All models: {totals[0]:.1f} s on every row, {totals[1]:.1f} s per pattern
({totals[0] / totals[1]:.1f}× faster).
"""
    )


if __name__ == "__main__":
    main()
