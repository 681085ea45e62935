"""Season-conformal risk bands: the rank rule, their coverage on exchangeable seasons."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from pestcast.core.errors import ModelError
from pestcast.models import fit_risk_bands, risk_band, season_coverage
from pestcast.models.uncertainty import MIN_ROWS_PER_BIN

FloatArray = npt.NDArray[np.float64]
StrArray = npt.NDArray[np.str_]


def _seasons_at_two_risks(positives: list[int]) -> tuple[FloatArray, FloatArray, StrArray]:
    """Per season 100 rows at risk 0.1 (``positives[s]`` of them positive) and 100 at 0.6
    (60 positive): the low bin's deviation of season s is |positives[s] / 100 − 0.1|."""
    risk, labels, seasons = [], [], []
    for index, k in enumerate(positives):
        risk += [0.1] * 100 + [0.6] * 100
        labels += [1.0] * k + [0.0] * (100 - k) + [1.0] * 60 + [0.0] * 40
        seasons += [f"{2010 + index}-SA"] * 200
    return np.array(risk), np.array(labels), np.array(seasons)


@pytest.mark.parametrize("n_seasons", [4, 6, 9, 12, 19])
def test_half_width_is_the_conformal_rank_of_season_deviations(n_seasons: int) -> None:
    rng = np.random.default_rng(n_seasons)
    positives = rng.permutation(np.arange(n_seasons) * 2 + 1).tolist()  # all distinct
    risk, labels, seasons = _seasons_at_two_risks(positives)
    bands = fit_risk_bands(risk, labels, seasons, level=0.8)
    deviations = sorted(abs(k / 100 - 0.1) for k in positives)
    rank = math.ceil((n_seasons + 1) * 0.8)
    low, high = risk_band(bands, [0.1, 0.6])
    assert high[0] - 0.1 == pytest.approx(deviations[rank - 1], abs=1e-12)
    assert 0.1 - low[0] == pytest.approx(min(deviations[rank - 1], 0.1), abs=1e-12)
    assert (low[1], high[1]) == pytest.approx((0.6, 0.6), abs=1e-12)  # every season on the mark
    assert bands.seasons == tuple(sorted(set(seasons)))


@pytest.mark.parametrize("n_seasons", [1, 2, 3])
def test_too_few_seasons_for_the_level_give_zero_to_one(n_seasons: int) -> None:
    risk, labels, seasons = _seasons_at_two_risks([10] * n_seasons)  # on the mark, yet too few
    bands = fit_risk_bands(risk, labels, seasons, level=0.8)
    assert bands.half_widths == (1.0,) * len(bands.half_widths)
    low, high = risk_band(bands, [0.1, 0.6])
    assert low.tolist() == [0.0, 0.0]
    assert high.tolist() == [1.0, 1.0]


def test_a_bin_no_season_fills_claims_nothing() -> None:
    """Per season 6 of 200 rows lie at 0.9 or above: fewer than MIN_ROWS_PER_BIN in that bin."""
    per_season = [0.1] * 100 + [0.6] * 94 + [0.9] * 5 + [0.95]
    assert per_season.count(0.9) + 1 < MIN_ROWS_PER_BIN
    risk = np.array(per_season * 6)
    labels = np.tile(np.r_[np.zeros(90), np.ones(10), np.zeros(38), np.ones(56), np.ones(6)], 6)
    seasons = np.repeat([f"{2010 + s}-SA" for s in range(6)], 200)
    bands = fit_risk_bands(risk, labels, seasons, level=0.8)
    assert bands.edges[-2] == 0.9
    low, high = risk_band(bands, [0.1, 0.92])
    assert (low[0], high[0]) == pytest.approx((0.1, 0.1), abs=1e-12)
    assert (low[1], high[1]) == (0.0, 1.0)


def test_constant_calibrated_risk_gives_one_band() -> None:
    """An isotonic map of a score with no signal is a constant: the bands must still apply."""
    risk, labels, seasons = _seasons_at_two_risks([10, 12, 14, 16, 18])
    flat = np.full(risk.size, 0.35)
    bands = fit_risk_bands(flat, labels, seasons, level=0.8)
    low, high = risk_band(bands, [0.35])
    assert low[0] <= 0.35 <= high[0]
    assert season_coverage(flat, labels, seasons, level=0.8) is not None


def test_bands_stay_within_zero_and_one_and_empty_input_claims_nothing() -> None:
    risk, labels, seasons = _seasons_at_two_risks([1, 30, 2, 28, 3, 25])
    low, high = risk_band(fit_risk_bands(risk, labels, seasons), [0.0, 0.05, 0.99, 1.0])
    assert np.all((low >= 0.0) & (low <= high) & (high <= 1.0))
    low, high = risk_band(fit_risk_bands([], [], []), [0.3])
    assert (low.tolist(), high.tolist()) == ([0.0], [1.0])


@pytest.mark.parametrize("level", [0.0, 1.0, 1.2])
def test_a_level_outside_zero_one_is_refused(level: float) -> None:
    with pytest.raises(ModelError, match=f"level must be in \\(0, 1\\), got {level}"):
        fit_risk_bands([0.1], [1.0], ["2020-SA"], level=level)


def _exchangeable_seasons(
    seed: int, n_seasons: int, per_season: int
) -> tuple[FloatArray, FloatArray, StrArray]:
    """Calibrated risks over the whole range; each season shifts the log-odds of the true rate
    by its own random effect, so seasons are exchangeable and none is on the mark."""
    rng = np.random.default_rng(seed)
    effect = np.repeat(rng.normal(0.0, 0.35, n_seasons), per_season)
    logit = rng.normal(-1.2, 1.3, n_seasons * per_season)
    risk = 1.0 / (1.0 + np.exp(-logit))
    truth = 1.0 / (1.0 + np.exp(-(logit + effect)))
    labels = (rng.random(risk.size) < truth).astype(np.float64)
    seasons = np.repeat([f"{2000 + s}-SA" for s in range(n_seasons)], per_season)
    return risk, labels, seasons


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_leave_one_season_out_coverage_is_near_the_level(seed: int) -> None:
    risk, labels, seasons = _exchangeable_seasons(seed, n_seasons=24, per_season=2000)
    coverage = season_coverage(risk, labels, seasons, level=0.8)
    assert coverage is not None
    assert 0.65 <= coverage <= 0.95


def test_coverage_needs_two_seasons() -> None:
    risk, labels, seasons = _exchangeable_seasons(0, n_seasons=1, per_season=500)
    assert season_coverage(risk, labels, seasons) is None
