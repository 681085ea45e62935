"""The fetch of one full-tile solar day (bands, SCL mask, indices, parcel statistics) against a
raw decode of the same files.

Run from the repository root: ``.venv/bin/python bench/fetch_day.py`` (a 10980 × 10980 tile,
100,000 parcels; ``--size 2000 --parcels 3000`` for a quick run). Writes, once, under
``work/bench/`` a synthetic Sentinel-2 L2A item like the real ones: nine COGs (B02 B03 B04 B08
at 10 m; B05 B8A B11 B12 and SCL at 20 m; uint16 DN with baseline-04 offset, 1024-px blocks,
DEFLATE; a nodata wedge at the swath edge, clouds, shadows and water in SCL). Then, each in a
process of its own: a raw ``rasterio`` decode of the files the fetch reads (one after another,
and with as many threads as the fetch), and ``flows.observations.observe_solar_day`` with every
catalogue index, on a grid reaching beyond the tile (so the tile's blocks and the strips do not
line up) and the label raster from the work dir's cache; a second time with ``GDAL_CACHEMAX``
at 256 MB, to show the share of GDAL's block cache in the peak memory. Writes
``bench/results/fetch_day.md`` and ``fetch_day.json`` (overwriting them) unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import rasterio
from feature_table_speed import commit, machine
from zonal import (
    CRS,
    LOAD_FORMAT,
    N_PARCELS,
    TILE_PX,
    WORK,
    run_child as measure_in_child,
    synthetic_dn,
    synthetic_parcels,
    timed,
    usage,
    write_cog as write_band,
)

from pestcast.features.indices import INDEX_NAMES
from pestcast.flows.label_cache import cached_parcel_labels
from pestcast.flows.observations import ObservationSettings, observe_solar_day, required_bands
from pestcast.flows.raster_read import analysis_grid
from pestcast.flows.stac_search import SceneRef
from pestcast.flows.strip_stats import STRIP_ROWS

RESULTS = Path(__file__).parent / "results"
TARGET = 2.0
"""The fetch of a solar day may take at most this × the raw decode of its files (wall time)."""
FILES = {
    "blue": ("B02", 10, 900.0),
    "green": ("B03", 10, 1200.0),
    "red": ("B04", 10, 1100.0),
    "nir": ("B08", 10, 3800.0),
    "rededge1": ("B05", 20, 1700.0),
    "nir08": ("B8A", 20, 3900.0),
    "swir16": ("B11", 20, 2600.0),
    "swir22": ("B12", 20, 1800.0),
    "scl": ("SCL", 20, 0.0),
}
"""Logical band → file stem, resolution (m) and typical DN (including the +1000 offset)."""
MASK = (0, 1, 3, 8, 9, 10)
OVERHANG_M = (370.0, 5_010.0)
"""How far the region's grid reaches west and north beyond the tile (a province straddles
tiles): 37 and 501 pixels, so the tile's 1024-px blocks and the strips do not line up."""
WORKERS = 4
"""Reads at once, the default ``sources.stac.max_concurrent_reads``."""
REPEATS = range(3)
"""Each timing is the median of this many runs in its process (the machine is shared)."""


def synthetic_scl(size: int, seed: int) -> npt.NDArray[np.uint8]:
    """Vegetation and bare soil, with clouds, their shadows and water in patches of ~1–3 km."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((size // 100 + 2, size // 100 + 2))
    patches = np.repeat(np.repeat(coarse, 100, axis=0), 100, axis=1)[:size, :size]
    scl = np.where(rng.random((size, size)) < 0.8, 4, 5).astype(np.uint8)
    scl[patches > 0.88] = 9
    scl[(patches > 0.83) & (patches <= 0.88)] = 8
    scl[(patches > 0.80) & (patches <= 0.83)] = 3
    scl[patches < 0.05] = 6
    return scl


def swath_edge(size: int) -> npt.NDArray[np.bool_]:
    """A nodata wedge over the west ~10 % of the tile, as at the edge of an orbit's swath."""
    rows, cols = np.ogrid[:size, :size]
    return cols < (0.2 * size) * (1 - rows / size)


def prepared(size_10m: int, n_parcels: int) -> tuple[dict[str, Path], Path]:
    folder = WORK / f"fetch_day_{size_10m}"
    paths = {band: folder / f"{stem}.tif" for band, (stem, _, _) in FILES.items()}
    for seed, (band, (_, resolution, level)) in enumerate(FILES.items()):
        if paths[band].exists():
            continue
        print(f"writing {paths[band]} …", flush=True)
        size = size_10m * 10 // resolution
        values = (
            synthetic_scl(size, 7) if band == "scl" else synthetic_dn(size, 10 + seed, base=level)
        )
        values[swath_edge(size)] = 0
        write_band(paths[band], values, float(resolution))
    parcels = WORK / f"zonal_parcels_{size_10m}_{n_parcels}.parquet"
    if not parcels.exists():
        synthetic_parcels(n_parcels, size_10m, seed=2).to_parquet(parcels)
    return paths, parcels


