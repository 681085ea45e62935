"""A province every week: the weekly forecast of 20,000, 100,000 and 500,000 parcels.

Run from the repository root, after ``make demo`` (the province is scored with the demo's models,
whose features it has): ``.venv/bin/python bench/scale.py [--parcels 20000,100000,500000]``.

For each size, a synthetic province (``bench/_province.py``: strip fields of 0.2–3 ha at the
density of 500,000 parcels on one full Sentinel-2 tile, 150 days of cached observations, weather,
surveys) is written with a config, as if ``pestcast fetch`` had run. Then, each in a fresh
process, the weekly forecast from the cached observations is timed stage by stage — features of
the newest date (``features_flow(latest_only=True)``), scoring and publishing
(``forecast_flow(latest_only=True)``: predict, reasons, GeoJSON, map page, scouting list) and the
officers' export (GeoPackage of the medium and high warnings) — with the process's peak RSS
(psutil, sampled every 50 ms). A Prefect server is started once for all of them and its own memory
is not counted. Writes ``bench/results/scale.md`` and ``scale.json`` (overwritten); ``--note``
adds a line (e.g. that the machine was shared).

Targets (issue 9): the weekly forecast of 500,000 parcels in ≤ 5 min and ≤ 4 GB peak RSS on
2 cores, time and memory growing linearly with parcels.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from _province import synthetic_province, write_province  # noqa: E402
from feature_table_speed import commit, machine  # noqa: E402

REQUIRES = ["registry/demo/current", "config/demo.yaml"]
RESULTS = ROOT / "bench" / "results" / "scale.md"
SIZES = (20_000, 100_000, 500_000)
FORECAST_DATE = dt.date(2024, 12, 30)  # a Monday: the demo's forecast weekday
HISTORY_DAYS = 150  # the demo config's imagery lookback
TARGET_SECONDS, TARGET_GB = 300, 4.0
EXPLAIN = ("at_risk", "none")
"""Reasons for the medium and high parcels (the default), and none: what TreeSHAP costs."""


def prepare(n_parcels: int, folder: Path) -> Path:
    """Write the province, its cached observations, a config and a copy of the demo's models."""
    if folder.exists():
        shutil.rmtree(folder)
    province = synthetic_province(n_parcels, forecast_date=FORECAST_DATE, history_days=HISTORY_DAYS)
    paths = write_province(province, folder / "data")
    work = folder / "work"
    work.mkdir(parents=True)
    province.observations.to_parquet(work / "parcel_observations.parquet", index=False)
    scenes = province.observations.drop_duplicates("scene_id")
    log = [
        {"solar_day": f"{acquired:%Y-%m-%d}", "items": [scene], "status": "read"}
        for scene, acquired in zip(scenes["scene_id"], scenes["acquired_utc"], strict=True)
    ]
    (work / "scenes.json").write_text(json.dumps(log), encoding="utf-8")
    shutil.copytree(ROOT / "registry" / "demo", folder / "registry", symlinks=True)
    catalog = folder / "data" / "stac" / "catalog.json"
    catalog.parent.mkdir(parents=True)
    catalog.write_text(
        json.dumps(
            {
                "type": "Catalog",
                "id": "empty",
                "stac_version": "1.0.0",
                "description": "no imagery: the observations are cached",
                "links": [],
            }
        ),
        encoding="utf-8",
    )
    raw = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text(encoding="utf-8"))
    raw["region"]["name"] = f"province-{n_parcels}"
    raw["sources"] = {
        "stac": {**raw["sources"]["stac"], "url": str(catalog)},
        "parcels": {"path": str(paths["parcels"]), "layer": "parcels"},
        "weather": {"path": str(paths["weather"])},
        "surveys": {"path": str(paths["surveys"])},
    }
    start = FORECAST_DATE - dt.timedelta(days=HISTORY_DAYS)
    raw["imagery"].update(start=start.isoformat(), end=FORECAST_DATE.isoformat())
    raw["paths"] = {
        "work_dir": str(work),
        "output_dir": str(folder / "outputs"),
        "model_registry": str(folder / "registry"),
    }
    config = folder / "province.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return config


def with_explain(config: Path, explain: str) -> Path:
    """A copy of ``config`` that gives reasons to the parcels ``forecast.explain`` says."""
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw["forecast"]["explain"] = explain
    variant = config.with_name(f"province-explain-{explain}.yaml")
    variant.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return variant


