"""The reliability table of probability forecasts (scikit-learn's calibration curve)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pestcast.models.card import ReliabilityBin

__all__ = ["RELIABILITY_BINS", "reliability_table"]

RELIABILITY_BINS = 10
"""Equal-width probability bins of the reliability table."""


def reliability_table(
    labels: npt.NDArray[np.float64], risk: npt.NDArray[np.float64], *, bins: int = RELIABILITY_BINS
) -> tuple[ReliabilityBin, ...]:
    """Per equal-width risk bin: bounds, rows, mean forecast risk and observed positive rate.

    The rates come from :func:`sklearn.calibration.calibration_curve` (``strategy="uniform"``),
    which leaves out empty bins; the row counts use the same bin edges.
    """
    from sklearn.calibration import calibration_curve  # here: configs load without sklearn

    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.searchsorted(edges[1:-1], risk, side="left")  # as calibration_curve bins
    counts = np.bincount(which, minlength=bins)
    observed, predicted = calibration_curve(labels, risk, n_bins=bins, strategy="uniform")
    filled = iter(zip(observed, predicted, strict=True))
    table = []
    for index, count in enumerate(counts):
        rate, mean = next(filled) if count else (None, None)
        table.append(
            ReliabilityBin(
                lower=float(edges[index]),
                upper=float(edges[index + 1]),
                n=int(count),
                mean_risk=None if mean is None else float(mean),
                observed_rate=None if rate is None else float(rate),
            )
        )
    return tuple(table)
