"""The fetch on a Dask cluster: a LocalCluster of 1 worker against one of 2 (1 thread each).

Run from the repository root: ``.venv/bin/python bench/dask_speedup.py [--days 8]``. Uses the
synthetic full Sentinel-2 tile and the 100,000 parcels of ``bench/fetch_day.py`` (written under
``work/bench/`` on the first run): ``--days`` solar days that read the same files under other
item ids and dates, so that every day is computed (the observation cache is keyed by item). A
Prefect flow hands each solar day to ``observe_scene_block`` (the fetch's task) through
prefect-dask's ``DaskTaskRunner``, as ``runner: dask`` does; the clock runs from the first
submission to the last result, so the cluster's start-up is not counted. Each cluster size runs
in a fresh process; a Prefect server started once serves both. Writes
``bench/results/dask_speedup.md`` and ``.json`` (overwritten).

Target (issue 9): ≥ 1.6× faster with 2 workers than with 1 on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from feature_table_speed import commit, machine
from fetch_day import MASK, OVERHANG_M, prepared, scene
from scale import PrefectServer
from zonal import CRS, N_PARCELS, TILE_PX, WORK

RESULTS = Path(__file__).parent / "results" / "dask_speedup.md"
TARGET = 1.6
WORKERS = (1, 2)
READS = (4, 1)
"""Band files a task reads at once: the default (``sources.stac.max_concurrent_reads``), and one,
where a task alone keeps about one core busy (a strip is still read while one is reduced)."""
PIN_WORKERS = Path(__file__).parent / "_pin_worker.py"
"""A worker preload that gives each worker a core of its own, as if each were its own machine."""
SETUPS = [
    *(
        {"reads": reads, "workers": workers, "pinned": False}
        for reads in READS
        for workers in WORKERS
    ),
    *({"reads": READS[0], "workers": workers, "pinned": True} for workers in WORKERS),
]
INDICES = ("ndvi", "evi", "ndre", "lswi")


def child(n_workers: int, n_days: int, reads: int, *, pinned: bool) -> dict[str, Any]:
    """Time ``n_days`` solar days on a LocalCluster of ``n_workers`` single-thread workers, each
    task reading ``reads`` band files at once; ``pinned``: each worker on a core of its own."""
    import geopandas as gpd
    from prefect import flow
    from prefect_dask.task_runners import DaskTaskRunner

    from pestcast.flows.fetch_cache import DayCache
    from pestcast.flows.label_cache import cached_parcel_labels
    from pestcast.flows.observations import ObservationSettings
    from pestcast.flows.raster_read import analysis_grid
    from pestcast.flows.tasks import ParcelRaster, observe_scene_block

    paths, parcel_file = prepared(TILE_PX, N_PARCELS)
    table = gpd.read_parquet(parcel_file)
    west, south, east, north = table.total_bounds
    grid = analysis_grid(
        (west - OVERHANG_M[0], south, east, north + OVERHANG_M[1]), crs=CRS, resolution_m=10.0
    )
    ids = tuple(table["parcel_id"])
    labels = cached_parcel_labels(
        list(ids),
        table.geometry.to_numpy(),
        grid,
        inward_buffer_m=5.0,
        min_pixels_after_buffer=3,
        cache_dir=WORK / "fetch_day_labels",
    )
    raster = ParcelRaster(grid, labels.labels, labels.fingerprint, labels_file=labels.path)
    first = scene(paths)
    first = replace(first, access=replace(first.access, max_concurrent_reads=reads))
    days = [
        [
            replace(
                first,
                item_id=f"{first.item_id}_{day}",
                acquired_utc=first.acquired_utc + dt.timedelta(days=5 * day),
                available_utc=first.available_utc + dt.timedelta(days=5 * day),
                solar_day=first.solar_day + dt.timedelta(days=5 * day),
            )
        ]
        for day in range(n_days)
    ]
    runner = DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": n_workers,
            "threads_per_worker": 1,
            "memory_limit": "8GiB",
            "processes": True,
            **({"preload": [str(PIN_WORKERS)]} if pinned else {}),
        },
    )
    with tempfile.TemporaryDirectory(dir=WORK) as folder:
        cache = DayCache(
            observation_dir=Path(folder),
            pixel_dir=None,
            grid=grid,
            settings=ObservationSettings(INDICES, MASK, raster.fingerprint),
            parcel_ids=ids,
        )

        @flow(name="bench-dask-speedup", task_runner=runner)
        def observe_days() -> tuple[float, float]:
            cpu_before = workers_cpu_seconds()
            started = time.perf_counter()
            futures = [
                observe_scene_block.submit([day], raster, cache, on_read_error="raise")
                for day in days
            ]
            outcomes = [outcome for future in futures for outcome in future.result()]
            assert all(outcome.status == "read" for outcome in outcomes), outcomes
            return time.perf_counter() - started, workers_cpu_seconds() - cpu_before

        seconds, cpu_seconds = observe_days()
    return {
        "workers": n_workers,
        "days": n_days,
        "reads": reads,
        "pinned": pinned,
        "seconds": seconds,
        "worker_cpu_s": cpu_seconds,
    }


def workers_cpu_seconds() -> float:
    """User + system CPU seconds so far of this process's descendants (the cluster's nannies
    and workers)."""
    import psutil

    total = 0.0
    for process in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--reads", type=int, default=4, help=argparse.SUPPRESS)
    parser.add_argument("--pinned", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.days, args.reads, pinned=args.pinned)))
        return
    prepared(TILE_PX, N_PARCELS)
    runs = []
    with PrefectServer(WORK / "dask-prefect-home", port=4292) as server:
        for setup in SETUPS:
            n_workers, reads, pinned = setup["workers"], setup["reads"], setup["pinned"]
            print(f"{n_workers} worker(s), {reads} read(s) at once, pinned: {pinned} …", flush=True)
            command = [sys.executable, __file__, "--days", str(args.days), "--reads", str(reads)]
            done = subprocess.run(
                [*command, *(["--pinned"] if pinned else []), "--child", str(n_workers)],
                capture_output=True,
                text=True,
                env=server.env | {"PYTHONPATH": str(Path(__file__).parent)},
                check=False,
            )
            if done.returncode != 0:
                raise SystemExit(f"{n_workers} worker(s) failed:\n{done.stderr[-3000:]}")
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(runs[-1], flush=True)
    write_results(runs)


def write_results(runs: list[dict[str, Any]]) -> None:
    RESULTS.with_suffix(".json").write_text(json.dumps(runs, indent=1), encoding="utf-8")
    lines = [
        "# The fetch on a Dask LocalCluster: 1 worker against 2",
        "",
        f"{runs[0]['days']} solar days of a synthetic full Sentinel-2 tile (10980 × 10980 px,"
        f" {N_PARCELS:,} parcels), one `observe_scene_block` task per day through prefect-dask's"
        " `DaskTaskRunner` on a `LocalCluster` of single-thread worker processes; start-up not"
        " counted. Written by `.venv/bin/python bench/dask_speedup.py` (overwrites this file).",
        "",
        f"measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · commit {commit()} ·"
        f" {machine()} · load average {os.getloadavg()[0]:.1f} at the end",
        "",
        "| band files read at once by a task | each worker on a core of its own | workers"
        " | seconds | seconds per day | speed-up | workers' CPU s per day |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for reads, pinned in dict.fromkeys((run["reads"], run["pinned"]) for run in runs):
        pair = [run for run in runs if (run["reads"], run["pinned"]) == (reads, pinned)]
        one = next(run["seconds"] for run in pair if run["workers"] == 1)
        lines += [
            f"| {reads} | {'yes' if pinned else 'no'} | {run['workers']} | {run['seconds']:.1f} "
            f"| {run['seconds'] / run['days']:.1f} | {one / run['seconds']:.2f}× "
            f"| {run['worker_cpu_s'] / run['days']:.1f} |"
            for run in pair
        ]
    lines += [
        "",
        f"Target: ≥ {TARGET}× with 2 workers on 2 cores. A task already reads its band files on"
        " several threads and reads the next strip while it reduces one, so one worker keeps"
        " both cores busy by itself: a second worker has little left to use. With one read at a"
        " time the second worker's share shows. With each worker pinned to a core of its own"
        " (`bench/_pin_worker.py`, a worker preload), as one worker per single-core machine"
        " would be, the second worker brings its core: that is the speed-up a cluster adds per"
        " machine, less what the two workers share here. The workers' CPU seconds per day show"
        " what a day costs when one core works and when both do.",
    ]
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
