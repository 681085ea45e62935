"""Publishing a forecast folder: complete or not at all, byte-identical for the same inputs."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pestcast.core.errors import PublishError
from pestcast.features import DEFAULT_FEATURE_SETTINGS, build_feature_table, feature_columns
from pestcast.flows.publication import (
    MANIFEST,
    has_usable_data,
    parcel_warnings,
    publish_folder,
    sha256_of,
)
from pestcast.flows.reasons import has_phrase, reason, reasons_text
from pestcast.models import NOT_IN_CROP, BacktestSettings, RiskClassRule, fit_risk_model
from tests.models.conftest import spec, synthetic_table


def writer(text: str) -> Any:
    def write(staging: Path) -> dict[str, Any]:
        (staging / "risk_map.geojson").write_text(text, encoding="utf-8")
        return {"forecast_date": "2024-12-30", "region": "demo"}

    return write


def test_a_publication_appears_complete_with_a_manifest_of_hashes(tmp_path: Path) -> None:
    target = tmp_path / "2024-12-30"
    assert publish_folder(target, writer("one"), order=("region",))
    manifest = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
    assert list(manifest)[:2] == ["region", "forecast_date"]
    assert manifest["files"] == {"risk_map.geojson": sha256_of(target / "risk_map.geojson")}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2024-12-30"]


def test_the_same_content_is_not_republished(tmp_path: Path) -> None:
    target = tmp_path / "2024-12-30"
    publish_folder(target, writer("one"))
    stamp = (target / MANIFEST).stat().st_mtime_ns
    assert not publish_folder(target, writer("one"))
    assert (target / MANIFEST).stat().st_mtime_ns == stamp
    assert publish_folder(target, writer("two"))
    assert (target / "risk_map.geojson").read_text(encoding="utf-8") == "two"


def test_a_failing_run_leaves_the_previous_publication_and_no_debris(tmp_path: Path) -> None:
    target = tmp_path / "2024-12-30"
    publish_folder(target, writer("one"))

    def broken(staging: Path) -> dict[str, Any]:
        (staging / "risk_map.geojson").write_text("half", encoding="utf-8")
        raise PublishError("disk full")

    with pytest.raises(PublishError, match="disk full"):
        publish_folder(target, broken)
    assert (target / "risk_map.geojson").read_text(encoding="utf-8") == "one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2024-12-30"]


def test_a_run_killed_between_the_two_renames_is_repaired_by_the_next(tmp_path: Path) -> None:
    target = tmp_path / "2024-12-30"
    publish_folder(target, writer("one"))
    target.rename(tmp_path / ".staging-2024-12-30-replaced-deadbeef")  # killed right here
    (tmp_path / ".staging-2024-12-30-0badc0de").mkdir()  # and a half-built staging folder
    assert not publish_folder(target, writer("one"))  # the old one is back, and unchanged
    assert (target / "risk_map.geojson").read_text(encoding="utf-8") == "one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2024-12-30"]


def test_no_data_means_no_recent_clear_image_and_no_survey_of_the_pest() -> None:
    rows = pd.DataFrame(
        {
            "days_since_clear_obs": [10.0, 60.0, 60.0, np.nan],
            "history_surveys_bph": [0.0, 2.0, 0.0, np.nan],
        }
    )
    usable = has_usable_data(rows, "bph", max_image_age_days=42)
    assert usable.tolist() == [True, True, False, False]


def test_every_model_input_has_a_phrase_in_both_languages() -> None:
    table = build_feature_table(
        pd.DataFrame(
            columns=[
                "parcel_id",
                "acquired_utc",
                "available_utc",
                "n_valid_px",
                "ndvi_mean",
                "evi_mean",
                "ndre_mean",
                "lswi_mean",
            ]
        ),
        pd.DataFrame({"parcel_id": ["P1"], "commune": ["C"], "x": [0.0], "y": [0.0]}),
        pd.DataFrame(
            {
                "commune": "C",
                "date": pd.date_range("2024-01-01", periods=30),
                "tmin_c": 22.0,
                "tmax_c": 31.0,
                "rh_mean_pct": 80.0,
                "rh_max_pct": 95.0,
                "rain_mm": 1.0,
            }
        ),
        pd.DataFrame(columns=["parcel_id", "survey_date", "report_date", "pest", "severity"]),
        forecast_dates=pd.to_datetime(["2024-01-29"]),
        settings=DEFAULT_FEATURE_SETTINGS,
    )
    missing = [c for c in feature_columns(table, include_quality=True) if not has_phrase(c)]
    assert missing == []


def test_reasons_are_short_sentences_with_the_parcels_values() -> None:
    said = reasons_text(
        [("humid_days_in_a_row", 0.4), ("nbr_infested_share_bph", 0.3)],
        {"humid_days_in_a_row": 6.0, "nbr_infested_share_bph": 0.25},
    )
    assert said.en == (
        "6 humid days in a row; brown planthopper reported nearby (25 % of surveyed neighbours)"
    )
    assert said.vi == "6 ngày ẩm liên tiếp; có rầy nâu gần đây (25 % ruộng lân cận được điều tra)"
    assert reason("last_severity_blast", 3.0).vi == "điều tra đạo ôn gần nhất: nhiễm nặng"


def test_vietnamese_reasons_write_numbers_as_vietnamese_does() -> None:
    warm = reason("tmin_mean_7d", 21.94)
    assert (warm.en, warm.vi) == (
        "nights averaging 21.9 °C (7 days)",
        "nhiệt độ đêm trung bình 21,9 °C (7 ngày)",
    )
    catches = reason("trap_bph_log_7d", math.log1p(1234.0))
    assert "1,234 planthoppers" in catches.en
    assert "1.234 con rầy nâu" in catches.vi


KILLED_WRITER = """
import sys, time
from pathlib import Path
from pestcast.flows.publication import publish_folder

