"""The imagery crop mask ``in_crop``: one parcel per branch of the rule, checked by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from pestcast.core.errors import DataError
from pestcast.features.settings import FeatureSettings
from pestcast.features.timeseries import feature_columns, imagery_features, is_quality_column
from tests.features.nowcast_data import BARE, FLOODED, T, days_before, green, obs

HISTORIES = {
    "unseen": [],
    "growing": [obs("growing", days_before(45), FLOODED), obs("growing", days_before(4), green())],
    "young": [obs("young", days_before(26), FLOODED), obs("young", days_before(6), green(0.25))],
    "harvested": [
        obs("harvested", days_before(110), FLOODED),
        obs("harvested", days_before(60), green(0.8)),
        obs("harvested", days_before(15), BARE),
        obs("harvested", days_before(5), green(0.4)),  # regrowth on the stubble
    ],
    "never_green": [
        obs("never_green", days_before(77), FLOODED),
        obs("never_green", days_before(20), green(0.25)),
    ],
    "green_no_flooding": [obs("green_no_flooding", days_before(3), green(0.7))],
    "bare_no_flooding": [obs("bare_no_flooding", days_before(3), green(0.35))],
    "old_flooding_bare": [
        obs("old_flooding_bare", days_before(138), FLOODED),
        obs("old_flooding_bare", days_before(5), BARE),
    ],
    "old_flooding_green": [
        obs("old_flooding_green", days_before(138), FLOODED),
        obs("old_flooding_green", days_before(5), green(0.7)),
    ],
    "old_flooding_ripe": [
        obs("old_flooding_ripe", days_before(125), FLOODED),
        obs("old_flooding_ripe", days_before(70), green(0.8)),
        obs("old_flooding_ripe", days_before(5), green(0.35)),  # yellowing, not yet bare
    ],
}
EXPECTED = {
    "unseen": 1.0,  # unknown: kept on the map
    "growing": 1.0,
    "young": 1.0,  # flooded 26 days ago, not green yet: establishing
    "harvested": 0.0,  # green, then bare: harvested (regrowth does not undo it)
    "never_green": 0.0,  # flooded 77 > 60 days ago and never green
    "green_no_flooding": 1.0,  # a canopy whose flooding the clouds hid
    "bare_no_flooding": 0.0,
    "old_flooding_bare": 0.0,  # flooded 138 > 120 days ago
    "old_flooding_green": 1.0,  # green now although its flooding is old
    "old_flooding_ripe": 0.0,  # flooded 125 > 120 days ago and no longer green
}
PARCEL_IDS = pd.Index(list(HISTORIES))


def in_crop(settings: FeatureSettings | None = None) -> pd.Series:
    rows = [row for history in HISTORIES.values() for row in history]
    grids = imagery_features(
        pd.DataFrame(rows),
        parcel_ids=PARCEL_IDS,
        forecast_dates=pd.DatetimeIndex([T]),
        settings=settings or FeatureSettings(),
    )
    return pd.Series(grids["in_crop"][0], index=PARCEL_IDS)


def test_every_branch_of_the_rule() -> None:
    assert in_crop().to_dict() == EXPECTED


def test_crop_windows_are_settings() -> None:
    longer = in_crop(FeatureSettings(crop_establishment_days=80, crop_duration_days=140))
    assert longer["never_green"] == 1.0
    assert longer["old_flooding_ripe"] == 1.0  # within a 140-day crop, not harvested yet
    with pytest.raises(DataError, match="crop_establishment_days"):
        FeatureSettings(crop_establishment_days=130)


def test_in_crop_is_a_quality_column_never_a_model_input() -> None:
    table = pd.DataFrame({"in_crop": [1.0], "ndvi_last": [0.5], "nbr_count": [3.0]})
    assert is_quality_column("in_crop")
    assert feature_columns(table) == ["ndvi_last"]
    assert feature_columns(table, include_quality=True) == ["ndvi_last", "nbr_count"]
