"""Parcel statistics of one full Sentinel-2 tile band: pestcast vs raw decode, exactextract and
rasterstats.

Run from the repository root: ``.venv/bin/python bench/zonal.py`` (a 10980 × 10980 uint16 COG
band, 100,000 parcels; ``--size 2000 --parcels 3000`` for a quick run). The band and the parcels
are synthetic and seeded, written once under ``work/bench/`` and reused. Each measurement runs in
a process of its own, one after another, so its peak memory (``ru_maxrss``) is its own:

* raw decode: ``rasterio`` reading the whole band, nothing else;
* pestcast: the label raster built once (``flows.label_cache``: rasterized and written, then
  read back as a later run does), then per band ``flows.strip_stats.band_parcel_stats``
  (strip-wise read and per-parcel mean/count), repeated;
* exactextract ``mean`` (coverage-weighted) and rasterstats ``zonal_stats`` (pixel centres,
  ``all_touched=False``, on a subset, extrapolated linearly).

Means are compared with the pixel-centre reference (rasterstats) on its subset. Writes
``bench/results/zonal.md`` and ``zonal.json`` (overwriting them) unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import rasterio
import shapely
from affine import Affine
from feature_table_speed import commit, machine

from pestcast.flows.label_cache import cached_parcel_labels
from pestcast.flows.raster_read import AnalysisGrid
from pestcast.flows.strip_stats import STRIP_ROWS, band_parcel_stats, parcel_strips

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "work" / "bench"
RESULTS = Path(__file__).parent / "results"
TILE_PX = 10_980
N_PARCELS = 100_000
CRS = "EPSG:32648"
WEST, NORTH = 499_980.0, 1_200_000.0
"""Corner of a Sentinel-2 tile in UTM 48N: the grid of the 10 m and 20 m bands."""
BLOCK_PX = 1024
"""Block size of the COGs, as Sentinel-2 L2A COGs on Earth Search and Planetary Computer."""
PARCEL_HA = (0.2, 3.0)
BANDS_PER_DATE, DATES = 6, 10
DATE_THREADS = 2
"""Bands of a date reduced at once in the threaded measurement (the machine's 2 cores)."""
DATE_BANDS = range(BANDS_PER_DATE)
LOAD_FORMAT = "{:.1f}, {:.1f}, {:.1f} (other work shares the machine; CPU s are less affected)"
REFERENCE_PARCELS = 1_000
PESTCAST_REPEATS = 3
TARGET_PER_BAND = 1.5
"""pestcast per band ≤ this × the raw decode."""
TARGET_VS_EXACTEXTRACT, TARGET_VS_RASTERSTATS = 20.0, 500.0
"""Amortised over BANDS_PER_DATE × DATES band reads: at least this many times faster."""


# --- synthetic data ---------------------------------------------------------------------------


def tile_transform(resolution: float) -> Affine:
    return Affine(resolution, 0.0, WEST, 0.0, -resolution, NORTH)


def synthetic_dn(size: int, seed: int, *, base: float = 2500.0) -> npt.NDArray[np.uint16]:
    """Surface-reflectance-like DN: a smooth field (fields, canals, villages at ~1–5 km) plus
    pixel noise, so DEFLATE compresses it about as much as a real band (~1.6×)."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0.0, 1.0, size=(size // 100 + 2, size // 100 + 2)).astype(np.float32)
    field = np.repeat(np.repeat(coarse, 100, axis=0), 100, axis=1)[:size, :size]
    values = base + 900.0 * field + rng.normal(0.0, 120.0, size=(size, size)).astype(np.float32)
    return np.clip(values, 1, 20_000).astype(np.uint16)


def write_cog(path: Path, values: npt.NDArray[Any], resolution: float) -> Path:
    """A COG like a Sentinel-2 L2A asset: 1024-px blocks, DEFLATE, overviews, nodata 0."""
    rows, cols = values.shape
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.writing")
    profile = {
        "driver": "COG",
        "dtype": values.dtype.name,
        "count": 1,
        "width": cols,
        "height": rows,
        "crs": CRS,
        "transform": tile_transform(resolution),
        "nodata": 0,
        "blocksize": BLOCK_PX,
        "compress": "deflate",
        "predictor": 2,
    }
    with rasterio.open(temporary, "w", **profile) as dataset:
        dataset.write(values, 1)
    temporary.replace(path)
    return path


def synthetic_parcels(n_parcels: int, size_px: int, seed: int) -> gpd.GeoDataFrame:
    """``n_parcels`` rotated rectangles of 0.2–3 ha (aspect 1–3), one per cell of a jittered
    grid over the tile, so no two overlap; ids ``P000000…``."""
    rng = np.random.default_rng(seed)
    per_side = math.ceil(math.sqrt(n_parcels))
    cell = size_px * 10.0 / per_side
    chosen = np.sort(rng.choice(per_side * per_side, size=n_parcels, replace=False))
    row, col = np.divmod(chosen, per_side)
    area = rng.uniform(*PARCEL_HA, size=n_parcels) * 10_000.0
    aspect = rng.uniform(1.0, 3.0, size=n_parcels)
    width, height = np.sqrt(area * aspect), np.sqrt(area / aspect)
    shrink = np.minimum(1.0, 0.95 * cell / np.hypot(width, height))  # fits its cell turned
    width, height = width * shrink, height * shrink
    slack = (cell - np.hypot(width, height)) / 2
    cx = WEST + (col + 0.5) * cell + rng.uniform(-1, 1, n_parcels) * slack
    cy = NORTH - (row + 0.5) * cell + rng.uniform(-1, 1, n_parcels) * slack
    angle = rng.uniform(0, np.pi, n_parcels)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=np.float64) / 2
    local_x = corners[None, :, 0] * width[:, None]
    local_y = corners[None, :, 1] * height[:, None]
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    x = cx[:, None] + local_x * cos - local_y * sin
    y = cy[:, None] + local_x * sin + local_y * cos
    polygons = shapely.polygons(np.stack([x, y], axis=-1))
    ids = [f"P{i:06d}" for i in range(n_parcels)]
    return gpd.GeoDataFrame({"parcel_id": ids}, geometry=polygons, crs=CRS)


def prepared(size_px: int, n_parcels: int) -> tuple[Path, Path]:
    """The band COG and the parcel GeoParquet of this size, written if not there yet."""
    band = WORK / f"zonal_band_{size_px}.tif"
    parcels = WORK / f"zonal_parcels_{size_px}_{n_parcels}.parquet"
    if not band.exists():
        print(f"writing {band} …", flush=True)
        write_cog(band, synthetic_dn(size_px, seed=1), 10.0)
    if not parcels.exists():
        print(f"writing {parcels} …", flush=True)
        parcels.parent.mkdir(parents=True, exist_ok=True)
        synthetic_parcels(n_parcels, size_px, seed=2).to_parquet(parcels)
    return band, parcels


def reference_subset(n_parcels: int, n_subset: int) -> npt.NDArray[np.intp]:
    """Positions of the parcels measured with rasterstats (seeded, spread over the tile)."""
    chosen = np.random.default_rng(3).choice(n_parcels, min(n_subset, n_parcels), replace=False)
    return np.sort(chosen)


def grid_of(path: Path) -> AnalysisGrid:
    with rasterio.open(path) as dataset:
        return AnalysisGrid(CRS, dataset.transform, dataset.shape)


# --- measurements, each in a child process ----------------------------------------------------


def usage() -> tuple[float, float]:
    """CPU seconds of this process so far (all threads), and its peak RSS in MB.

    The peak is the kernel's high-water mark of this program's memory (``VmHWM``):
    ``ru_maxrss`` would report the parent's peak if that was higher, since Linux carries it
    over ``fork`` and ``exec``."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    status = Path("/proc/self/status")
    peak_kb = float(own.ru_maxrss)
    if status.exists():
        lines = [line for line in status.read_text().splitlines() if line.startswith("VmHWM:")]
        peak_kb = float(lines[0].split()[1]) if lines else peak_kb
    return own.ru_utime + own.ru_stime, peak_kb / 1024


def timed(action: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    cpu, _ = usage()
    start = time.perf_counter()
    result = action()
    wall = time.perf_counter() - start
    return result, {"wall_s": wall, "cpu_s": usage()[0] - cpu}


def child_baseline(_band: Path, _parcels: Path, _options: argparse.Namespace) -> dict[str, Any]:
    return {"baseline": {"wall_s": 0.0, "cpu_s": usage()[0]}}


def child_raw(band: Path, _parcels: Path, options: argparse.Namespace) -> dict[str, Any]:
    def decode() -> int:
        with rasterio.open(band) as dataset:
            return int(dataset.read(1)[::97, ::89].sum())

    return {"raw": [timed(decode)[1] for _ in range(options.repeats)]}


def child_pestcast(band: Path, parcels: Path, options: argparse.Namespace) -> dict[str, Any]:
    table = gpd.read_parquet(parcels)
    grid = grid_of(band)
    ids, geometries = table["parcel_id"].tolist(), table.geometry.to_numpy()
    cache = WORK / f"labels_{time.time_ns()}"
    settings = {"inward_buffer_m": 0.0, "min_pixels_after_buffer": 0, "cache_dir": cache}
    built, build = timed(lambda: cached_parcel_labels(ids, geometries, grid, **settings))
    loaded, load = timed(lambda: cached_parcel_labels(ids, geometries, grid, **settings))
    assert built.built
    assert not loaded.built
    built.path.unlink()
    cache.rmdir()
    del built
    strips, index = timed(lambda: parcel_strips(loaded.labels, grid, n_parcels=len(ids)))
    runs = []
    for _ in range(options.repeats):
        stats, took = timed(lambda: band_parcel_stats(str(band), strips))
        runs.append(took)
    with ThreadPoolExecutor(DATE_THREADS) as pool:
        _, date = timed(
            lambda: list(pool.map(lambda _: band_parcel_stats(str(band), strips), DATE_BANDS))
        )
    subset = reference_subset(len(ids), options.reference_parcels)
    return {
        "labels_build": build,
        "labels_load": load,
        "strip_index": index,
        "per_band": runs,
        "date": date,
        "parcel_pixels": int(sum(strip.positions.size for strip in strips.strips)),
        "means": stats["value_mean"].to_numpy()[subset].astype(float).tolist(),
        "counts": stats["n_valid_px"].to_numpy()[subset].tolist(),
    }


def child_exactextract(band: Path, parcels: Path, options: argparse.Namespace) -> dict[str, Any]:
    from exactextract import exact_extract  # type: ignore[import-untyped]

    table = gpd.read_parquet(parcels)
    chosen = table.iloc[: options.exactextract_parcels or len(table)]
    found, took = timed(lambda: exact_extract(str(band), chosen, ["mean"], output="pandas"))
    subset = reference_subset(len(table), options.reference_parcels)
    inside = subset[subset < len(chosen)]
    return {
        "exactextract": took,
        "parcels": len(chosen),
        "means": found["mean"].to_numpy()[inside].astype(float).tolist(),
        "subset_positions": inside.tolist(),
    }


def child_rasterstats(band: Path, parcels: Path, options: argparse.Namespace) -> dict[str, Any]:
    from rasterstats import zonal_stats  # type: ignore[import-untyped]

    table = gpd.read_parquet(parcels)
    subset = reference_subset(len(table), options.reference_parcels)
    geometries = list(table.geometry.iloc[subset])

    def run() -> list[dict[str, Any]]:
        return list(
            zonal_stats(geometries, str(band), stats=["mean", "count"], all_touched=False, nodata=0)
        )

    found, took = timed(run)
    return {
        "rasterstats": took,
        "parcels": len(subset),
        "means": [np.nan if row["mean"] is None else row["mean"] for row in found],
        "counts": [row["count"] for row in found],
    }


CHILDREN = {
    "baseline": child_baseline,
    "raw": child_raw,
    "pestcast": child_pestcast,
    "exactextract": child_exactextract,
    "rasterstats": child_rasterstats,
}


def run_child(
    kind: str, argv: Sequence[str], *, script: str = __file__, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """One measurement by ``script --child kind`` in a fresh interpreter (``env`` added to this
    one's environment); its JSON result with its peak RSS."""
    print(f"measuring {kind} …", flush=True)
    completed = subprocess.run(
        [sys.executable, script, *argv, "--child", kind],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if completed.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{completed.stderr[-3000:]}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


# --- the report -------------------------------------------------------------------------------


def summary(results: dict[str, dict[str, Any]], options: argparse.Namespace) -> dict[str, Any]:
    """The headline numbers and whether each target is met."""
    n = options.parcels
    pestcast, exact, stats = results["pestcast"], results["exactextract"], results["rasterstats"]
    raw, raw_cpu = _median(results["raw"]["raw"], "wall_s"), _median(results["raw"]["raw"], "cpu_s")
    per_band = _median(pestcast["per_band"], "wall_s")
    per_band_cpu = _median(pestcast["per_band"], "cpu_s")
    band_reads = BANDS_PER_DATE * DATES
    once = pestcast["labels_build"]["wall_s"] + pestcast["strip_index"]["wall_s"]
    amortised = (once + band_reads * per_band) / band_reads
    exact_per_band = exact["exactextract"]["wall_s"] * n / exact["parcels"]
    rasterstats_per_band = stats["rasterstats"]["wall_s"] * n / stats["parcels"]
    amortised_threads = (once + DATES * pestcast["date"]["wall_s"]) / band_reads
    targets = {
        f"per band ≤ {TARGET_PER_BAND}× raw decode": (per_band / raw, TARGET_PER_BAND, "≤"),
        f"≥ {TARGET_VS_EXACTEXTRACT:.0f}× faster than exactextract, amortised, one thread": (
            exact_per_band / amortised,
            TARGET_VS_EXACTEXTRACT,
            "≥",
        ),
        f"≥ {TARGET_VS_EXACTEXTRACT:.0f}× faster than exactextract, amortised, "
        f"{DATE_THREADS} bands at a time": (
            exact_per_band / amortised_threads,
            TARGET_VS_EXACTEXTRACT,
            "≥",
        ),
        f"≥ {TARGET_VS_RASTERSTATS:.0f}× faster than rasterstats, amortised": (
            rasterstats_per_band / amortised,
            TARGET_VS_RASTERSTATS,
            "≥",
        ),
    }
    return {
        "raw_decode_s": raw,
        "raw_decode_cpu_s": raw_cpu,
        "pestcast_per_band_s": per_band,
        "pestcast_per_band_cpu_s": per_band_cpu,
        "pestcast_amortised_per_band_s": amortised,
        "pestcast_amortised_per_band_threads_s": amortised_threads,
        "exactextract_per_band_s": exact_per_band,
        "rasterstats_per_band_s": rasterstats_per_band,
        "targets": {
            name: {"measured": value, "met": value <= goal if sign == "≤" else value >= goal}
            for name, (value, goal, sign) in targets.items()
        },
        **agreement(results, options),
    }


def _median(runs: list[dict[str, float]], field: str) -> float:
    return float(statistics.median(run[field] for run in runs))


def agreement(results: dict[str, dict[str, Any]], options: argparse.Namespace) -> dict[str, Any]:
    """pestcast's and exactextract's means against the pixel-centre reference (rasterstats)."""
    ours = np.asarray(results["pestcast"]["means"], dtype=float)
    reference = np.asarray(results["rasterstats"]["means"], dtype=float)
    both = np.isfinite(ours) & np.isfinite(reference)
    difference = np.abs(ours[both] - reference[both])
    exact = results["exactextract"]
    subset = reference_subset(options.parcels, options.reference_parcels)
    exact_reference = reference[np.searchsorted(subset, exact["subset_positions"])]
    exact_difference = np.abs(np.asarray(exact["means"], dtype=float) - exact_reference)
    counts = np.asarray(results["pestcast"]["counts"]), np.asarray(results["rasterstats"]["counts"])
    return {
        "reference_parcels": int(both.sum()),
        "reference_parcels_without_pixel": int(
            (~np.isfinite(ours) & ~np.isfinite(reference)).sum()
        ),
        "max_abs_mean_difference_dn": float(difference.max(initial=0)),
        "max_relative_mean_difference": float((difference / reference[both]).max(initial=0)),
        "count_mismatches": int(np.sum(counts[0] != counts[1])),
        "exactextract_max_abs_difference_dn": float(np.nanmax(exact_difference, initial=0)),
    }


def report(
    results: dict[str, dict[str, Any]], numbers: dict[str, Any], options: argparse.Namespace
) -> str:
    n, size = options.parcels, options.size
    pestcast, exact, stats = results["pestcast"], results["exactextract"], results["rasterstats"]
    exact_parcels = "" if exact["parcels"] == n else f" (extrapolated from {exact['parcels']:,})"
    lines = [
        "# Parcel statistics of a full-tile band",
        "",
        f"One {size} × {size} uint16 COG band (10 m, {BLOCK_PX}-px blocks, DEFLATE, synthetic "
        f"and seeded) and {n:,} non-overlapping parcels of {PARCEL_HA[0]}–{PARCEL_HA[1]} ha "
        f"({pestcast['parcel_pixels'] / size**2:.1%} of the pixels). Each row ran in a process "
        "of its own, one after another, in one run. Written by "
        f"`.venv/bin/python bench/zonal.py{_arguments(options)}` (overwrites this file).",
        "",
        "| | |",
        "|---|---|",
        f"| measured | {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {commit()} |",
        f"| machine | {machine()} |",
        f"| load average (1, 5, 15 min) after the run | {LOAD_FORMAT.format(*os.getloadavg())} |",
        f"| strip | {STRIP_ROWS} grid rows, the next strip read while one is reduced |",
        "",
        "| what | wall s | CPU s | peak RSS MB | parcels |",
        "|---|---:|---:|---:|---|",
        *(_row(what, took, memory, count) for what, took, memory, count in rows(results, n)),
        "",
        "Peak RSS is each process's high-water mark (`VmHWM`), interpreter and imports included; "
        f"pestcast's includes the int32 label raster ({size * size * 4 / 2**20:,.0f} MB) and "
        "GDAL's block cache while it is read back.",
        "",
        "## Per band and amortised",
        "",
        "| | seconds per band (wall) |",
        "|---|---:|",
        f"| raw decode, median of {len(results['raw']['raw'])} | {numbers['raw_decode_s']:.2f} "
        f"(CPU {numbers['raw_decode_cpu_s']:.2f}) |",
        f"| pestcast, median of {len(pestcast['per_band'])} | "
        f"{numbers['pestcast_per_band_s']:.2f} (CPU {numbers['pestcast_per_band_cpu_s']:.2f}) |",
        f"| pestcast over {BANDS_PER_DATE} bands × {DATES} dates, label raster and strips built "
        f"once | {numbers['pestcast_amortised_per_band_s']:.2f} |",
        f"| pestcast, the same with a date's {BANDS_PER_DATE} bands read {DATE_THREADS} at a "
        f"time | {numbers['pestcast_amortised_per_band_threads_s']:.2f} |",
        f"| exactextract, all {n:,} parcels{exact_parcels}, one thread | "
        f"{numbers['exactextract_per_band_s']:.1f} |",
        f"| rasterstats, all {n:,} parcels (extrapolated linearly from {stats['parcels']:,}) | "
        f"{numbers['rasterstats_per_band_s']:.0f} |",
        "",
        "| target | measured | met |",
        "|---|---:|---|",
        *(
            f"| {name} | {target['measured']:.2f}× | {'yes' if target['met'] else '**no**'} |"
            for name, target in numbers["targets"].items()
        ),
        "",
        "## Agreement",
        "",
        f"- pestcast's means vs the pixel-centre reference (rasterstats, `all_touched=False`) on "
        f"{numbers['reference_parcels']:,} parcels: max |difference| "
        f"{numbers['max_abs_mean_difference_dn']:.1e} DN (relative "
        f"{numbers['max_relative_mean_difference']:.1e}: the float32 of pestcast's tables); "
        f"pixel counts differ for {numbers['count_mismatches']} parcels; "
        f"{numbers['reference_parcels_without_pixel']} have no pixel centre in either.",
        "- exactextract weights every touched pixel by its covered fraction, so its means differ "
        "from pixel-centre means, here by up to "
        f"{numbers['exactextract_max_abs_difference_dn']:.0f} DN: another rule, not an error.",
        "",
    ]
    return "\n".join(lines)


def rows(
    results: dict[str, dict[str, Any]], n: int
) -> list[tuple[str, dict[str, float], float | None, str]]:
    """(what, wall and CPU seconds, peak RSS of its process or None, parcels) per measurement."""
    pestcast, exact, stats = results["pestcast"], results["exactextract"], results["rasterstats"]
    rss = {kind: run["peak_rss_mb"] for kind, run in results.items()}
    everyone = f"{n:,}"
    return [
        ("interpreter and imports only", results["baseline"]["baseline"], rss["baseline"], "—"),
        *(
            (f"raw decode, `rasterio` read of the whole band (run {i + 1})", run, memory, "—")
            for i, run in enumerate(results["raw"]["raw"])
            for memory in [rss["raw"] if i == 0 else None]
        ),
        (
            "pestcast: label raster built (rasterize, write GeoTIFF)",
            pestcast["labels_build"],
            rss["pestcast"],
            everyone,
        ),
        ("pestcast: label raster read back (a later run)", pestcast["labels_load"], None, everyone),
        (
            "pestcast: parcel pixels per strip (once per raster)",
            pestcast["strip_index"],
            None,
            everyone,
        ),
        *(
            (f"pestcast: one band, read + mean/count (run {i + 1})", run, None, everyone)
            for i, run in enumerate(pestcast["per_band"])
        ),
        (
            f"pestcast: a date's {BANDS_PER_DATE} bands, {DATE_THREADS} at a time",
            pestcast["date"],
            None,
            everyone,
        ),
        (
            "exactextract `mean`",
            exact["exactextract"],
            rss["exactextract"],
            f"{exact['parcels']:,}",
        ),
        (
            "rasterstats `zonal_stats` mean, count",
            stats["rasterstats"],
            rss["rasterstats"],
            f"{stats['parcels']:,}",
        ),
    ]


def _row(what: str, took: dict[str, float], rss: float | None, parcels: str) -> str:
    memory = "" if rss is None else f"{rss:,.0f}"
    return f"| {what} | {took['wall_s']:.2f} | {took['cpu_s']:.2f} | {memory} | {parcels} |"


def _arguments(options: argparse.Namespace) -> str:
    defaults = parser().parse_args([])
    changed = [
        f"--{name.replace('_', '-')} {value}"
        for name, value in vars(options).items()
        if name not in {"child", "no_write"} and value != getattr(defaults, name)
    ]
    return "".join(f" {item}" for item in changed)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=TILE_PX, help="band side in pixels")
    parser.add_argument("--parcels", type=int, default=N_PARCELS)
    parser.add_argument("--repeats", type=int, default=PESTCAST_REPEATS)
    parser.add_argument("--reference-parcels", type=int, default=REFERENCE_PARCELS)
    parser.add_argument("--exactextract-parcels", type=int, default=0, help="0: all parcels")
    parser.add_argument("--no-write", action="store_true", help="print, do not write results")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    arguments = list(sys.argv[1:] if argv is None else argv)
    options = parser().parse_args(arguments)
    band, parcels = prepared(options.size, options.parcels)
    if options.child:
        result = CHILDREN[options.child](band, parcels, options)
        result["peak_rss_mb"] = usage()[1]
        print(json.dumps(result))
        return
    results = {kind: run_child(kind, arguments) for kind in CHILDREN}
    numbers = summary(results, options)
    text = report(results, numbers, options)
    print(text)
    if not options.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "zonal.md").write_text(text, encoding="utf-8")
        record = {"options": vars(options), "summary": numbers, "runs": _without_values(results)}
        (RESULTS / "zonal.json").write_text(json.dumps(record, indent=1), encoding="utf-8")


def _without_values(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    skip = {"means", "counts", "subset_positions"}
    return {kind: {k: v for k, v in run.items() if k not in skip} for kind, run in results.items()}


if __name__ == "__main__":
    main()
