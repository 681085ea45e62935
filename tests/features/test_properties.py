"""Property tests (hypothesis): index ranges, zonal statistics, and as-of features.

Every test is derandomized (the same examples on every run) and keeps no example database, so CI
is repeatable. The as-of tests state the validity rule of :mod:`pestcast.features.timeseries`:
the features at forecast date ``t`` computed from all the data equal those computed from only
what was known at ``t`` (scenes available, surveys reported, weather of the days before ``t``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, example, given, settings, strategies as st
from hypothesis.extra.numpy import arrays
from scipy.sparse import csr_array

from pestcast.features.indices import INDEX_BANDS, INDEX_FUNCTIONS, INDEX_NAMES, evi, msavi
from pestcast.features.settings import FeatureSettings
from pestcast.features.surveys import SEVERITY_LEVELS, survey_history_features
from pestcast.features.timeseries import LOCAL_TIMEZONE, imagery_features
from pestcast.features.weather import weather_features
from pestcast.features.zonal import zonal_statistics

# --- the calls under test: adapt these three if the feature functions' signatures change ------

Grids = dict[str, npt.NDArray[np.float64]]


def imagery_at(observations: pd.DataFrame, dates: pd.DatetimeIndex) -> Grids:
    return imagery_features(observations, parcel_ids=PARCEL_IDS, forecast_dates=dates)


def survey_history_at(
    surveys: pd.DataFrame, region: SurveyRegion, dates: pd.DatetimeIndex
) -> Grids:
    return survey_history_features(
        surveys,
        parcel_ids=PARCEL_IDS[: region.n_parcels],
        commune_codes=region.commune_codes,
        neighbours=region.neighbours,
        forecast_dates=dates,
        pests=PESTS,
        window_days=region.window_days,
    )


def weather_at(
    weather: pd.DataFrame, dates: pd.DatetimeIndex, windows: tuple[int, ...]
) -> pd.DataFrame:
    return weather_features(weather, dates, windows=windows)


# --- settings and shared data ------------------------------------------------------------------

PROPERTIES = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
"""100 examples: about a second per test, most of it in pandas."""
SLOW_PROPERTIES = settings(PROPERTIES, max_examples=25)
"""For tests of ~0.1 s per example (weather: a pivot table per driver)."""

T0 = pd.Timestamp("2024-03-04")  # a Monday; forecast dates fall in the four weeks from here
PARCEL_IDS = pd.Index(["P0", "P1", "P2", "P3"])
PESTS = ("bph", "blast")
NORMALIZED_DIFFERENCES = ("ndvi", "ndre", "lswi")
STATS = ("mean", "std")
FLOAT32_ROUNDING = 1e-6
"""Slack for ranges whose bound float32 rounding can cross by an ulp (SAVI, MSAVI)."""


def forecast_dates() -> st.SearchStrategy[pd.DatetimeIndex]:
    """One to three distinct local forecast days (naive, ns) in the four weeks from :data:`T0`."""
    offsets = st.lists(st.integers(0, 27), min_size=1, max_size=3, unique=True)
    return offsets.map(lambda days: (T0 + pd.to_timedelta(sorted(days), unit="D")).as_unit("ns"))


# --- a. indices ----------------------------------------------------------------------------------


@st.composite
def band_stack(
    draw: st.DrawFn, n_bands: int, *, low: float = -0.1, high: float = 1.5, nan: bool = True
) -> list[npt.NDArray[np.float32]]:
    """``n_bands`` float32 reflectance arrays of one length, rich in 0, NaN and cancelling pairs.

    Dark water after the −1000 DN offset reads down to about −0.1; bright surfaces up to ~1.5.
    """
    low, high = float(np.float32(low)), float(np.float32(high))
    elements = [st.just(0.0), st.floats(low, high, width=32)]
    if nan:
        elements.append(st.just(math.nan))
    size = draw(st.integers(1, 24))
    stack = draw(arrays(np.float32, (n_bands, size), elements=st.one_of(*elements)))
    if n_bands >= 2 and low < 0:
        # x and −x cancel exactly in a normalized difference's denominator: 0/0 territory.
        mirror = draw(arrays(np.bool_, size)) & (np.abs(stack[0]) <= -low)
        stack[1, mirror] = -stack[0, mirror]
    return list(stack)


@pytest.mark.parametrize("name", INDEX_NAMES)
@PROPERTIES
@given(data=st.data())
def test_indices_are_finite_or_nan_and_nan_stays_nan(name: str, data: st.DataObject) -> None:
    bands = data.draw(band_stack(len(INDEX_BANDS[name])))
    with np.errstate(divide="raise", over="raise", invalid="raise"):
        result = INDEX_FUNCTIONS[name](*bands)
    assert result.dtype == np.float32
    assert result.shape == bands[0].shape
    assert not np.isinf(result).any()  # EVI's exact 0/0: test_evi_is_nan_where_…_is_zero
    nodata = np.isnan(np.stack(bands)).any(axis=0)
    assert np.isnan(result[nodata]).all()


@pytest.mark.parametrize("name", NORMALIZED_DIFFERENCES)
@PROPERTIES
@given(data=st.data())
def test_normalized_difference_is_nan_exactly_where_the_denominator_is_zero(
    name: str, data: st.DataObject
) -> None:
    first, second = data.draw(band_stack(2))
    result = INDEX_FUNCTIONS[name](first, second)
    # In IEEE arithmetic a + b == 0 only when b == −a (no underflow to zero with subnormals).
    expected_nan = np.isnan(first) | np.isnan(second) | (first == -second)
    np.testing.assert_array_equal(np.isnan(result), expected_nan)


@pytest.mark.parametrize("name", NORMALIZED_DIFFERENCES)
@PROPERTIES
@given(data=st.data())
def test_normalized_difference_of_non_negative_reflectance_is_within_minus_one_one(
    name: str, data: st.DataObject
) -> None:
    first, second = data.draw(band_stack(2, low=0.0, nan=False))
    result = INDEX_FUNCTIONS[name](first, second)
    np.testing.assert_array_equal(np.isnan(result), (first == 0) & (second == 0))
    defined = result[~np.isnan(result)]
    assert ((defined >= -1.0) & (defined <= 1.0)).all()


@pytest.mark.parametrize("name", ["savi", "msavi"])
@PROPERTIES
@given(data=st.data())
def test_soil_adjusted_indices_of_reflectance_0_1_are_within_minus_one_one(
    name: str, data: st.DataObject
) -> None:
    nir, red = data.draw(band_stack(2, low=0.0, high=1.0, nan=False))
    result = INDEX_FUNCTIONS[name](nir, red)
    defined = result[~np.isnan(result)]
    assert (np.abs(defined) <= 1.0 + FLOAT32_ROUNDING).all()
    if name == "savi":  # its denominator N + R + 0.5 is never 0 here
        assert not np.isnan(result).any()


@PROPERTIES
@given(bands=band_stack(2, low=0.0, high=1.0, nan=False))
@example(bands=[np.array([0.50000006], dtype=np.float32), np.array([0.0], dtype=np.float32)])
def test_msavi_is_defined_for_all_non_negative_reflectance(
    bands: list[npt.NDArray[np.float32]],
) -> None:
    assert not np.isnan(msavi(*bands)).any()


def test_evi_is_nan_where_its_denominator_is_zero() -> None:
    # EVI has no bounded range: N + 6R − 7.5B + 1 reaches 0 for blue ≥ 0.134, which random
    # reflectances hardly ever hit exactly. Here 0.3125 + 6 × 0.25 − 7.5 × 0.375 + 1 = 0 exactly.
    bands = [np.array([value], dtype=np.float32) for value in (0.3125, 0.25, 0.375)]
    assert np.isnan(evi(*bands)).all()


@PROPERTIES
@given(bands=band_stack(3, nan=False))
def test_evi_is_finite_where_its_denominator_is_not_near_zero(
    bands: list[npt.NDArray[np.float32]],
) -> None:
    nir, red, blue = (band.astype(np.float64) for band in bands)
    denominator = nir + 6.0 * red - 7.5 * blue + 1.0
    assert np.isfinite(evi(*bands)[np.abs(denominator) > 1e-4]).all()


@pytest.mark.parametrize("name", INDEX_NAMES)
@PROPERTIES
@given(data=st.data())
def test_indices_of_dataarrays_match_numpy(name: str, data: st.DataObject) -> None:
    bands = data.draw(band_stack(len(INDEX_BANDS[name])))
    wrapped = [xr.DataArray(band, dims="x", attrs={"crs": "EPSG:32648"}) for band in bands]
    result = INDEX_FUNCTIONS[name](*wrapped)
    assert isinstance(result, xr.DataArray)
    np.testing.assert_array_equal(result.to_numpy(), INDEX_FUNCTIONS[name](*bands))


# --- b. zonal statistics -------------------------------------------------------------------------


ZonalInputs = tuple[
    dict[str, npt.NDArray[np.float32]], npt.NDArray[np.int32], npt.NDArray[np.bool_], int
]
"""Value arrays, label raster, valid mask and parcel count: the arguments of zonal_statistics."""


@st.composite
def zonal_inputs(draw: st.DrawFn) -> ZonalInputs:
    """Values with NaN/inf holes, a label raster and a valid mask on a small random grid."""
    shape = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    n_parcels = draw(st.integers(1, 4))
    labels = draw(arrays(np.int32, shape, elements=st.integers(0, n_parcels)))
    pixel = st.one_of(
        st.floats(-1.0, 1.5, width=32), st.sampled_from([math.nan, math.inf, -math.inf])
    )
    names = ("ndvi", "lswi")[: draw(st.integers(1, 2))]
    values = {name: draw(arrays(np.float32, shape, elements=pixel)) for name in names}
    valid = draw(arrays(np.bool_, shape))
    return values, labels, valid, n_parcels


@PROPERTIES
@given(inputs=zonal_inputs())
def test_zonal_statistics_match_numpy_per_parcel(inputs: ZonalInputs) -> None:
    values, labels, valid, n_parcels = inputs
    table = zonal_statistics(values, labels, valid, n_parcels)
    assert len(table) == n_parcels
    assert all(table[f"{name}_{stat}"].dtype == np.float32 for name in values for stat in STATS)
    finite_everywhere = np.logical_and.reduce([np.isfinite(array) for array in values.values()])
    for parcel in range(n_parcels):
        inside = labels == parcel + 1
        used = inside & valid & finite_everywhere
        statistics = table.iloc[parcel]
        assert statistics["n_px"] == inside.sum()
        assert statistics["n_valid_px"] == used.sum()
        for name, array in values.items():
            pixels = array[used].astype(np.float64)
            if pixels.size == 0:
                assert np.isnan([statistics[f"{name}_{stat}"] for stat in STATS]).all()
                continue
            # The documented std is the population one (ddof = 0); results are float32.
            np.testing.assert_allclose(
                statistics[f"{name}_mean"], pixels.mean(), rtol=1e-6, atol=1e-7
            )
            np.testing.assert_allclose(
                statistics[f"{name}_std"], pixels.std(ddof=0), rtol=1e-6, atol=1e-7
            )


# --- c. as-of features: later data never changes the features of an earlier date ---------------


def local_day(utc: pd.Series) -> pd.Series:
    """The local calendar day (naive, midnight) of UTC instants."""
    local = pd.to_datetime(utc, utc=True).dt.tz_convert(LOCAL_TIMEZONE)
    return local.dt.tz_localize(None).dt.normalize()


def _indices(
    ndvi: tuple[float, float], evi: tuple[float, float], lswi: tuple[float, float]
) -> st.SearchStrategy[tuple[float, float, float, float]]:
    """(ndvi, evi, ndre, lswi) parcel means drawn from the given ranges."""
    return st.tuples(st.floats(*ndvi), st.floats(*evi), st.floats(-0.2, 0.6), st.floats(*lswi))


FLOODED_PADDY = _indices(ndvi=(0.0, 0.29), evi=(0.0, 0.3), lswi=(0.25, 0.5))
"""Means that satisfy the flooding signal (LSWI + 0.05 ≥ EVI, NDVI < 0.3)."""
GROWING_CROP = _indices(ndvi=(0.3, 0.9), evi=(0.2, 0.8), lswi=(-0.1, 0.3))
ANY_INDICES = st.tuples(
    st.one_of(st.floats(-0.2, 0.9), st.sampled_from([0.0, 0.3, math.nan])),
    *[st.one_of(st.floats(-0.2, 0.9), st.sampled_from([0.0, 0.1, 0.3]))] * 3,
)


@st.composite
def imagery_cases(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """Forecast dates and parcel observations, many published around a forecast date's end.

    Each observation is placed relative to the end (the next local midnight) of one forecast
    date: it became available up to 48 hours before or after that instant, or that plus a whole
    number of days earlier (older scenes, up to 160 days), and was acquired 0–72 hours before it
    became available. Local time is UTC+7: UTC and local calendar days differ 7 hours a day.
    """
    dates = draw(forecast_dates())
    row = st.tuples(
        st.sampled_from(["P0", "P1", "P9"]),  # two parcels, so scenes meet; P9 is not in the table
        st.sampled_from(list(dates)),
        # hours from the end of the forecast date to availability; often the 7 hours on either
        # side, where the UTC day is not the local day
        st.one_of(st.integers(-48, 48), st.integers(-8, 8)),
        st.one_of(st.just(0), st.integers(0, 160)),  # days earlier than that
        st.integers(0, 72),  # hours from acquisition to availability
        st.integers(0, 8),  # n_valid_px; fewer than 3 is not clear
        st.one_of(FLOODED_PADDY, GROWING_CROP, ANY_INDICES),
    )
    rows = draw(st.lists(row, min_size=1, max_size=10))
    day_end = pd.DatetimeIndex([r[1] for r in rows]) + pd.Timedelta(days=1)
    available = day_end.tz_localize(LOCAL_TIMEZONE).tz_convert("UTC") + pd.to_timedelta(
        [r[2] - 24 * r[3] for r in rows], unit="h"
    )
    observations = pd.DataFrame(
        {
            "parcel_id": pd.Series([r[0] for r in rows], dtype=object),
            "acquired_utc": available - pd.to_timedelta([r[4] for r in rows], unit="h"),
            "available_utc": available,
            "n_valid_px": pd.Series([r[5] for r in rows], dtype=np.int64),
            **{
                f"{name}_mean": pd.Series([r[6][i] for r in rows], dtype=np.float32)
                for i, name in enumerate(("ndvi", "evi", "ndre", "lswi"))
            },
        }
    )
    return observations, dates


def assert_same_grids_at(full: Grids, row: int, as_of: Grids) -> None:
    assert full.keys() == as_of.keys()
    for name, grid in full.items():
        np.testing.assert_array_equal(grid[row], as_of[name][0], err_msg=name)


@PROPERTIES
@given(case=imagery_cases())
def test_imagery_features_ignore_scenes_available_after_the_date(
    case: tuple[pd.DataFrame, pd.DatetimeIndex],
) -> None:
    observations, dates = case
    full = imagery_at(observations, dates)
    for row, date in enumerate(dates):
        known = observations.loc[local_day(observations["available_utc"]) <= date]
        assert_same_grids_at(full, row, imagery_at(known, pd.DatetimeIndex([date])))


ALL_NEIGHBOURS = csr_array(np.ones((len(PARCEL_IDS), len(PARCEL_IDS))) - np.eye(len(PARCEL_IDS)))
ONE_NEIGHBOUR_ENOUGH = FeatureSettings(nbr_contrast_min_parcels=1)


@PROPERTIES
@given(case=imagery_cases())
def test_nowcast_imagery_with_neighbours_ignores_scenes_available_after_the_date(
    case: tuple[pd.DataFrame, pd.DatetimeIndex],
) -> None:
    """The same rule for the neighbour contrasts, trend residuals and ``in_crop``."""
    observations, dates = case

    def at(table: pd.DataFrame, days: pd.DatetimeIndex) -> Grids:
        return imagery_features(
            table,
            parcel_ids=PARCEL_IDS,
            forecast_dates=days,
            settings=ONE_NEIGHBOUR_ENOUGH,
            neighbours=ALL_NEIGHBOURS,
        )

    full = at(observations, dates)
    for row, date in enumerate(dates):
        known = observations.loc[local_day(observations["available_utc"]) <= date]
        assert_same_grids_at(full, row, at(known, pd.DatetimeIndex([date])))


@dataclass(frozen=True)
class SurveyRegion:
    """The first ``n_parcels`` of :data:`PARCEL_IDS` with communes, neighbours and a window."""

    n_parcels: int
    commune_codes: npt.NDArray[np.intp]
    neighbours: csr_array
    """Symmetric 0/1 (parcels × parcels) matrix with an empty diagonal."""
    window_days: int
    """Recent-survey window (days)."""


@st.composite
def survey_regions(draw: st.DrawFn) -> SurveyRegion:
    n_parcels = draw(st.integers(1, len(PARCEL_IDS)))
    communes = draw(st.lists(st.integers(0, 1), min_size=n_parcels, max_size=n_parcels))
    pairs = np.triu(draw(arrays(np.bool_, (n_parcels, n_parcels))), k=1)
    neighbours = csr_array((pairs | pairs.T).astype(np.float64))
    return SurveyRegion(
        n_parcels, np.array(communes, dtype=np.intp), neighbours, draw(st.integers(1, 30))
    )


@st.composite
def survey_cases(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """Forecast dates and surveys, many reported within 3 days of a forecast date.

    Each survey is reported some days from one of the forecast dates (−3…3, or −60…10) and was
    made 0–7 days before it was reported.
    """
    dates = draw(forecast_dates())
    row = st.tuples(
        st.sampled_from([*PARCEL_IDS, "P9"]),  # P9 is not in the parcel table
        st.sampled_from(list(dates)),
        st.one_of(st.integers(-3, 3), st.integers(-60, 10)),  # report day from that date
        st.integers(0, 7),  # days from survey to report
        st.sampled_from(PESTS),
        st.sampled_from(list(SEVERITY_LEVELS)),
    )
    rows = draw(st.lists(row, max_size=16))
    reported = pd.DatetimeIndex([r[1] + pd.Timedelta(days=r[2]) for r in rows]).as_unit("ns")
    surveys = pd.DataFrame(
        {
            "parcel_id": pd.Series([r[0] for r in rows], dtype=object),
            "survey_date": reported - pd.to_timedelta([r[3] for r in rows], unit="D"),
            "report_date": reported,
            "pest": pd.Series([r[4] for r in rows], dtype=object),
            "severity": pd.Series([r[5] for r in rows], dtype=object),
        }
    )
    return surveys, dates


@PROPERTIES
@given(case=survey_cases(), region=survey_regions())
def test_survey_history_ignores_surveys_reported_after_the_date(
    case: tuple[pd.DataFrame, pd.DatetimeIndex], region: SurveyRegion
) -> None:
    surveys, dates = case
    full = survey_history_at(surveys, region, dates)
    for row, date in enumerate(dates):
        reported = surveys.loc[surveys["report_date"] <= date]
        assert_same_grids_at(
            full, row, survey_history_at(reported, region, pd.DatetimeIndex([date]))
        )


WEATHER_VALUES = {
    "tmin_c": [18.0, 22.0, 25.0],
    "tmax_c": [28.0, 33.0, 35.0, 38.0],
    "rh_mean_pct": [60.0, 80.0, 95.0],
    "rh_max_pct": [80.0, 89.9, 90.0, 100.0],
    "rain_mm": [0.0, 0.5, 1.0, 5.0, 30.0],
}
"""Daily values on either side of the weather module's thresholds (rain day, wetness, hot day)."""