WEEKLY = """
import json, sys, time
from pathlib import Path
from pestcast.flows.config import load_config
from pestcast.flows.export import export_warnings
from pestcast.flows.pipeline import features_flow, forecast_flow

config = load_config(Path(sys.argv[1]))
seconds = {}
started = time.perf_counter()
features_flow(config, latest_only=True)
seconds["features"] = time.perf_counter() - started
started = time.perf_counter()
published = forecast_flow(config, latest_only=True)
seconds["forecast"] = time.perf_counter() - started
started = time.perf_counter()
out = config.paths.output_dir / "warnings.gpkg"
summary = export_warnings(Path(published["risk_map"]), out, fmt="gpkg", min_class="medium",
                          overwrite=True)
seconds["export"] = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "warnings": summary.rows,
                  "classes": published["risk_classes"]}))
"""


def _peak_rss(pid: int, peak: list[int], stop: threading.Event) -> None:
    import psutil

    process = psutil.Process(pid)
    while not stop.is_set():
        try:
            peak[0] = max(peak[0], process.memory_info().rss)
        except psutil.Error:
            return
        stop.wait(0.05)


def timed_weekly(config: Path, env: dict[str, str]) -> dict[str, Any]:
    """One weekly forecast in a fresh process: stage seconds, wall, CPU and peak RSS."""
    started = time.perf_counter()
    before = os.times()
    process = subprocess.Popen(
        [sys.executable, "-c", WEEKLY, str(config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak, stop = [0], threading.Event()
    sampler = threading.Thread(target=_peak_rss, args=(process.pid, peak, stop), daemon=True)
    sampler.start()
    out, err = process.communicate()
    stop.set()
    sampler.join()
    after = os.times()
    if process.returncode != 0:
        raise SystemExit(f"weekly forecast of {config} failed:\n{err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return result | {
        "wall_s": time.perf_counter() - started,
        "cpu_s": cpu,
        "peak_rss_gb": peak[0] / 2**30,
    }


class PrefectServer:
    """One local Prefect server for every measured run (its start-up is not the province's)."""

    def __init__(self, home: Path, port: int = 4291) -> None:
        self.env = os.environ | {
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = home / "server.log"

    def __enter__(self) -> PrefectServer:
        prefect = Path(sys.executable).with_name("prefect")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        import urllib.request

        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/health", timeout=2)
                return self
            except OSError:
                time.sleep(1)
        raise SystemExit(f"the Prefect server did not start within 3 minutes; see {self.log_path}")

    def __exit__(self, *_: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parcels", default=",".join(map(str, SIZES)))
    parser.add_argument("--folder", type=Path, default=ROOT / "work" / "bench-scale")
    parser.add_argument("--note", default="")
    parser.add_argument(
        "--reuse", action="store_true", help="keep a province already written in --folder"
    )
    args = parser.parse_args()
    sizes = [int(part) for part in args.parcels.split(",")]
    rows = []
    with PrefectServer(args.folder / "prefect-home") as server:
        for n_parcels in sizes:
            started = time.perf_counter()
            folder = args.folder / str(n_parcels)
            config = folder / "province.yaml"
            if not (args.reuse and config.is_file()):
                config = prepare(n_parcels, folder)
            prepared = time.perf_counter() - started
            print(f"{n_parcels:,} parcels prepared in {prepared:.0f} s", flush=True)
            for explain in EXPLAIN:
                run = timed_weekly(with_explain(config, explain), server.env)
                print(json.dumps(run), flush=True)
                rows.append({"parcels": n_parcels, "explain": explain} | run)
    write_results(rows, args.note)


def write_results(rows: list[dict[str, Any]], note: str) -> None:
    RESULTS.with_suffix(".json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    lines = [
        "# A province every week",
        "",
        "The weekly forecast from cached observations (features of the newest date, scoring with",
        "reasons for the medium and high parcels, publishing, a GeoPackage export) of a synthetic",
        "province, each size in a fresh process; written by `.venv/bin/python bench/scale.py`",
        "(see its docstring). Targets: 500,000 parcels in ≤ 300 s and ≤ 4 GB on 2 cores.",
        "",
        f"measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · commit {commit()} · {machine()}",
        "",
    ]
    if note:
        lines += [f"Note: {note}", ""]
    lines += [
        "| parcels | reasons for | features s | forecast s | export s | wall s | CPU s "
        "| peak RSS GB | µs / parcel | KB / parcel | warnings |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        seconds = row["seconds"]
        lines.append(
            f"| {row['parcels']:,} | {row['explain']} | {seconds['features']:.1f} "
            f"| {seconds['forecast']:.1f} "
            f"| {seconds['export']:.1f} | {row['wall_s']:.1f} | {row['cpu_s']:.1f} "
            f"| {row['peak_rss_gb']:.2f} | {1e6 * row['wall_s'] / row['parcels']:.0f} "
            f"| {2**20 * row['peak_rss_gb'] / row['parcels']:.1f} | {row['warnings']:,} |"
        )
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