def scene(paths: dict[str, Path]) -> SceneRef:
    acquired = dt.datetime(2025, 3, 14, 3, 25, tzinfo=dt.UTC)
    return SceneRef(
        item_id="S2B_48PWS_20250314_0_L2A",
        collection="sentinel-2-l2a",
        acquired_utc=acquired,
        available_utc=acquired + dt.timedelta(hours=5),
        processing_baseline="05.11",
        boa_offset_dn=-1000.0,
        cloud_cover=12.0,
        asset_hrefs={band: str(path) for band, path in paths.items()},
        crs=CRS,
        platform="sentinel-2b",
        solar_day=acquired.date(),
    )


def read_files(options: argparse.Namespace) -> list[str]:
    return list(required_bands(options.indices))


def child_baseline(
    _paths: dict[str, Path], _parcels: Path, _o: argparse.Namespace
) -> dict[str, Any]:
    return {"baseline": {"wall_s": 0.0, "cpu_s": usage()[0]}}


def child_raw(
    paths: dict[str, Path], _parcels: Path, options: argparse.Namespace
) -> dict[str, Any]:
    def decode(band: str) -> int:
        with rasterio.open(paths[band]) as dataset:
            return int(dataset.read(1)[::97, ::89].sum())

    runs = [timed(lambda: [decode(band) for band in read_files(options)])[1] for _ in REPEATS]
    return {"raw": median_run(runs)}


def child_raw_threads(
    paths: dict[str, Path], _parcels: Path, options: argparse.Namespace
) -> dict[str, Any]:
    def decode(band: str) -> int:
        with rasterio.open(paths[band]) as dataset:
            return int(dataset.read(1)[::97, ::89].sum())

    with ThreadPoolExecutor(WORKERS) as pool:
        runs = [timed(lambda: list(pool.map(decode, read_files(options))))[1] for _ in REPEATS]
    return {"raw_threads": median_run(runs)}


def child_pestcast(
    paths: dict[str, Path], parcels: Path, options: argparse.Namespace
) -> dict[str, Any]:
    table = gpd.read_parquet(parcels)
    west, south, east, north = table.total_bounds
    region = (west - OVERHANG_M[0], south, east, north + OVERHANG_M[1])
    grid = analysis_grid(region, crs=CRS, resolution_m=10.0)
    ids = table["parcel_id"].tolist()
    labels, took_labels = timed(
        lambda: cached_parcel_labels(
            ids,
            table.geometry.to_numpy(),
            grid,
            inward_buffer_m=5.0,
            min_pixels_after_buffer=3,
            cache_dir=WORK / "fetch_day_labels",
        )
    )
    settings = ObservationSettings(tuple(options.indices), MASK, labels.fingerprint)
    runs = []
    with tempfile.TemporaryDirectory(dir=WORK) as folder:
        for run in REPEATS:
            path = Path(folder) / f"day{run}.parquet"  # a new file each run: no cache hit
            stats, took = timed(
                lambda path=path: observe_solar_day(
                    [scene(paths)], grid, labels.labels, ids, settings=settings, cache_path=path
                )
            )
            runs.append(took)
    return {
        "labels": {**took_labels, "built": labels.built},
        "fetch": median_run(runs),
        "grid": [grid.shape[0], grid.shape[1], list(grid.transform)[:6]],
        "parcels_with_clear_pixels": int((stats["n_valid_px"] > 0).sum()),
        "rows": len(stats),
    }


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run of median wall time, with how many there were."""
    ranked = sorted(runs, key=lambda run: run["wall_s"])
    return {**ranked[(len(ranked) - 1) // 2], "runs": len(ranked)}


CHILDREN = {
    "baseline": child_baseline,
    "raw": child_raw,
    "raw_threads": child_raw_threads,
    "pestcast": child_pestcast,
    "pestcast_small_cache": child_pestcast,
}
SMALL_CACHE = {"GDAL_CACHEMAX": "256"}
"""Environment of ``pestcast_small_cache``: GDAL's block cache at 256 MB instead of 5 % of RAM."""


def run_child(kind: str, argv: Sequence[str]) -> dict[str, Any]:
    extra = SMALL_CACHE if kind == "pestcast_small_cache" else {}
    return measure_in_child(kind, argv, script=__file__, env=extra)


