"""How held-out skill moves when each feature setting moves away from its default.

Run after ``make demo``: ``.venv/bin/python bench/feature_sensitivity.py [--config FILE]``.

The defaults in ``pestcast.features.settings`` were set from agronomy and survey practice before
this benchmark ran, and are not tuned on it. For each variant it builds the feature table from the
demo's observations, weather and surveys (the code path of ``pestcast features``), then, for each
held-out season, trains every pest × horizon model on the earlier seasons with the gap
``pestcast train`` uses and scores the held-out season. Labels come from the surveys only; the
simulator's truth file is not read. The variant ``simulator constants`` uses the simulator's own
neighbour radius (400 m) and lag (14 days): it shows how much a pipeline copying the simulator
would gain on the demo, which no real region would give it.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from pestcast.features import feature_columns
from pestcast.flows.config import DEFAULT_CONFIG, PestcastConfig, load_config
from pestcast.flows.layout import RunLayout
from pestcast.flows.tasks import configured_feature_table
from pestcast.models import RiskModelSpec, feature_matrix
from pestcast.models.spec import lightgbm_params
from pestcast.models.validation import season_split

REQUIRES = ["work/demo/parcel_observations.parquet"]
RESULTS = Path(__file__).parent / "results" / "feature_sensitivity.md"
SEASONS = ("2024-WS", "2024-SA", "2024-AW")
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "radius 250 m": {"features": {"neighbour_radius_m": 250.0}},
    "radius 1000 m": {"features": {"neighbour_radius_m": 1000.0}},
    "survey window 14 d": {"features": {"survey_window_days": 14}},
    "survey window 28 d": {"features": {"survey_window_days": 28}},
    "with data-quality columns": {"model": {"quality_columns_as_features": True}},
    "simulator constants (400 m, 14 d)": {
        "features": {"neighbour_radius_m": 400.0, "survey_window_days": 14}
    },
}


def variant_config(config: PestcastConfig, change: dict[str, Any]) -> PestcastConfig:
    sections = {
        name: getattr(config, name).model_copy(update=values) for name, values in change.items()
    }
    return config.model_copy(update=sections)


def held_out_auc(
    table: pd.DataFrame, config: PestcastConfig, pest: str, horizon: int, season: str
) -> float:
    """ROC-AUC on one held-out season of a model trained on the earlier seasons."""
    include = config.model.quality_columns_as_features
    spec = RiskModelSpec(
        pest=pest,
        horizon_days=horizon,
        features=tuple(feature_columns(table, include_quality=include)),
        params=config.model.params,
        num_boost_round=config.model.num_boost_round,
        seed=config.model.seed,
    )
    train, held_out = season_split(table, pest=pest, horizon_days=horizon, validation_season=season)
    rows, test = table.iloc[train], table.iloc[held_out]
    dataset = lgb.Dataset(
        feature_matrix(rows, spec.features, what="bench"),
        label=rows[spec.label].to_numpy(np.float64),
        feature_name=list(spec.features),
    )
    booster = lgb.train(lightgbm_params(spec), dataset, num_boost_round=spec.num_boost_round)
    risk = booster.predict(feature_matrix(test, spec.features, what="bench"))
    return float(roc_auc_score(test[spec.label].to_numpy(np.float64), risk))


def evaluate(config: PestcastConfig, observations: pd.DataFrame) -> dict[str, dict[str, float]]:
    table = configured_feature_table(config, observations)
    scores: dict[str, dict[str, float]] = {}
    for season in SEASONS:
        for pest in config.model.pests:
            for horizon in config.model.horizons_days:
                auc = held_out_auc(table, config, pest, horizon, season)
                scores.setdefault(f"{pest}_h{horizon}", {})[season] = round(auc, 4)
    return scores


def write_markdown(results: dict[str, dict[str, dict[str, float]]], seconds: float) -> None:
    names = list(next(iter(results.values())))
    lines = [
        "# Feature-setting sensitivity (`bench/feature_sensitivity.py`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.node()} ({platform.machine()}, "
        f"Python {platform.python_version()}, LightGBM {lgb.__version__}) in {seconds:.0f} s.",
        "Held-out ROC-AUC, mean over the held-out seasons " + ", ".join(SEASONS) + " (each "
        "trained on the seasons before it); demo region, seed 42. Survey labels only.",
        "",
        "| variant | " + " | ".join(names) + " | mean |",
        "|---|" + "---|" * (len(names) + 1),
    ]
    for variant, scores in results.items():
        means = [float(np.mean(list(scores[name].values()))) for name in names]
        cells = " | ".join(f"{mean:.3f}" for mean in means)
        lines.append(f"| {variant} | {cells} | {np.mean(means):.3f} |")
    lines += ["", "Per season:", "", "```", json.dumps(results, indent=1), "```", ""]
    RESULTS.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    config = load_config(parser.parse_args().config)
    observations = pd.read_parquet(RunLayout.from_config(config).observations)
    started = time.monotonic()
    results = {}
    for name, change in VARIANTS.items():
        results[name] = evaluate(variant_config(config, change), observations)
        print(name, json.dumps(results[name]), flush=True)
    write_markdown(results, time.monotonic() - started)
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
