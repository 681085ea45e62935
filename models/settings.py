"""What a configuration chooses for the models, in plain Python (no pandas, no LightGBM), so
that checking a configuration stays fast: backtest and promotion settings, risk-class rules and
the checks on LightGBM parameters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pestcast.core.errors import ConfigError, ModelError

__all__ = [
    "CAPTURE_PERCENTS",
    "DEFAULT_LEVEL",
    "DEFAULT_RISK_CLASS_RULE",
    "LOWER_IS_BETTER",
    "OBJECTIVE_ALIASES",
    "SCORES",
    "BacktestSettings",
    "PromotionPolicy",
    "RiskClassRule",
    "check_lightgbm_params",
]

CAPTURE_PERCENTS = (5, 10, 20)
SCORES = (
    "roc_auc",
    "within_date_roc_auc",
    "pr_auc",
    "brier",
    "expected_calibration_error",
    *(f"top{percent}_capture" for percent in CAPTURE_PERCENTS),
)
LOWER_IS_BETTER = frozenset({"brier", "expected_calibration_error"})

DEFAULT_LEVEL = 0.8
"""Nominal coverage: four seasons in five fall within the interval."""

_UNBALANCE_PARAMS = frozenset({"is_unbalance", "unbalance", "unbalanced_sets", "scale_pos_weight"})
OBJECTIVE_ALIASES = frozenset({"objective", "objective_type", "app", "application", "loss"})


@dataclass(frozen=True)
class BacktestSettings:
    """How the backtest behind a model is run and scored."""

    seasons: tuple[str, ...] | None = None
    """Seasons to forecast out of fold; None: every labelled season with both classes."""
    past_only: bool = False
    """Train each season's model on earlier seasons only."""
    gap_days: int | None = None
    """Dropped days either side of the held-out season; None: the horizon."""
    replicates: int = 200
    """Bootstrap replicates (dates resampled) behind each interval."""
    interval_level: float = 0.95
    band_level: float = DEFAULT_LEVEL
    """Nominal coverage of the per-parcel risk intervals."""
    seed: int = 0


@dataclass(frozen=True)
class PromotionPolicy:
    """Promote when, for every pest and horizon, the candidate's ``score`` is at most
    ``tolerance`` worse than the model in service."""

    score: str = "within_date_roc_auc"
    tolerance: float = 0.0

    def __post_init__(self) -> None:
        if self.score not in SCORES:
            raise ValueError(f"promotion score {self.score!r} is not one of {list(SCORES)}")


@dataclass(frozen=True)
class RiskClassRule:
    """Risk classes relative to the week's regional mean risk, so that warnings fire.

    Calibrated probabilities of a pest found within a week or two are a few per cent almost
    everywhere, so absolute bounds (0.2, 0.5) leave nearly every parcel "low". A parcel is
    ``high`` when its risk is at least ``high_lift`` times the mean risk of the parcels scored
    that week or at least ``high_risk``, ``medium`` from ``medium_lift`` times, and neither
    below ``min_risk``.
    """

    medium_lift: float = 1.5
    """Risk ÷ regional mean risk from which a parcel is medium."""
    high_lift: float = 3.0
    """Risk ÷ regional mean risk from which a parcel is high."""
    min_risk: float = 0.05
    """Below this probability a parcel stays low, however the week compares (off-season)."""
    high_risk: float = 0.2
    """From this probability (one chance in five) a parcel is high whatever the week."""

    def __post_init__(self) -> None:
        ordered = 1.0 <= self.medium_lift < self.high_lift
        if not ordered or not 0.0 <= self.min_risk < 1.0 or not 0.0 < self.high_risk <= 1.0:
            raise ConfigError(
                f"risk classes need 1 ≤ medium_lift < high_lift, 0 ≤ min_risk < 1 and "
                f"0 < high_risk ≤ 1; got medium_lift {self.medium_lift}, high_lift "
                f"{self.high_lift}, min_risk {self.min_risk}, high_risk {self.high_risk}"
            )


DEFAULT_RISK_CLASS_RULE = RiskClassRule()


def check_lightgbm_params(params: Mapping[str, Any], where: str) -> None:
    """Refuse LightGBM settings that would distort the risk probabilities or change the task."""
    unbalance = sorted(_UNBALANCE_PARAMS & set(params))
    if unbalance:
        raise ModelError(
            f"{where}: LightGBM params {unbalance} distort the predicted probabilities; "
            "remove them (class imbalance is left to the calibrated probability)"
        )
    for key in sorted(OBJECTIVE_ALIASES & set(params)):
        if params[key] != "binary":
            raise ModelError(
                f"{where}: params[{key!r}] = {params[key]!r}, but risk models are binary; remove it"
            )
