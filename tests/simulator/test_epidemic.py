"""Pest surveys come in seasonal waves, and ``p_true`` is the exact onset probability."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from pestcast.simulator import DemoWorld
from pestcast.simulator.epidemic import neighbour_matrix, sowing_asynchrony
from pestcast.simulator.simulate import survey_shares
from tests.simulator.conftest import Region

SURVEY_COLUMNS = [
    "parcel_id",
    "survey_date",
    "report_date",
    "pest",
    "density_per_m2",
    "incidence_pct",
    "severity",
]


@pytest.fixture(scope="module")
def surveys(small_region: Region) -> pd.DataFrame:
    return pd.read_parquet(small_region.root / "surveys.parquet")


@pytest.fixture(scope="module")
def truth(small_region: Region) -> pd.DataFrame:
    return pd.read_parquet(small_region.root / "truth.parquet")


def test_survey_table_follows_the_contract(surveys: pd.DataFrame, small_region: Region) -> None:
    assert list(surveys.columns) == SURVEY_COLUMNS
    assert set(surveys["pest"]) == {"bph", "blast"}
    assert set(surveys["severity"]) <= {"none", "light", "medium", "heavy"}
    delay = (surveys["report_date"] - surveys["survey_date"]).dt.days
    assert delay.between(1, 3).all()
    assert set(surveys["survey_date"].dt.day_of_week) == {small_region.settings.survey_weekday}
    bph, blast = surveys["pest"] == "bph", surveys["pest"] == "blast"
    assert surveys.loc[bph, "density_per_m2"].notna().all()
    assert surveys.loc[bph, "incidence_pct"].isna().all()
    assert surveys.loc[blast, "incidence_pct"].between(0, 100).all()
    assert surveys.loc[blast, "density_per_m2"].isna().all()
    heavy = surveys[bph & (surveys["severity"] == "heavy")]
    assert (heavy["density_per_m2"] > 6000).all()


def test_only_parcels_in_crop_are_surveyed(surveys: pd.DataFrame, small_world: DemoWorld) -> None:
    ids = {pid: i for i, pid in enumerate(small_world.layout.parcels["parcel_id"])}
    days = (surveys["survey_date"] - pd.Timestamp(small_world.first_day)).dt.days.to_numpy()
    parcels = surveys["parcel_id"].map(ids).to_numpy()
    assert small_world.parcel_state.in_crop[days, parcels].all()
    per_week = surveys.groupby(["survey_date", "pest"]).size()
    in_crop = small_world.parcel_state.in_crop.sum(axis=1)
    first = per_week.index.get_level_values(0)[0]
    expected = in_crop[(first - pd.Timestamp(small_world.first_day)).days] * 0.4
    assert per_week.iloc[0] == pytest.approx(expected, abs=1)


def test_surveyed_infestation_comes_in_seasonal_waves(surveys: pd.DataFrame) -> None:
    shares = survey_shares(surveys).rolling(3, center=True).mean().dropna()
    # BPH peaks with each crop; blast mainly in the cool winter–spring crop
    for pest, waves in (("bph", 2), ("blast", 1)):
        share = shares[pest]
        assert 0.12 <= share.max() <= 0.35, pest
        assert share.min() < 0.03, pest
        assert _waves(share.to_numpy(), low=0.05, high=0.12) >= waves, pest


def _waves(share: npt.NDArray[np.float64], *, low: float, high: float) -> int:
    """Rises from below ``low`` to above ``high``."""
    waves, armed = 0, False
    for value in share:
        armed = armed or value < low
        if armed and value > high:
            waves, armed = waves + 1, False
    return waves


def test_truth_has_every_parcel_day_pest_and_horizon(
    truth: pd.DataFrame, small_region: Region
) -> None:
    settings = small_region.settings
    days = (settings.end - settings.start).days + 1
    assert len(truth) == settings.n_parcels * days * 2 * 2
    assert list(truth.columns) == [
        "parcel_id", "date", "pest", "horizon_days", "severity", "p_true",
    ]  # fmt: skip
    assert isinstance(truth["parcel_id"].dtype, pd.CategoricalDtype)
    assert truth["date"].min() == pd.Timestamp(settings.start)
    assert truth["date"].max() == pd.Timestamp(settings.end)
    assert set(truth["horizon_days"]) == {7, 14}
    assert truth["severity"].between(0, 3).all()
    assert truth["p_true"].between(0.0, 1.0).all()


def _wide(truth: pd.DataFrame, pest: str, horizon: int, column: str) -> npt.NDArray[np.float64]:
    rows = truth[(truth["pest"] == pest) & (truth["horizon_days"] == horizon)]
    table = pd.pivot_table(
        rows, index="parcel_id", columns="date", values=column, aggfunc="first", observed=True
    )
    return table.to_numpy(dtype=float)


def test_p_true_is_one_when_infested_and_grows_with_the_horizon(truth: pd.DataFrame) -> None:
    for pest in ("bph", "blast"):
        severity = _wide(truth, pest, 7, "severity")
        week, fortnight = _wide(truth, pest, 7, "p_true"), _wide(truth, pest, 14, "p_true")
        assert (fortnight >= week - 1e-6).all()
        infested = severity > 0
        assert (week[infested] == 1.0).mean() > 0.85
        # p_true = 1 means the infestation surely carries over to the next day
        certain = week[:, :-1] == 1.0
        assert (severity[:, 1:][certain] > 0).all()


def test_p_true_equals_the_product_of_daily_hazards(
    truth: pd.DataFrame, small_world: DemoWorld
) -> None:
    sample = truth[truth["p_true"] < 1.0].sample(400, random_state=1)
    ids = {pid: i for i, pid in enumerate(small_world.layout.parcels["parcel_id"])}
    first_day = pd.Timestamp(small_world.first_day)
    for parcel_id, date, pest, horizon, p_true in zip(
        sample["parcel_id"].astype(str),
        pd.DatetimeIndex(sample["date"]),
        sample["pest"].astype(str),
        sample["horizon_days"].astype(int),
        sample["p_true"],
        strict=True,
    ):
        day = (date - first_day).days
        rate = small_world.epidemics[pest].hazard_rate[:, ids[parcel_id]].astype(np.float64)
        daily_onset = 1.0 - np.exp(-rate[day + 1 : day + 1 + horizon])
        expected = 1.0 - np.prod(1.0 - daily_onset)
        assert p_true == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_p_true_is_calibrated_against_what_happened(truth: pd.DataFrame) -> None:
    """Among parcels not infested on t, the mean p_true matches the share infested by t + h."""
    for pest in ("bph", "blast"):
        for horizon in (7, 14):
            severity = _wide(truth, pest, horizon, "severity")
            p_true = _wide(truth, pest, horizon, "p_true")
            n_days = severity.shape[1] - horizon
            windows = np.lib.stride_tricks.sliding_window_view(severity[:, 1:], horizon, axis=1)
            happened = np.asarray((windows[:, :n_days] > 0).any(axis=2))
            open_rows = p_true[:, :n_days] < 1.0
            predicted = p_true[:, :n_days][open_rows]
            observed = happened[open_rows]
            assert observed.mean() == pytest.approx(predicted.mean(), rel=0.1), (pest, horizon)
            high = predicted > np.quantile(predicted, 0.9)
            assert observed[high].mean() > 2 * observed.mean()


def test_neighbours_and_sowing_asynchrony() -> None:
    centroids = np.array([[0.0, 0.0], [300.0, 0.0], [1000.0, 0.0]])
    weights = neighbour_matrix(centroids, 400.0).toarray()
    np.testing.assert_allclose(weights, [[0, 1, 0], [1, 0, 0], [0, 0, 0]])
    many = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0], [100.0, 100.0]])
    sowing = np.array([[np.nan, 10.0, 20.0, 30.0], [5.0, 5.0, 5.0, np.nan]], dtype=np.float32)
    spread = sowing_asynchrony(sowing, neighbour_matrix(many, 400.0))
    assert spread[0, 0] == pytest.approx(np.std([10.0, 20.0, 30.0]))
    assert spread[1, 0] == pytest.approx(0.0)
    assert spread[0, 1] == pytest.approx(5.0)
