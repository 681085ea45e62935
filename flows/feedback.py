"""Officers' field checks of the warnings, kept as survey records for the next retraining.

An officer who visits a warned parcel records what was found: ``parcel_id``, ``date`` (of the
visit), ``pest`` and ``severity`` (none / light / medium / heavy), optionally ``report_date``
(when the office received it; the visit date if absent), ``officer`` and ``note``. Each import is
validated like a survey file and appended to the feedback store (``sources.feedback.path``), a
Parquet file pestcast owns: earlier records are never changed or removed, a record already in
the store is not added twice, and a new finding that contradicts an earlier one for the same
parcel, pest and day is kept beside it (both are evidence). The features stage reads the store
with the survey file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pestcast.core.atomic import atomic_path
from pestcast.core.errors import DataError, SourceError
from pestcast.features.columns import require_columns
from pestcast.features.surveys import SEVERITY_LEVELS, SURVEY_COLUMNS

__all__ = ["FeedbackImport", "import_feedback", "read_feedback", "read_store"]

FEEDBACK_COLUMNS = ("parcel_id", "date", "pest", "severity")
STORE_COLUMNS = (*SURVEY_COLUMNS, "source", "officer", "note")
_KEY = ["parcel_id", "survey_date", "report_date", "pest", "severity"]


@dataclass(frozen=True)
class FeedbackImport:
    """What one import did to the store."""

    store: Path
    added: int
    """Records new to the store."""
    already_there: int
    """Records the store held already (not added again)."""
    contradicting: int
    """Added records whose severity differs from an earlier one of the same parcel, pest, day."""


def read_feedback(
    path: Path, *, known_parcels: Iterable[str], pests: Iterable[str], today: dt.date
) -> pd.DataFrame:
    """An officer's feedback file as store records; every problem names the file and rows."""
    table = _read(path)
    require_columns(table, FEEDBACK_COLUMNS, str(path))
    records = pd.DataFrame(
        {
            "parcel_id": table["parcel_id"].astype(str).str.strip(),
            "survey_date": _days(table["date"], path, "date"),
            "pest": table["pest"].astype(str).str.strip().str.lower(),
            "severity": table["severity"].astype(str).str.strip().str.lower(),
            "officer": _text(table, "officer"),
            "note": _text(table, "note"),
        }
    )
    report = table["report_date"].fillna(table["date"]) if "report_date" in table else table["date"]
    records.insert(2, "report_date", _days(report, path, "report_date"))
    _check(records, path, known=set(known_parcels), pests=list(pests), today=today)
    return records.assign(source=f"feedback:{path.name}")[list(STORE_COLUMNS)]


def import_feedback(records: pd.DataFrame, store: Path) -> FeedbackImport:
    """Append ``records`` to ``store`` (created if needed), never changing what it holds."""
    existing = read_store(store)
    known = existing[_KEY].drop_duplicates()
    merged = records.merge(known, on=_KEY, how="left", indicator=True)
    new = records.loc[(merged["_merge"] == "left_only").to_numpy()]
    contradicting = new.merge(
        existing[["parcel_id", "survey_date", "pest", "severity"]],
        on=["parcel_id", "survey_date", "pest"],
        suffixes=("", "_before"),
    )
    differs = contradicting["severity"] != contradicting["severity_before"]
    contradicted = contradicting.loc[differs, ["parcel_id", "survey_date", "pest"]]
    if len(new):
        with atomic_path(store) as temporary:
            pd.concat([existing, new], ignore_index=True).to_parquet(temporary, index=False)
    return FeedbackImport(
        store=store,
        added=len(new),
        already_there=len(records) - len(new),
        contradicting=len(contradicted.drop_duplicates()),
    )


def read_store(store: Path) -> pd.DataFrame:
    """The feedback store's records (an empty table before the first import)."""
    if not store.exists():
        return pd.DataFrame({name: pd.Series(dtype=object) for name in STORE_COLUMNS}).astype(
            {"survey_date": "datetime64[ns]", "report_date": "datetime64[ns]"}
        )
    try:
        table = pd.read_parquet(store)
    except Exception as error:
        raise SourceError(
            f"cannot read the feedback store {store}: {error}; restore it from a backup"
        ) from error
    require_columns(table, STORE_COLUMNS, str(store))
    return table


def _text(table: pd.DataFrame, column: str) -> pd.Series:
    """An optional text column, empty where absent."""
    if column not in table:
        return pd.Series("", index=table.index)
    return table[column].fillna("").astype(str)


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise SourceError(f"{path} does not exist or is not a file; pass the officers' file")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, encoding="utf-8-sig", dtype=str)
    except Exception as error:
        raise SourceError(f"cannot read {path} ({error}); give a CSV or Parquet file") from error


def _days(values: pd.Series, path: Path, column: str) -> pd.Series:
    days = pd.to_datetime(values, errors="coerce", format="mixed").dt.normalize()
    bad = values[days.isna()]
    if len(bad):
        raise DataError(
            f"{path}: column {column} has values that are not dates in rows "
            f"{_rows(bad.index)} (e.g. {str(bad.iloc[0])!r}); write dates as YYYY-MM-DD"
        )
    return days.astype("datetime64[ns]")


def _check(
    records: pd.DataFrame, path: Path, *, known: set[str], pests: list[str], today: dt.date
) -> None:
    checks = (
        (~records["parcel_id"].isin(known), "parcel ids that are not in the parcel file"),
        (~records["pest"].isin(pests), f"pests other than {', '.join(pests)}"),
        (~records["severity"].isin(list(SEVERITY_LEVELS)), "severities other than none, light, "
         "medium, heavy"),
        (records["survey_date"] > pd.Timestamp(today), f"visit dates after today ({today})"),
        (records["report_date"] < records["survey_date"], "a report date before the visit"),
    )  # fmt: skip
    for bad, what in checks:
        if bad.any():
            first = records.loc[bad].iloc[0]
            raise DataError(
                f"{path}: rows {_rows(records.index[bad])} have {what} (e.g. parcel "
                f"{first['parcel_id']!r}, pest {first['pest']!r}, severity "
                f"{first['severity']!r}); fix the file and import it again"
            )


def _rows(index: pd.Index) -> str:
    """File row numbers (the header is row 1) of the first few rows."""
    rows = [str(int(position) + 2) for position in list(index)[:5]]
    return ", ".join(rows) + ("…" if len(index) > 5 else "")
