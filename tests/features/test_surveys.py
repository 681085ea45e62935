"""Survey history features (reported by t only) and look-ahead labels, checked by hand."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from pestcast.core.errors import DataError
from pestcast.features.surveys import severity_levels, survey_history_features, survey_labels
from pestcast.features.timeseries import neighbour_matrix

# P0 and P1 are 100 m apart and P3 is 100 m from P0 (in another commune); P2 is far away.
PARCELS = pd.Index(["P0", "P1", "P2", "P3"])
COMMUNES = np.array([0, 0, 0, 1])
NEIGHBOURS = neighbour_matrix([0, 100, 5000, 0], [0, 0, 0, 100], radius_m=400)


def survey(
    parcel: str, surveyed: str, reported: str, severity: str, pest: str = "bph"
) -> dict[str, Any]:
    return {
        "parcel_id": parcel,
        "survey_date": pd.Timestamp(surveyed),
        "report_date": pd.Timestamp(reported),
        "pest": pest,
        "severity": severity,
    }


SURVEYS = pd.DataFrame(
    [
        survey("P1", "2024-03-01", "2024-03-03", "medium"),
        survey("P1", "2024-02-20", "2024-03-05", "none"),  # an older survey reported late
        survey("P0", "2024-03-07", "2024-03-20", "light", pest="blast"),
        survey("P9", "2024-03-01", "2024-03-01", "heavy"),  # not in the parcel table: ignored
        survey("P2", "2024-06-03", "2024-06-04", "none"),  # marks where the survey record ends
    ]
)


def history(dates: list[str]) -> dict[str, np.ndarray]:
    return survey_history_features(
        SURVEYS,
        parcel_ids=PARCELS,
        commune_codes=COMMUNES,
        neighbours=NEIGHBOURS,
        forecast_dates=pd.DatetimeIndex(dates),
        window_days=14,
        pests=("bph", "blast"),
    )


def test_last_severity_waits_for_the_report_and_keeps_the_latest_survey() -> None:
    features = history(["2024-03-02", "2024-03-04", "2024-03-06"])
    last = features["last_severity_bph"][:, 1]
    np.testing.assert_array_equal(last, [np.nan, 2.0, 2.0])  # the late "none" is older
    np.testing.assert_array_equal(features["days_since_survey_bph"][:, 1], [np.nan, 3.0, 5.0])
    assert np.isnan(features["last_severity_bph"][:, [0, 2, 3]]).all()


def test_neighbour_and_commune_shares_exclude_the_parcel_itself() -> None:
    features = history(["2024-03-04", "2024-03-16"])
    nbr = features["nbr_infested_share_bph"]
    commune = features["commune_infested_share_bph"]
    # 4 March: P1 (medium, 3 days ago) is the only recently surveyed parcel.
    np.testing.assert_array_equal(nbr[0], [1.0, np.nan, np.nan, 1.0])
    np.testing.assert_array_equal(commune[0], [1.0, np.nan, 1.0, np.nan])
    # 16 March: P1's 1 March survey is 15 days old, out of the 14-day window.
    assert np.isnan(nbr[1]).all()
    assert np.isnan(commune[1]).all()


def test_future_survey_sets_the_label_but_no_feature() -> None:
    dates = pd.DatetimeIndex(["2024-02-28", "2024-03-04", "2024-03-07"])
    labels = survey_labels(
        SURVEYS, parcel_ids=PARCELS, forecast_dates=dates, pests=("blast",), horizons=(7, 14)
    )
    np.testing.assert_array_equal(labels["label_blast_h7"][:, 0], [np.nan, 1.0, np.nan])
    np.testing.assert_array_equal(labels["label_blast_h14"][:, 0], [1.0, 1.0, np.nan])
    features = history(list(dates.strftime("%Y-%m-%d")))
    assert np.isnan(features["last_severity_blast"]).all()


def test_surveyed_without_finding_is_label_zero() -> None:
    dates = pd.DatetimeIndex(["2024-02-26", "2024-02-15"])
    labels = survey_labels(
        SURVEYS, parcel_ids=PARCELS, forecast_dates=dates, pests=("bph",), horizons=(7,)
    )
    # From 26 Feb, P1 is surveyed on 1 March (medium); from 15 Feb, on 20 Feb (none).
    np.testing.assert_array_equal(labels["label_bph_h7"][:, 1], [1.0, 0.0])
    assert np.isnan(labels["label_bph_h7"][:, [0, 2, 3]]).all()


def test_severity_levels_accept_names_and_numbers() -> None:
    names = pd.Series(["none", "Light", "medium", "heavy"])
    np.testing.assert_array_equal(severity_levels(names), [0, 1, 2, 3])
    np.testing.assert_array_equal(severity_levels(pd.Series([3, 0])), [3, 0])
    with pytest.raises(DataError, match="severe"):
        severity_levels(pd.Series(["none", "severe"]))
    with pytest.raises(DataError, match="0–3"):
        severity_levels(pd.Series([1.5]))


def test_parcel_history_rate_counts_only_reported_surveys() -> None:
    features = history(["2024-03-02", "2024-03-04", "2024-03-06"])
    rate = features["history_infested_rate_bph"][:, 1]
    counts = features["history_surveys_bph"][:, 1]
    np.testing.assert_array_equal(counts, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(rate, [np.nan, 1.0, 0.5])  # medium, then the late "none"
    assert np.isnan(features["history_infested_rate_bph"][:, 0]).all()


def test_region_share_and_trend_follow_reports_across_all_parcels() -> None:
    features = history(["2024-03-02", "2024-03-04", "2024-03-20"])
    share = features["region_infested_share_blast"]
    assert share.shape == (3, len(PARCELS))
    np.testing.assert_array_equal(share[:, 0], [np.nan, np.nan, 1.0])  # reported on 20 March
    np.testing.assert_array_equal(
        features["region_infested_share_bph"][:, 2], [np.nan, 1.0, np.nan]
    )
    assert np.isnan(features["region_infested_trend_blast"][:, 0]).all()  # nothing before
