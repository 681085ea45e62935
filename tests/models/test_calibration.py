"""Calibration maps: which method, what they correct, and that they survive JSON."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.isotonic import IsotonicRegression

from pestcast.core.errors import ModelError
from pestcast.models import Calibration, calibrate, fit_calibration
from pestcast.models.calibration import ISOTONIC_MIN_POSITIVES, ISOTONIC_MIN_ROWS
from pestcast.models.skill import weighted_expected_calibration_error

FloatArray = npt.NDArray[np.float64]


def _overconfident(seed: int, n: int) -> tuple[FloatArray, FloatArray]:
    """A raw risk twice as extreme in log-odds as the truth: sigmoid(2·z + 1), truth sigmoid(z)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-1.0, 1.2, n)
    raw = 1.0 / (1.0 + np.exp(-(2.0 * z + 1.0)))
    labels = (rng.random(n) < 1.0 / (1.0 + np.exp(-z))).astype(np.float64)
    return raw, labels


def _ece(risk: FloatArray, labels: FloatArray) -> float:
    return weighted_expected_calibration_error(risk, labels, np.ones(risk.size))


def test_isotonic_with_enough_rows_and_positives_platt_otherwise() -> None:
    raw, labels = _overconfident(0, 4000)
    assert labels.sum() > ISOTONIC_MIN_POSITIVES
    isotonic = fit_calibration(raw, labels)
    assert isotonic.method == "isotonic"
    assert (isotonic.n_rows, isotonic.n_positive) == (4000, int(labels.sum()))
    assert fit_calibration(
        raw[: ISOTONIC_MIN_ROWS - 1], labels[: ISOTONIC_MIN_ROWS - 1]
    ).method == ("platt")
    few = labels.copy()
    few[np.flatnonzero(few == 1.0)[ISOTONIC_MIN_POSITIVES - 1 :]] = 0.0
    assert int(few.sum()) == ISOTONIC_MIN_POSITIVES - 1
    assert fit_calibration(raw, few).method == "platt"


@pytest.mark.parametrize("only", [0.0, 1.0])
def test_one_class_gives_the_identity(only: float) -> None:
    raw = np.linspace(0.01, 0.99, 50)
    calibration = fit_calibration(raw, np.full(50, only))
    assert calibration.method == "none"
    assert (calibration.n_rows, calibration.n_positive) == (50, int(50 * only))
    np.testing.assert_array_equal(calibrate(calibration, raw), raw)


@pytest.mark.parametrize("n", [4000, 600])  # isotonic, then Platt
def test_calibration_reduces_the_error_of_a_miscalibrated_score(n: int) -> None:
    raw, labels = _overconfident(1, n)
    calibration = fit_calibration(raw, labels)
    fresh_raw, fresh_labels = _overconfident(2, 20_000)  # judged on rows it was not fitted on
    before = _ece(fresh_raw, fresh_labels)
    after = _ece(calibrate(calibration, fresh_raw), fresh_labels)
    assert before > 0.05
    assert after < before / 2


def test_platt_recovers_the_log_odds_line() -> None:
    """Truth sigmoid(z) from raw sigmoid(2z + 1): calibrated log-odds = 0.5·raw − 0.5."""
    raw, labels = _overconfident(3, ISOTONIC_MIN_ROWS - 1)
    calibration = fit_calibration(raw, labels)
    assert calibration.method == "platt"
    assert calibration.slope == pytest.approx(0.5, abs=0.1)
    assert calibration.intercept == pytest.approx(-0.5, abs=0.2)


def test_isotonic_map_is_scikit_learns_prediction() -> None:
    raw, labels = _overconfident(4, 3000)
    calibration = fit_calibration(raw, labels)
    reference = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, labels)
    points = np.r_[np.linspace(-0.5, 1.5, 301), raw[:200]]
    np.testing.assert_allclose(
        calibrate(calibration, points), reference.predict(points), atol=1e-12
    )
    assert np.all(np.diff(calibrate(calibration, np.linspace(0, 1, 101))) >= 0)


@pytest.mark.parametrize("n", [3000, 500])
def test_the_map_round_trips_through_json(n: int) -> None:
    raw, labels = _overconfident(5, n)
    calibration = fit_calibration(raw, labels)
    again = Calibration.model_validate_json(calibration.model_dump_json())
    assert again == calibration
    points = np.linspace(0.0, 1.0, 1001)
    np.testing.assert_array_equal(calibrate(again, points), calibrate(calibration, points))


def test_calibrated_risks_are_probabilities() -> None:
    for n in (3000, 500):
        raw, labels = _overconfident(6, n)
        risk = calibrate(fit_calibration(raw, labels), np.r_[0.0, raw, 1.0])
        assert np.all((risk >= 0.0) & (risk <= 1.0))


def test_mismatched_inputs_are_refused() -> None:
    with pytest.raises(ModelError, match="bph h7: raw risk and labels must be 1-D of one length"):
        fit_calibration([0.1, 0.2], [1.0], what="bph h7")