def report(
    results: dict[str, dict[str, Any]], options: argparse.Namespace, paths: dict[str, Path]
) -> tuple[str, dict[str, Any]]:
    raw = results["raw"]["raw"]["wall_s"]
    fetch = results["pestcast"]["fetch"]
    ratio = fetch["wall_s"] / raw
    read = read_files(options)
    size_mb = sum(paths[band].stat().st_size for band in read) / 1e6
    rows, cols, _ = results["pestcast"]["grid"]
    labels = results["pestcast"]["labels"]
    fetch_small = results["pestcast_small_cache"]["fetch"]
    numbers = {
        "raw_decode_s": raw,
        "raw_decode_threads_s": results["raw_threads"]["raw_threads"]["wall_s"],
        "fetch_s": fetch["wall_s"],
        "fetch_vs_raw": ratio,
        "fetch_small_cache_vs_raw": fetch_small["wall_s"] / raw,
        "fetch_vs_raw_threads": fetch["wall_s"] / results["raw_threads"]["raw_threads"]["wall_s"],
        "target_met": ratio <= TARGET,
        "peak_rss_mb": {kind: run["peak_rss_mb"] for kind, run in results.items()},
    }
    label_source = "built" if labels["built"] else "read from the work dir's cache"
    lines = [
        "# Fetch of one full-tile solar day",
        "",
        f"`observe_solar_day` on a synthetic Sentinel-2 L2A item of {options.size} × "
        f"{options.size} px at 10 m ({len(read)} of its 9 COGs read: {', '.join(read)}; "
        f"{size_mb:,.0f} MB) and {options.parcels:,} parcels: read in strips of {STRIP_ROWS} rows "
        f"({WORKERS} reads at once, the next strip while one is reduced), DN → reflectance, SCL "
        f"mask, {len(options.indices)} indices ({', '.join(options.indices)}), per-parcel mean "
        f"and std, Parquet written. Grid {rows} × {cols}, reaching beyond the tile. Each row ran "
        "in a process of its own, one after another (median of 3 runs). Written by "
        "`.venv/bin/python bench/fetch_day.py` (overwrites this file).",
        "",
        "| | |",
        "|---|---|",
        f"| measured | {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {commit()} |",
        f"| machine | {machine()} |",
        f"| load average (1, 5, 15 min) after the run | {LOAD_FORMAT.format(*os.getloadavg())} |",
        "",
        "| what | wall s | CPU s | peak RSS MB |",
        "|---|---:|---:|---:|",
        _row("interpreter and imports only", results["baseline"]["baseline"], results["baseline"]),
        _row("raw decode of the same files, one by one", results["raw"]["raw"], results["raw"]),
        _row(
            f"raw decode, {WORKERS} threads",
            results["raw_threads"]["raw_threads"],
            results["raw_threads"],
        ),
        _row(f"label raster {label_source} (once per tile and parcel set)", labels, None),
        _row("**pestcast `observe_solar_day`**", fetch, results["pestcast"]),
        _row(
            "pestcast `observe_solar_day`, `GDAL_CACHEMAX=256`",
            fetch_small,
            results["pestcast_small_cache"],
        ),
        "",
        f"Fetch / raw decode (one by one): **{ratio:.2f}×** (target ≤ {TARGET:.0f}×: "
        f"{'met' if ratio <= TARGET else '**not met**'}); fetch / raw decode with {WORKERS} "
        f"threads: {numbers['fetch_vs_raw_threads']:.2f}×. Peak RSS is each process's high-water "
        "mark (`VmHWM`), interpreter and imports included; the fetch's holds the int32 label "
        f"raster ({rows * cols * 4 / 2**20:,.0f} MB), the parcel table and GDAL's block cache "
        "(default 5 % of RAM; the last row caps it). "
        f"{results['pestcast']['parcels_with_clear_pixels']:,} parcels had clear pixels.",
        "",
    ]
    return "\n".join(lines), numbers


def _row(what: str, took: dict[str, Any], run: dict[str, Any] | None) -> str:
    memory = "" if run is None else f"{run['peak_rss_mb']:,.0f}"
    return f"| {what} | {took['wall_s']:.2f} | {took['cpu_s']:.2f} | {memory} |"


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=TILE_PX, help="tile side in 10 m pixels")
    parser.add_argument("--parcels", type=int, default=N_PARCELS)
    parser.add_argument("--indices", nargs="+", default=list(INDEX_NAMES), choices=INDEX_NAMES)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    arguments = list(sys.argv[1:] if argv is None else argv)
    options = parser().parse_args(arguments)
    paths, parcels = prepared(options.size, options.parcels)
    if options.child:
        result = CHILDREN[options.child](paths, parcels, options)
        result["peak_rss_mb"] = usage()[1]
        print(json.dumps(result))
        return
    results = {kind: run_child(kind, arguments) for kind in CHILDREN}
    text, numbers = report(results, options, paths)
    print(text)
    if not options.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "fetch_day.md").write_text(text, encoding="utf-8")
        record = {"options": vars(options), "summary": numbers, "runs": results}
        (RESULTS / "fetch_day.json").write_text(json.dumps(record, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
