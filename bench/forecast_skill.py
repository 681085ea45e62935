"""Held-out-season skill of the trained models next to the simulator's oracle ``p_true``.

Run after ``make demo``:  ``.venv/bin/python bench/forecast_skill.py [--config config/demo.yaml]``.
Joins each model's held-out forecasts (``<pest>_h<h>.held_out.parquet`` beside the model) with
the demo region's ``truth.parquet`` on parcel, date, pest and horizon, and reports ROC-AUC,
PR-AUC and Brier score of the model, of both baselines and of ``p_true`` on the same rows.
The pipeline never reads ``truth.parquet``; only this benchmark does.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from pestcast.flows.config import DEFAULT_CONFIG, load_config
from pestcast.flows.layout import RunLayout
from pestcast.models import held_out_path

REQUIRES = ["data/demo/truth.parquet", "outputs/demo/models/latest"]  # from `make demo`
RESULTS = Path(__file__).parent / "results" / "forecast_skill.json"
SCORES = ("risk_model", "risk_persistence", "risk_climatology", "p_true")


def skill_table(config_path: Path, truth_path: Path) -> list[dict[str, Any]]:
    config = load_config(config_path)
    truth = pd.read_parquet(truth_path)
    truth["date"] = pd.to_datetime(truth["date"])
    layout = RunLayout.from_config(config)
    rows = []
    for pest in config.model.pests:
        for horizon in config.model.horizons_days:
            held_out = pd.read_parquet(held_out_path(layout.latest_model, pest, horizon))
            held_out = held_out.dropna(subset=["label"])  # scored only where surveyed
            oracle = truth.loc[(truth["pest"] == pest) & (truth["horizon_days"] == horizon)]
            joined = held_out.merge(
                oracle[["parcel_id", "date", "p_true"]],
                left_on=["parcel_id", "forecast_date"],
                right_on=["parcel_id", "date"],
                how="left",
            )
            rows.append(_scores(pest, horizon, joined))
    return rows


def _scores(pest: str, horizon: int, joined: pd.DataFrame) -> dict[str, Any]:
    if joined["p_true"].isna().any():
        raise SystemExit(f"{pest} h{horizon}: held-out rows without p_true; regenerate the demo")
    labels = joined["label"].to_numpy()
    result: dict[str, Any] = {
        "pest": pest,
        "horizon_days": horizon,
        "season": str(joined["season"].iloc[0]),
        "rows": len(joined),
        "prevalence": round(float(labels.mean()), 4),
    }
    for name in SCORES:
        result[name] = _metrics(labels, joined[name].to_numpy(dtype=float))
    # Rows where the parcel is not yet infested at t: the onset the hazard model drives. On the
    # other rows p_true is 1 because it sees the latent state, which surveys sample only weekly.
    onset = joined.loc[joined["p_true"] < 1.0 - 1e-6]
    result["onset_rows"] = {
        "rows": len(onset),
        "share_of_positives_already_infested": round(
            float((joined.loc[joined["label"] == 1, "p_true"] >= 1.0 - 1e-6).mean()), 4
        ),
        **{
            name: _metrics(onset["label"].to_numpy(), onset[name].to_numpy(dtype=float))
            for name in SCORES
        },
    }
    return result


def _metrics(labels: np.ndarray, score: np.ndarray) -> dict[str, float]:
    score = np.clip(score, 0, 1)
    return {
        "roc_auc": round(float(roc_auc_score(labels, score)), 4),
        "pr_auc": round(float(average_precision_score(labels, score)), 4),
        "brier": round(float(brier_score_loss(labels, score)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--truth", type=Path, default=Path("data/demo/truth.parquet"))
    arguments = parser.parse_args()
    table = skill_table(arguments.config, arguments.truth)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    print(f"{'model':<10} {'season':<8} {'rows':>6} " + " ".join(f"{s:>17}" for s in SCORES))
    for row in table:
        aucs = " ".join(f"{row[s]['roc_auc']:>17.3f}" for s in SCORES)
        name = f"{row['pest']}_h{row['horizon_days']}"
        print(f"{name:<10} {row['season']:<8} {row['rows']:>6} {aucs}")
    print("same, on rows where the parcel is not yet infested at the forecast date:")
    for row in table:
        onset = row["onset_rows"]
        aucs = " ".join(f"{onset[s]['roc_auc']:>17.3f}" for s in SCORES)
        name = f"{row['pest']}_h{row['horizon_days']}"
        print(f"{name:<10} {row['season']:<8} {onset['rows']:>6} {aucs}")
    print(f"ROC-AUC shown; full table in {RESULTS}")


if __name__ == "__main__":
    main()
