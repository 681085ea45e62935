"""Whether a newly trained model set goes into service: it must not be worse than the current one.

Both are judged on the same rows: the backtest forecasts each made of the seasons both backtested,
joined on parcel and forecast date, against the *candidate's* labels (the newest survey data), so
a corrected label counts the same for both. The score and the tolerance are the policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pestcast.models.card import Promotion
from pestcast.models.settings import LOWER_IS_BETTER, PromotionPolicy
from pestcast.models.skill import score_forecasts

__all__ = ["compare_on_common_rows", "decide_promotion"]

_JOIN = ["parcel_id", "forecast_date", "season"]


@dataclass(frozen=True)
class Comparison:
    """One pest × horizon: both models' score on the same rows."""

    candidate: float
    current: float
    seasons: tuple[str, ...]
    n_rows: int

    def not_worse(self, policy: PromotionPolicy) -> bool:
        if not np.isfinite(self.current):
            return True
        if policy.score in LOWER_IS_BETTER:
            return self.candidate <= self.current + policy.tolerance
        return self.candidate >= self.current - policy.tolerance


def compare_on_common_rows(
    candidate: pd.DataFrame, current: pd.DataFrame, policy: PromotionPolicy
) -> Comparison | None:
    """Both backtests scored on the rows they share (None when they share no labelled row in
    crop)."""
    shared = candidate.merge(
        current[[*_JOIN, "risk_model"]].rename(columns={"risk_model": "risk_current"}),
        on=_JOIN,
        how="inner",
    ).rename(columns={"risk_model": "risk_candidate"})
    scored = shared["label"].notna() & shared["in_crop"].astype(bool)  # as score_forecasts
    if not scored.any():
        return None
    scores = score_forecasts(shared, ("candidate", "current"), replicates=0, per_season=False)
    value = scores[scores["score"] == policy.score].set_index("forecaster")["value"]
    return Comparison(
        candidate=float(value["candidate"]),
        current=float(value["current"]),
        seasons=tuple(sorted(shared["season"].astype(str).unique())),
        n_rows=int(scored.sum()),
    )


def decide_promotion(
    candidates: Mapping[str, pd.DataFrame],
    current: Mapping[str, pd.DataFrame],
    policy: PromotionPolicy,
    *,
    current_version: str | None,
) -> Promotion:
    """The decision for a model set: ``candidates`` and ``current`` map a model name such as
    ``bph_h7`` to its backtest forecasts; ``current`` is empty when no model is in service."""
    if current_version is None:
        return Promotion(promoted=True, reason="no model was in service")
    verdicts, worse = [], []
    for name, forecasts in candidates.items():
        if name not in current:
            verdicts.append(f"{name}: new (the model in service has none)")
            continue
        found = compare_on_common_rows(forecasts, current[name], policy)
        if found is None:
            verdicts.append(f"{name}: no backtest rows in common")
            continue
        line = (
            f"{name}: {policy.score} {found.candidate:.3f} vs {found.current:.3f} in service "
            f"({found.n_rows} labelled rows of {', '.join(found.seasons)})"
        )
        verdicts.append(line)
        if not found.not_worse(policy):
            worse.append(name)
    tolerance = f"tolerance {policy.tolerance:g}"
    if worse:
        reason = f"kept aside: worse than {current_version} for {', '.join(worse)} ({tolerance})"
    else:
        reason = f"not worse than {current_version} for any pest and horizon ({tolerance})"
    return Promotion(
        promoted=not worse,
        reason=f"{reason}; " + "; ".join(verdicts),
        compared_with=current_version,
    )
