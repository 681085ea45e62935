"""Reading past weather forecast runs: a good table (CSV, Parquet, the simulator's file) reads as
typed rows; each bad one stops with a message naming the file, the column and what to do."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pestcast.core.errors import ConfigError, DataError, SourceError
from pestcast.flows.config import DEFAULT_CONFIG, TableSourceConfig, check_config_paths, load_config
from pestcast.flows.weather_forecasts import (
    FORECAST_TABLE_COLUMNS,
    configured_weather_forecasts,
    read_weather_forecasts,
)
from pestcast.simulator import DemoSettings, generate_demo_region

COMMUNES = ("Vĩnh Trạch", "Định Thành")


def runs(issued: tuple[str, ...] = ("2024-06-01", "2024-06-02"), leads: int = 3) -> pd.DataFrame:
    rows = [
        {
            "issued": day,
            "valid_date": (pd.Timestamp(day) + pd.Timedelta(days=lead)).strftime("%Y-%m-%d"),
            "lead_days": lead,
            "commune": commune,
            "tmin_c": 24.5,
            "tmax_c": 32.0 + lead / 10,
            "rh_mean_pct": 82.0,
            "rh_max_pct": 95.0,
            "rain_mm": 2.5 * lead,
        }
        for day in issued
        for commune in COMMUNES
        for lead in range(1, leads + 1)
    ]
    return pd.DataFrame(rows)


def write(table: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("name", ["runs.csv", "runs.parquet"])
def test_a_valid_table_reads_as_typed_sorted_rows(tmp_path: Path, name: str) -> None:
    table = runs().iloc[::-1]
    forecasts = read_weather_forecasts(write(table, tmp_path / name), known_communes=COMMUNES)
    assert list(forecasts.columns) == [*FORECAST_TABLE_COLUMNS, "rh_mean_pct", "rh_max_pct"]
    assert forecasts["issued"].dtype == "datetime64[ns]"
    assert forecasts["lead_days"].dtype == np.int64
    assert forecasts["issued"].is_monotonic_increasing
    assert forecasts.iloc[0].to_dict() == {
        "issued": pd.Timestamp("2024-06-01"),
        "valid_date": pd.Timestamp("2024-06-02"),
        "lead_days": 1,
        "commune": "Vĩnh Trạch",
        "tmin_c": 24.5,
        "tmax_c": 32.1,
        "rain_mm": 2.5,
        "rh_mean_pct": 82.0,
        "rh_max_pct": 95.0,
    }


def test_zoned_run_times_become_local_days_and_date_means_valid_date(tmp_path: Path) -> None:
    table = runs(("2024-06-01",), leads=1).rename(columns={"valid_date": "date"})
    table["issued"] = ["2024-06-01T00:00:00Z", "2024-05-31T18:00:00Z"]  # 07:00 and 01:00 local
    table["lead_days"] = [1, 1]
    table["date"] = ["2024-06-02", "2024-06-02"]
    forecasts = read_weather_forecasts(write(table, tmp_path / "zoned.csv"))
    assert set(forecasts["issued"]) == {pd.Timestamp("2024-06-01")}
    without_humidity = runs().drop(columns=["rh_mean_pct", "rh_max_pct"])
    read = read_weather_forecasts(write(without_humidity, tmp_path / "dry.parquet"))
    assert list(read.columns) == list(FORECAST_TABLE_COLUMNS)


def _set(column: str, row: int, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(table: pd.DataFrame) -> pd.DataFrame:
        table = table.astype({column: object})
        table.loc[row, column] = value
        return table

    return edit


BAD_TABLES = {
    "missing column": (
        lambda t: t.drop(columns="rain_mm"),
        r"lacks column\(s\) rain_mm",
    ),
    "not a date": (
        _set("issued", 2, "June 1st"),
        r"column issued: 1 of 12 rows wrong, first at line 4: 'June 1st' is not a date",
    ),
    "lead does not match the dates": (
        _set("lead_days", 1, 5),
        r"column lead_days: .*line 3: 5 is not valid_date − issued .* swapped",
    ),
    "lead 0, the issue day": (
        lambda t: t.assign(valid_date=t["issued"], lead_days=0),
        r"column lead_days: 12 of 12 rows wrong.*outside 1…16 days; .*drop lead 0",
    ),
    "kelvin": (
        _set("tmax_c", 0, 305.2),
        r"column tmax_c: .*305.2 is outside -10…50 °C; check the unit",
    ),
    "fraction humidity": (
        lambda t: t.assign(rh_mean_pct=0.82, rh_max_pct=0.95),
        r"column rh_mean_pct: .*a fraction, not percent; multiply by 100",
    ),
    "swapped temperatures": (
        lambda t: t.assign(tmin_c=t["tmax_c"], tmax_c=t["tmin_c"]),
        r"column tmin_c: .*is above tmax_c of the same row",
    ),
    "repeated run row": (
        lambda t: pd.concat([t, t.iloc[[4]]], ignore_index=True),
        r"column lead_days: 1 of 13 rows wrong, first at line 14: 2 repeats a row of the same run",
    ),
    "a parcel commune without forecasts": (
        lambda t: t[t["commune"] != "Định Thành"],
        r"column commune: no forecasts for 1 commune\(s\) of the parcels, e.g. 'Định Thành'; "
        r"add their forecast runs .* or remove sources.weather_forecasts",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_bad_tables_name_file_column_and_fix(tmp_path: Path, case: str) -> None:
    edit, message = BAD_TABLES[case]
    path = write(edit(runs()), tmp_path / "runs.csv")
    with pytest.raises(DataError, match=message) as caught:
        read_weather_forecasts(path, known_communes=COMMUNES)
    assert str(caught.value).startswith(str(path))


def test_unreadable_or_absent_files_are_source_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"does not exist; check sources.weather_forecasts"):
        read_weather_forecasts(tmp_path / "none.parquet")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(SourceError, match="is it a CSV or Parquet table"):
        read_weather_forecasts(broken)


def test_config_key_is_optional_and_its_path_is_checked(tmp_path: Path) -> None:
    config = load_config(DEFAULT_CONFIG, check_paths=False)
    assert config.sources.weather_forecasts == TableSourceConfig(
        path=Path("data/demo/weather_forecasts.parquet")
    )
    sources = config.sources.model_copy(update={"weather_forecasts": None})
    assert configured_weather_forecasts(config.model_copy(update={"sources": sources}), []) is None
    missing = TableSourceConfig(path=tmp_path / "gone.parquet")
    sources = config.sources.model_copy(update={"weather_forecasts": missing})
    with pytest.raises(ConfigError, match=r"key 'sources.weather_forecasts.path': .*gone.parquet"):
        check_config_paths(config.model_copy(update={"sources": sources}), tmp_path / "x.yaml")


def test_the_simulated_region_file_reads_through_the_config(tmp_path: Path) -> None:
    settings = DemoSettings(
        seed=2, n_parcels=20, start=dt.date(2022, 3, 1), end=dt.date(2022, 3, 31)
    )
    generate_demo_region(tmp_path, settings, max_workers=1)
    config = load_config(DEFAULT_CONFIG, check_paths=False)
    source = TableSourceConfig(path=tmp_path / "weather_forecasts.parquet")
    sources = config.sources.model_copy(update={"weather_forecasts": source})
    parcels = pd.read_parquet(tmp_path / "weather.parquet")["commune"].unique()
    forecasts = configured_weather_forecasts(
        config.model_copy(update={"sources": sources}), parcels
    )
    assert forecasts is not None
    assert forecasts["lead_days"].between(1, 14).all()
    assert forecasts["issued"].max() == pd.Timestamp("2022-03-31")
