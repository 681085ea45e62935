"""Figures written beside models and backtests (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np
import numpy.typing as npt
import pandas as pd

from pestcast.core.atomic import atomic_path
from pestcast.models import reliability_table

mpl.use("Agg")  # no screen on servers: render to files only

import matplotlib.pyplot as plt

__all__ = ["write_reliability_plot"]


def _curve(labels: npt.NDArray[np.float64], risk: npt.NDArray[np.float64]) -> pd.DataFrame:
    rows = [row.model_dump() for row in reliability_table(labels, risk)]
    return pd.DataFrame(rows).dropna(subset=["observed_rate"])


def write_reliability_plot(
    path: Path,
    *,
    labels: pd.Series,
    raw: pd.Series,
    calibrated: pd.Series,
    title: str,
) -> Path:
    """Reliability diagram of out-of-fold risks before and after calibration, as a PNG."""
    truth = labels.to_numpy(dtype=np.float64)
    figure, (curve_axes, count_axes) = plt.subplots(
        2, 1, figsize=(5, 6), height_ratios=(3, 1), sharex=True
    )
    curve_axes.plot([0, 1], [0, 1], color="0.6", linestyle=":", label="perfectly calibrated")
    for name, risk, marker in (("raw", raw, "o"), ("calibrated", calibrated, "s")):
        curve = _curve(truth, risk.to_numpy(dtype=np.float64))
        curve_axes.plot(curve["mean_risk"], curve["observed_rate"], marker=marker, label=name)
    curve_axes.set_ylabel("observed rate (backtest, surveyed parcels)")
    curve_axes.set_title(f"Reliability · {title}")
    curve_axes.legend(loc="upper left")
    count_axes.hist(calibrated.to_numpy(dtype=np.float64), bins=20, range=(0, 1), color="0.4")
    count_axes.set_yscale("log")
    count_axes.set_xlabel("forecast risk")
    count_axes.set_ylabel("rows")
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=100)
    plt.close(figure)
    return path