@st.composite
def weather_tables(draw: st.DrawFn) -> pd.DataFrame:
    """Daily weather of one or two communes from 35 days before :data:`T0` to 5 weeks after.

    Days are missing at random, except each commune's first, so every commune is in every table.
    """
    communes = ["Long Kiến", "Mỹ Hòa Hưng"][: draw(st.integers(1, 2))]
    days = pd.date_range(T0 - pd.Timedelta(days=35), T0 + pd.Timedelta(days=35), freq="D")
    table = pd.DataFrame(
        {"commune": np.repeat(communes, len(days)), "date": np.tile(days, len(communes))}
    )
    for column, levels in WEATHER_VALUES.items():
        elements = st.sampled_from([*levels, math.nan])
        table[column] = draw(arrays(np.float64, len(table), elements=elements))
    present = draw(arrays(np.bool_, len(table), elements=st.booleans() | st.just(True)))
    present[:: len(days)] = True
    return table.loc[present].reset_index(drop=True)


@SLOW_PROPERTIES
@given(
    weather=weather_tables(),
    dates=forecast_dates(),
    windows=st.lists(st.integers(1, 14), min_size=1, max_size=2, unique=True).map(tuple),
)
def test_weather_features_ignore_the_date_itself_and_later_days(
    weather: pd.DataFrame, dates: pd.DatetimeIndex, windows: tuple[int, ...]
) -> None:
    full = weather_at(weather, dates, windows).set_index(["forecast_date", "commune"])
    for date in dates:
        expected = full.loc[[date]].droplevel("forecast_date")
        before = weather.loc[weather["date"] < date]
        as_of = weather_at(before, pd.DatetimeIndex([date]), windows)
        as_of = as_of.drop(columns="forecast_date").set_index("commune").reindex(expected.index)
        # Rolling means started on other days may differ in the last bits: compare at 1e-9.
        pd.testing.assert_frame_equal(expected, as_of, check_exact=False, rtol=1e-9, atol=1e-9)
