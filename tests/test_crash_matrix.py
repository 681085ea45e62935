"""The crash matrix: kill ``pestcast run`` with SIGKILL at each stage, rerun, lose nothing.

One small simulated region is run twice from the same inputs: once straight through (the
reference), and once killed — the whole process group, Prefect's temporary server included, as a
power cut would — inside the fetch (after the first block of scenes), at the start of the
features, train and forecast stages, and after the first model of the train stage is saved,
each time restarting from what the previous kill left. The last run must then finish and leave
exactly the reference's published bytes, the same tables, no temporary files, and ``latest`` on
a complete publication.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pestcast.flows.config import DEFAULT_CONFIG
from pestcast.flows.publication import sha256_of

pytestmark = pytest.mark.e2e

PESTCAST = str(Path(sys.executable).with_name("pestcast"))
KILL_POINTS = (
    "scenes processed:",  # inside the fetch, after its first block of solar days
    "for flow 'pestcast-features'",
    "for flow 'pestcast-train'",
    " backtest: within-date",  # after the first pest and horizon was backtested
    "for flow 'pestcast-forecast'",
)


def region_config(root: Path, data: Path, name: str) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["region"]["name"] = "crash"
    raw["sources"]["stac"]["url"] = str(data / "stac" / "catalog.json")
    for source, file in (
        ("parcels", "parcels.gpkg"),
        ("weather", "weather.parquet"),
        ("weather_forecasts", "weather_forecasts.parquet"),
        ("surveys", "surveys.parquet"),
    ):
        raw["sources"][source]["path"] = str(data / file)
    raw["sources"]["feedback"]["path"] = str(root / "feedback.parquet")
    raw["sources"]["light_traps"] = {
        "path": str(data / "light_traps.parquet"),
        "stations": str(data / "light_trap_stations.csv"),
    }
    raw["imagery"].update(start="2023-06-01", end="2024-09-30")
    raw["model"]["num_boost_round"] = 60
    raw["model"]["backtest"]["bootstrap_replicates"] = 20
    raw["paths"] = {
        "work_dir": str(root / name / "work"),
        "output_dir": str(root / name / "out"),
        "model_registry": str(root / name / "registry"),
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def run_until(config: Path, trigger: str | None) -> int:
    """Run ``pestcast run``; kill its whole process group when a line contains ``trigger``."""
    child = subprocess.Popen(
        [PESTCAST, "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert child.stdout is not None
    for line in child.stdout:
        if trigger is not None and trigger in line:
            os.killpg(child.pid, signal.SIGKILL)
            break
    child.stdout.close()
    return child.wait(timeout=600)


@pytest.fixture(scope="module")
def regions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("crash-matrix")
    data = root / "data"
    window = ["--start", "2023-06-01", "--end", "2024-09-30"]
    subprocess.run(
        [PESTCAST, "simulate", "--out", str(data), "--parcels", "80", "--seed", "3", *window],
        check=True,
        capture_output=True,
    )
    return region_config(root, data, "reference"), region_config(root, data, "crashed")


def folders(config: Path) -> tuple[Path, Path]:
    """The work folder and the ``latest`` publication of a config."""
    paths = yaml.safe_load(config.read_text(encoding="utf-8"))["paths"]
    return Path(paths["work_dir"]), Path(paths["output_dir"]) / "latest"


def test_killed_at_every_stage_the_rerun_loses_nothing(regions: tuple[Path, Path]) -> None:
    reference, crashed = regions
    assert run_until(reference, None) == 0
    for trigger in KILL_POINTS:
        assert run_until(crashed, trigger) == -signal.SIGKILL, trigger
    assert run_until(crashed, None) == 0

    (expected_work, expected), (work, got) = folders(reference), folders(crashed)
    assert sorted(p.name for p in got.iterdir()) == sorted(p.name for p in expected.iterdir())
    for name in ("risk_map.geojson", "scouting.csv", "map.html", "manifest.json"):
        assert sha256_of(got / name) == sha256_of(expected / name), name
    for table in ("features.parquet", "parcel_observations.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(work / table).sort_values(["parcel_id"], kind="stable"),
            pd.read_parquet(expected_work / table).sort_values(["parcel_id"], kind="stable"),
        )
    debris = [
        path
        for path in [*work.rglob("*"), *got.parent.rglob("*")]
        if path.name.startswith(".staging-") or ".tmp" in path.name or path.suffix == ".corrupt"
    ]
    assert debris == []
