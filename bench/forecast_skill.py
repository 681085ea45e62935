"""Backtest skill against the simulator's truth: what issue 7's targets are measured on.

Run after ``make demo``: ``.venv/bin/python bench/forecast_skill.py [--config config/demo.yaml]``.
Reads the published backtest (``<output_dir>/backtest/forecasts.parquet`` and ``scores.csv``) and
the demo region's ``truth.parquet`` (latent daily severity and the exact ``p_true``), which the
pipeline never reads. Per pest × horizon, on every parcel the model scores as in crop:

* within-date ROC-AUC against what really happened (``infested`` = latent severity ≥ light on a
  day in (t, t + h]), for the model, both baselines and the oracle ``p_true`` (h ≤ 14 only: the
  simulator's exact probability is defined up to its 14-day spread lag);
* the share of really infested parcels in the week's top 10 % by risk;
* the share of them already infested on the forecast date, and the crop mask's misses (truly
  infested parcels the mask called not in crop);
* from the backtest's own scores (surveyed rows): ROC-AUC and its gain over both baselines, ECE.

Every figure has a 95 % interval from 200 date-resampled bootstrap replicates.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from pestcast.flows.config import DEFAULT_CONFIG, load_config
from pestcast.flows.layout import RunLayout
from pestcast.models import score_forecasts

REQUIRES = ["data/demo/truth.parquet", "outputs/demo/backtest/forecasts.parquet"]
RESULTS = Path(__file__).parent / "results" / "forecast_skill.md"
TARGETS = {
    "within_date_roc_auc": 0.80,
    "top10_capture": 0.50,
    "surveyed_roc_auc": 0.80,
    "gain_vs_baselines": 0.10,
    "ece": 0.03,
}
ORACLE_MAX_HORIZON = 14


def daily_severity(truth: pd.DataFrame, pest: str) -> pd.DataFrame:
    """(date × parcel) latent severity of ``pest``."""
    rows = truth[(truth["pest"] == pest) & (truth["horizon_days"] == truth["horizon_days"].min())]
    return rows.pivot_table(
        index="date", columns="parcel_id", values="severity", aggfunc="first"
    ).sort_index()


def infested_within(severity: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """1.0 where severity ≥ light on some day in (t, t + horizon], per date t and parcel."""
    infested = (severity.to_numpy() > 0).astype(np.float64)
    ahead = np.full_like(infested, np.nan)
    cumulative = np.vstack([np.zeros((1, infested.shape[1])), np.cumsum(infested, axis=0)])
    n = infested.shape[0]
    for row in range(n - horizon):
        ahead[row] = (cumulative[row + horizon + 1] - cumulative[row + 1]) > 0
    return pd.DataFrame(ahead, index=severity.index, columns=severity.columns)


def _stack(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    long = frame.reset_index().melt(id_vars="date", var_name="parcel_id", value_name=name)
    return long.rename(columns={"date": "forecast_date"})


def truth_rows(
    forecasts: pd.DataFrame, truth: pd.DataFrame, pest: str, horizon: int
) -> pd.DataFrame:
    severity = daily_severity(truth, pest)
    joined = forecasts.merge(
        _stack(infested_within(severity, horizon), "infested"),
        on=["forecast_date", "parcel_id"],
    ).merge(_stack(severity, "severity_now"), on=["forecast_date", "parcel_id"])
    if horizon <= ORACLE_MAX_HORIZON:
        oracle = truth[(truth["pest"] == pest) & (truth["horizon_days"] == horizon)]
        oracle = oracle.rename(columns={"date": "forecast_date"})
        joined = joined.merge(
            oracle[["parcel_id", "forecast_date", "p_true"]], on=["parcel_id", "forecast_date"]
        )
    return joined.dropna(subset=["infested"])


def _formatted(value: float, low: float, high: float) -> str:
    return f"{value:.3f} [{low:.3f}–{high:.3f}]"


def measure(config_path: Path, truth_path: Path) -> pd.DataFrame:
    config = load_config(config_path)
    layout = RunLayout.from_config(config)
    forecasts = pd.read_parquet(layout.backtest_dir / "forecasts.parquet")
    surveyed = pd.read_csv(layout.backtest_dir / "scores.csv")
    truth = pd.read_parquet(truth_path)
    truth["date"] = pd.to_datetime(truth["date"])
    rows = []
    for (pest, horizon), group in forecasts.groupby(["pest", "horizon_days"], sort=False):
        joined = truth_rows(group, truth, str(pest), int(horizon))
        frame = joined.drop(columns="label").rename(
            columns={"infested": "label", "risk": "risk_model"}
        )
        names = ["model", "persistence", "climatology"]
        if "p_true" in frame:
            frame["risk_oracle"] = frame["p_true"]
            names.append("oracle")
        scored = score_forecasts(frame, names, replicates=200, per_season=False)
        scored = scored[scored["score"].isin(["within_date_roc_auc", "top10_capture"])]
        in_crop = frame[frame["in_crop"]]
        positives = in_crop[in_crop["label"] == 1.0]
        truly_infested = joined[joined["infested"] == 1.0]
        mine = surveyed[
            (surveyed["pest"] == pest)
            & (surveyed["horizon_days"] == horizon)
            & (surveyed["season"] == "all")
        ].set_index(["forecaster", "score"])
        rows.append(
            {
                "pest": pest,
                "horizon_days": int(horizon),
                **{
                    f"{score}_{name}": _formatted(row.value, row.low, row.high)
                    for name, score, row in (
                        (r.forecaster, r.score, r) for r in scored.itertuples()
                    )
                },
                "infested_now_share": float((positives["severity_now"] > 0).mean()),
                "crop_mask_misses": float((~truly_infested["in_crop"]).mean()),
                "surveyed_roc_auc": _formatted(
                    *mine.loc[("model", "roc_auc"), ["value", "low", "high"]]
                ),
                "gain_vs_persistence": mine.loc[("model", "roc_auc"), "value"]
                - mine.loc[("persistence", "roc_auc"), "value"],
                "gain_vs_climatology": mine.loc[("model", "roc_auc"), "value"]
                - mine.loc[("climatology", "roc_auc"), "value"],
                "ece": _formatted(
                    *mine.loc[("model", "expected_calibration_error"), ["value", "low", "high"]]
                ),
            }
        )
    return pd.DataFrame(rows)


def _markdown_rows(table: pd.DataFrame) -> list[str]:
    """The table transposed (one column per pest × horizon), as Markdown rows."""
    names = [f"{row.pest} h{row.horizon_days}" for row in table.itertuples()]
    body = table.drop(columns=["pest", "horizon_days"]).T
    lines = ["| figure | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for figure, values in body.iterrows():
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in values]
        lines.append(f"| {figure} | " + " | ".join(cells) + " |")
    return lines


def _markdown(table: pd.DataFrame, config_path: Path) -> str:
    lines = [
        "# Backtest skill against the simulator's truth",
        "",
        f"`python bench/forecast_skill.py --config {config_path}` after `make demo`. "
        "Every labelled season forecast out of fold; all parcels the model scores as in crop; "
        "95 % intervals from 200 date-resampled bootstrap replicates. Targets (issue 7): "
        f"within-date ROC-AUC ≥ {TARGETS['within_date_roc_auc']}, top-10 % capture ≥ "
        f"{TARGETS['top10_capture']:.0%}, surveyed-row ROC-AUC ≥ {TARGETS['surveyed_roc_auc']} "
        f"and ≥ {TARGETS['gain_vs_baselines']} above both baselines, ECE ≤ {TARGETS['ece']}.",
        "",
        *_markdown_rows(table),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--truth", type=Path, default=Path("data/demo/truth.parquet"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    options = parser.parse_args()
    table = measure(options.config, options.truth)
    options.out.write_text(_markdown(table, options.config), encoding="utf-8")
    print(table.T.to_string())


if __name__ == "__main__":
    main()
