"""Officers' field checks: validated like surveys, appended, never overwriting earlier records."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from pestcast.core.errors import DataError
from pestcast.flows.feedback import import_feedback, read_feedback, read_store

TODAY = dt.date(2024, 12, 31)
PARCELS = ["AG-00001", "AG-00002"]


def officers_file(tmp_path: Path, rows: list[dict[str, str]], name: str = "checks.csv") -> Path:
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False, encoding="utf-8-sig")
    return path


def read(path: Path) -> pd.DataFrame:
    return read_feedback(path, known_parcels=PARCELS, pests=("bph", "blast"), today=TODAY)


def test_checks_become_survey_records_reported_on_the_visit_day(tmp_path: Path) -> None:
    path = officers_file(
        tmp_path,
        [
            {"parcel_id": "AG-00001", "date": "2024-12-30", "pest": "BPH", "severity": "Light"},
            {"parcel_id": "AG-00002", "date": "2024-12-29", "pest": "blast", "severity": "none",
             "report_date": "2024-12-31", "officer": "Nguyễn Văn A", "note": "đã phun thuốc"},
        ],
    )  # fmt: skip
    records = read(path)
    assert records["pest"].tolist() == ["bph", "blast"]
    assert records["severity"].tolist() == ["light", "none"]
    assert records["report_date"].dt.date.tolist() == [dt.date(2024, 12, 30), dt.date(2024, 12, 31)]
    assert records["note"].iloc[1] == "đã phun thuốc"


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ({"parcel_id": "AG-09999"}, "not in the parcel file"),
        ({"pest": "stem_borer"}, "pests other than bph, blast"),
        ({"severity": "severe"}, "severities other than"),
        ({"date": "2031-01-05"}, "after today"),
        ({"date": "30/13/2024"}, "not dates"),
        ({"report_date": "2024-12-01"}, "report date before the visit"),
    ],
)
def test_bad_rows_are_named_with_their_row_number(
    tmp_path: Path, row: dict[str, str], says: str
) -> None:
    good = {"parcel_id": "AG-00001", "date": "2024-12-30", "pest": "bph", "severity": "light"}
    path = officers_file(tmp_path, [good, good | row])
    with pytest.raises(DataError, match=rf"checks\.csv: .*({says}.*rows 3|rows 3 .*{says})"):
        read(path)


def test_imports_append_skip_repeats_and_keep_contradictions(tmp_path: Path) -> None:
    store = tmp_path / "store" / "feedback.parquet"
    first = read(
        officers_file(
            tmp_path,
            [{"parcel_id": "AG-00001", "date": "2024-12-30", "pest": "bph", "severity": "light"}],
        )
    )
    assert import_feedback(first, store).added == 1
    again = import_feedback(first, store)
    assert (again.added, again.already_there) == (0, 1)
    denial = read(
        officers_file(
            tmp_path,
            [{"parcel_id": "AG-00001", "date": "2024-12-30", "pest": "bph", "severity": "none"}],
            name="denial.csv",
        )
    )
    done = import_feedback(denial, store)
    assert (done.added, done.contradicting) == (1, 1)
    kept = read_store(store)
    assert kept["severity"].tolist() == ["light", "none"]  # the earlier record is untouched
    assert kept["source"].tolist() == ["feedback:checks.csv", "feedback:denial.csv"]
