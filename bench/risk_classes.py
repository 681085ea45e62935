"""What each risk class holds in the backtest: the evidence behind the default classes.

Run after ``make demo``: ``.venv/bin/python bench/risk_classes.py [--config FILE]``.

For each pest and horizon it reads the out-of-fold backtest forecasts saved beside the models in
service (every season scored by a model that never saw it, on every parcel in crop and week of
it, calibrated), classifies each
forecast date's parcels with a rule as a publication does, and reports per class: the share of
all parcels in it, and, on the parcels surveyed in the window (survey labels only), the share of
the infested ones it holds and how often its parcels were really infested (hit rate). The
``no_data`` state is not applied here (it needs the feature table).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pestcast.flows.config import DEFAULT_CONFIG, load_config
from pestcast.flows.layout import RunLayout
from pestcast.models import RiskClassRule, backtest_path, classify_risk

REQUIRES = ["registry/demo/current"]
RESULTS = Path(__file__).parent / "results" / "risk_classes.md"
RULES = {
    "default: 1.5× / 3× or ≥ 20 %, ≥ 5 %": RiskClassRule(),
    "1.5× / 3×, ≥ 5 %": RiskClassRule(high_risk=1.0),
    "1.25× / 2×, ≥ 5 %": RiskClassRule(medium_lift=1.25, high_lift=2.0, high_risk=1.0),
    "2× / 4×, ≥ 5 %": RiskClassRule(medium_lift=2.0, high_lift=4.0, high_risk=1.0),
    "1.5× / 3×, no floor": RiskClassRule(min_risk=0.0, high_risk=1.0),
    "2× / 4× or ≥ 20 %, ≥ 5 %": RiskClassRule(medium_lift=2.0, high_lift=4.0),
    "2× / 4× or ≥ 20 %, ≥ 10 %": RiskClassRule(medium_lift=2.0, high_lift=4.0, min_risk=0.1),
}
ABSOLUTE = (0.2, 0.5)
"""The earlier fixed bounds: medium above 0.2, high above 0.5."""


def classes_by_date(held_out: pd.DataFrame, rule: RiskClassRule | None) -> np.ndarray:
    """Each row's class, classified within its forecast date (None: the absolute bounds)."""
    classes = np.empty(len(held_out), dtype="<U7")
    for _, rows in held_out.groupby("forecast_date").indices.items():
        risk = held_out["risk_model"].to_numpy()[rows]
        if rule is None:
            labels = np.where(
                risk > ABSOLUTE[1], "high", np.where(risk > ABSOLUTE[0], "medium", "low")
            )
            classes[rows] = labels
        else:
            classes[rows] = classify_risk(risk, rule)
    return classes


def class_table(held_out: pd.DataFrame, classes: np.ndarray) -> dict[str, dict[str, float]]:
    labels = held_out["label"].to_numpy()
    surveyed, infested = ~np.isnan(labels), labels == 1.0
    table = {}
    for name in ("high", "medium", "low"):
        inside = classes == name
        table[name] = {
            "parcels": float(inside.mean()),
            "infestations": float(infested[inside].sum() / max(infested.sum(), 1)),
            "hit_rate": float(infested[inside].sum() / max((inside & surveyed).sum(), 1)),
        }
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    config = load_config(parser.parse_args().config)
    models = RunLayout.from_config(config).current_model
    lines = [
        "# Risk classes in the backtest (`bench/risk_classes.py`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.node()}, Python "
        f"{platform.python_version()}; models in `{models.resolve().name}`. Classes are computed "
        "per forecast date over every parcel, as published. Per class: share of all parcels "
        "in it; among the parcels surveyed in the window, share of the infested ones it holds "
        "and share of its surveyed parcels found infested (hit rate).",
        "",
        "| model | season | rule | high: parcels / infestations / hit rate "
        "| medium: parcels / infestations / hit rate | low: hit rate |",
        "|---|---|---|---|---|---|",
    ]
    for pest in config.model.pests:
        for horizon in config.model.horizons_days:
            backtest = pd.read_parquet(backtest_path(models, pest, horizon))
            held_out = backtest[backtest["in_crop"]].reset_index(drop=True)
            season = f"{held_out['season'].nunique()} seasons"
            rules: dict[str, RiskClassRule | None] = {**RULES, "absolute 0.2 / 0.5": None}
            for name, rule in rules.items():
                table = class_table(held_out, classes_by_date(held_out, rule))
                high, medium = table["high"], table["medium"]
                lines.append(
                    f"| {pest} {horizon} d | {season} | {name} | "
                    f"{high['parcels']:.1%} / {high['infestations']:.1%} / "
                    f"{high['hit_rate']:.1%} | "
                    f"{medium['parcels']:.1%} / {medium['infestations']:.1%} / "
                    f"{medium['hit_rate']:.1%} | {table['low']['hit_rate']:.1%} |"
                )
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