def write(staging):
    (staging / "risk_map.geojson").write_text("two, half written", encoding="utf-8")
    print("writing", flush=True)
    time.sleep(60)
    return {}

publish_folder(Path(sys.argv[1]), write)
"""


def test_a_publication_killed_midway_leaves_the_previous_one_and_latest(tmp_path: Path) -> None:
    target = tmp_path / "2024-12-30"
    publish_folder(target, writer("one"))
    (tmp_path / "latest").symlink_to(target.name)
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "writing"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert (tmp_path / "latest" / "risk_map.geojson").read_text(encoding="utf-8") == "one"
    assert publish_folder(target, writer("two"))  # the next run cleans up and publishes
    assert (tmp_path / "latest" / "risk_map.geojson").read_text(encoding="utf-8") == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2024-12-30", "latest"]


def test_reasons_go_to_the_parcels_in_a_warning_class_unless_all_are_explained() -> None:
    table = synthetic_table(n_parcels=150)
    model = fit_risk_model(table, spec(), backtest=BacktestSettings(replicates=20))
    rows = table[table["forecast_date"] == table["forecast_date"].max()].reset_index(drop=True)
    rows = rows.assign(days_since_clear_obs=5.0, history_surveys_bph=1.0)
    options: dict[str, Any] = {"rule": RiskClassRule(), "max_image_age_days": 42}
    at_risk = parcel_warnings(rows, {("bph", 7): model}, **options)
    everyone = parcel_warnings(rows, {("bph", 7): model}, explain="all", **options)

    warned = at_risk["class_bph_h7"].isin(["medium", "high"]).to_numpy()
    in_crop = at_risk["class_bph_h7"] != NOT_IN_CROP
    assert 0 < warned.sum() < in_crop.sum()
    assert (at_risk.loc[warned, "reasons_bph_h7"] != "").all()
    assert (at_risk.loc[~warned, "reasons_bph_h7"] == "").all()
    assert (at_risk.loc[~warned, "reasons_vi_bph_h7"] == "").all()
    pd.testing.assert_frame_equal(at_risk[warned], everyone[warned])
    assert (everyone.loc[in_crop & ~warned, "reasons_bph_h7"] != "").any()
