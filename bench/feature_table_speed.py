"""How fast the feature table builds: 2,000 parcels, three years of weekly forecast dates.

Run from the repository root: ``.venv/bin/python bench/feature_table_speed.py``. Builds a random
region (the values are noise; only the sizes matter), times ``build_feature_table`` on it (median
of three runs) and writes the result to ``bench/results/feature_table_speed.md``, overwriting it.
Wall time on a shared machine varies with its load: the CPU time is recorded next to it.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pestcast.features.timeseries import build_feature_table, weekly_forecast_dates

RESULTS = Path(__file__).parent / "results" / "feature_table_speed.md"
N_PARCELS = 2000
N_COMMUNES = 20
FIRST_DATE, LAST_DATE = "2022-01-03", "2024-12-30"  # 157 Mondays
SCENE_INTERVAL_DAYS = 5  # one Sentinel-2 revisit
LOOKBACK_DAYS = 150  # scenes start this long before the first forecast date
N_SURVEYS = 30_000
REPEATS = 3


def synthetic_region(
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Observations, parcels, weather and surveys of a random region (values are noise)."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"AG-{i:05d}" for i in range(N_PARCELS)], dtype=object)
    communes = np.array([f"commune {i % N_COMMUNES}" for i in range(N_PARCELS)], dtype=object)
    parcels = pd.DataFrame(
        {
            "parcel_id": ids,
            "commune": communes,
            "x": rng.uniform(0, 20_000, N_PARCELS),
            "y": rng.uniform(0, 20_000, N_PARCELS),
        }
    )
    first, last = pd.Timestamp(FIRST_DATE), pd.Timestamp(LAST_DATE)
    return (
        _observations(rng, ids, first - pd.Timedelta(days=LOOKBACK_DAYS), last),
        parcels,
        _weather(rng, sorted(set(communes)), first - pd.Timedelta(days=30), last),
        _surveys(rng, ids, first - pd.Timedelta(days=60), last),
    )


def _observations(
    rng: np.random.Generator, ids: np.ndarray, first: pd.Timestamp, last: pd.Timestamp
) -> pd.DataFrame:
    """One observation per parcel and scene; scenes at 10:30 local, available 30 hours later."""
    acquired = pd.date_range(
        first + pd.Timedelta(hours=3, minutes=30), last, freq=f"{SCENE_INTERVAL_DAYS}D", tz="UTC"
    )
    n_rows = len(ids) * len(acquired)
    observations = pd.DataFrame(
        {
            "parcel_id": np.tile(ids, len(acquired)),
            "acquired_utc": np.repeat(acquired, len(ids)),
            "available_utc": np.repeat(acquired + pd.Timedelta(hours=30), len(ids)),
            "n_valid_px": rng.integers(0, 40, n_rows),
        }
    )
    for name in ("ndvi", "evi", "ndre", "lswi"):
        observations[f"{name}_mean"] = rng.uniform(-0.1, 0.9, n_rows).astype(np.float32)
    return observations


def _weather(
    rng: np.random.Generator, communes: list[str], first: pd.Timestamp, last: pd.Timestamp
) -> pd.DataFrame:
    days = pd.date_range(first, last, freq="D")
    weather = pd.DataFrame(
        {"commune": np.repeat(communes, len(days)), "date": np.tile(days, len(communes))}
    )
    for column, low, high in (
        ("tmin_c", 20, 26),
        ("tmax_c", 28, 35),
        ("rh_mean_pct", 60, 95),
        ("rh_max_pct", 80, 100),
        ("rain_mm", 0, 30),
    ):
        weather[column] = rng.uniform(low, high, len(weather))
    return weather


def _surveys(
    rng: np.random.Generator, ids: np.ndarray, first: pd.Timestamp, last: pd.Timestamp
) -> pd.DataFrame:
    span_days = (last - first).days + 1
    surveyed = first + pd.to_timedelta(rng.integers(0, span_days, N_SURVEYS), unit="D")
    return pd.DataFrame(
        {
            "parcel_id": rng.choice(ids, N_SURVEYS),
            "survey_date": surveyed,
            "report_date": surveyed + pd.to_timedelta(rng.integers(0, 6, N_SURVEYS), unit="D"),
            "pest": rng.choice(["bph", "blast"], N_SURVEYS),
            "severity": rng.choice(["none", "light", "medium", "heavy"], N_SURVEYS),
        }
    )


def machine() -> str:
    """Operating system, CPU model and count, and memory of this machine."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        models = [
            line for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        cpu = models[0].split(":", 1)[1].strip() if models else cpu
    try:
        memory = f", {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"
    except (AttributeError, ValueError, OSError):
        memory = ""
    return f"{platform.platform()}; {cpu}, {os.cpu_count()} logical CPUs{memory}"


def commit() -> str:
    """The checked-out commit, with ``-dirty`` if the working tree has changes."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return described.stdout.strip()


def timed_build(
    observations: pd.DataFrame,
    parcels: pd.DataFrame,
    weather: pd.DataFrame,
    surveys: pd.DataFrame,
    dates: pd.DatetimeIndex,
) -> tuple[tuple[int, int], float, float]:
    """The table's shape, and the wall and CPU seconds of one build."""
    wall, cpu = time.perf_counter(), time.process_time()
    table = build_feature_table(observations, parcels, weather, surveys, forecast_dates=dates)
    return table.shape, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    observations, parcels, weather, surveys = synthetic_region()
    dates = weekly_forecast_dates(FIRST_DATE, LAST_DATE)
    n_scenes = observations["acquired_utc"].nunique()
    timings = [timed_build(observations, parcels, weather, surveys, dates) for _ in range(REPEATS)]
    rows, columns = timings[0][0]
    if rows != N_PARCELS * len(dates):
        raise SystemExit(f"expected {N_PARCELS * len(dates)} rows, got {rows}")
    wall = float(np.median([timing[1] for timing in timings]))
    cpu = float(np.median([timing[2] for timing in timings]))
    facts = {
        "measured": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit(),
        "machine": machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "input": (
            f"{N_PARCELS:,} parcels, {len(dates)} weekly forecast dates ({FIRST_DATE} – "
            f"{LAST_DATE}), {n_scenes} scenes ({len(observations):,} observations), "
            f"{N_SURVEYS:,} surveys, {N_COMMUNES} communes of daily weather"
        ),
        "rows": f"{rows:,} × {columns} columns",
        "seconds": f"{wall:.2f} wall, {cpu:.2f} CPU (median of {REPEATS} runs)",
        "rows per second": f"{rows / wall:,.0f}",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report(facts), encoding="utf-8")
    print(f"feature table: {rows:,} rows in {wall:.2f} s ({rows / wall:,.0f} rows/s); {RESULTS}")


def report(facts: dict[str, str]) -> str:
    lines = [
        "# Feature table build speed",
        "",
        f"`build_feature_table` on a random region, timed {REPEATS} times; written by",
        "`.venv/bin/python bench/feature_table_speed.py` (run from the repository root; each run",
        "overwrites this file). Wall time depends on what else the machine is doing.",
        "",
        "| | |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in facts.items()),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
