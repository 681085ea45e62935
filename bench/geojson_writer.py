"""GDAL's RFC 7946 writer (``flows.publish`` today) against the hand-written serializer it replaced.

Run: ``.venv/bin/python bench/geojson_writer.py [--repeats 7]``. Writes
``bench/results/geojson_writer.md``. Needs only the repository: the old serializer is read
from git at :data:`OLD_COMMIT` (the last commit with it) and the tables are the real parcels in
``tests/data/parcels`` and a seeded synthetic region of 20,000 parcels, both with the columns
``flows.tasks.publish_risk_map`` publishes. For each table it checks that both writers give the
same features, properties (values, types, order), bbox and geometry (exact coordinates, up to
the ring's starting vertex), that the new file passes geojson-validator, and times each writer
(median and best of ``--repeats`` runs, alternating, including the atomic write and fsync).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from geojson_validator import configure_logging, validate_geometries, validate_structure

from pestcast.flows.publish import write_geojson_rfc7946

REPO = Path(__file__).resolve().parents[1]
PARCELS = REPO / "tests" / "data" / "parcels" / "1_vietnam_areas.gpkg"
RESULTS = Path(__file__).parent / "results" / "geojson_writer.md"
OLD_COMMIT = "ea883dc951a93da2e7e2aa80a2afc5df44a26c32"
"""Last commit whose ``flows/publish.py`` holds the hand-written json serializer."""

Writer = Callable[..., Path]


def old_writer() -> Writer:
    """``write_geojson_rfc7946`` as it was at :data:`OLD_COMMIT`, loaded from git."""
    source = subprocess.run(
        ["git", "show", f"{OLD_COMMIT}:flows/publish.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType("old_publish")
    exec(compile(source, "old_publish.py", "exec"), module.__dict__)
    writer: Writer = module.write_geojson_rfc7946
    return writer


def with_risk_columns(parcels: gpd.GeoDataFrame, seed: int) -> gpd.GeoDataFrame:
    """The columns ``publish_risk_map`` passes, in its order, with seeded values."""
    rng = np.random.default_rng(seed)
    n = len(parcels)
    risk = np.round(rng.beta(1.5, 6.0, n), 4)
    classes = np.array(["low", "medium", "high"])[np.searchsorted([0.3, 0.6], risk)]
    names_vi = {"low": "thấp", "medium": "trung bình", "high": "cao"}
    n_valid_px = pd.array(rng.integers(0, 60, n), dtype="Int64")
    n_valid_px[rng.random(n) < 0.05] = pd.NA
    table = pd.DataFrame(
        {
            "parcel_id": [f"AG-{i:05d}" for i in range(n)],
            "district": rng.choice(["Thoại Sơn", "Châu Thành", "Tri Tôn"], n),
            "commune": rng.choice(["Vĩnh Trạch", "Óc Eo", "Phú Hòa", "Định Mỹ"], n),
            "pest": "bph",
            "pest_name_en": "brown planthopper",
            "pest_name_vi": "rầy nâu",
            "horizon_days": 7,
            "risk": risk,
            "risk_class": classes,
            "risk_class_vi": [names_vi[c] for c in classes],
            "n_valid_px": n_valid_px,
            "days_since_clear_obs": pd.array(rng.integers(0, 30, n), dtype="Int64"),
            "drivers": "days_since_flooding +0.25; evi_last +0.13; ndvi_last +0.10",
            "model_version": "20261201-30976aaf",
            "forecast_date": "2024-12-30",
        }
    )
    return gpd.GeoDataFrame(table, geometry=parcels.geometry.to_numpy(), crs=parcels.crs)


def synthetic_parcels(n: int, seed: int) -> gpd.GeoDataFrame:
    """``n`` clockwise rice-field quadrilaterals (0.1–2 ha, 5–9 vertices) in An Giang, UTM 48N."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    cells = np.arange(n)
    cx = 560000.0 + 160.0 * (cells % side) + rng.uniform(-20, 20, n)
    cy = 1130000.0 + 160.0 * (cells // side) + rng.uniform(-20, 20, n)
    width, height = rng.uniform(30, 140, n), rng.uniform(30, 140, n)
    angle = rng.uniform(0, np.pi, n)
    polygons = []
    for i in range(n):
        corners = np.array([[-1, -1], [-1, 1], [1, 1], [1, -1]]) * [width[i] / 2, height[i] / 2]
        extra = rng.integers(0, 5)  # points along edges, as digitised boundaries have
        t = np.sort(rng.uniform(0, 4, extra))
        edge = t.astype(int)
        points = corners[edge] + (corners[(edge + 1) % 4] - corners[edge]) * (t - edge)[:, None]
        ring = np.vstack([corners, points])[np.argsort(np.r_[np.arange(4), t])]
        rotation = np.array(
            [[np.cos(angle[i]), -np.sin(angle[i])], [np.sin(angle[i]), np.cos(angle[i])]]
        )
        polygons.append(shapely.Polygon(ring @ rotation.T + [cx[i], cy[i]]))
    return gpd.GeoDataFrame(geometry=polygons, crs="EPSG:32648")


def same_output(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Differences between two FeatureCollections (empty when equivalent)."""
    problems = []
    if old.get("bbox") != new.get("bbox"):
        problems.append(f"bbox {old.get('bbox')} != {new.get('bbox')}")
    if len(old["features"]) != len(new["features"]):
        return [*problems, "feature counts differ"]
    for i, (a, b) in enumerate(zip(old["features"], new["features"], strict=True)):
        pa, pb = a["properties"], b["properties"]
        if list(pa.items()) != list(pb.items()) or [type(v) for v in pa.values()] != [
            type(v) for v in pb.values()
        ]:
            problems.append(f"feature {i}: properties {pa} != {pb}")
        ga, gb = (shapely.normalize(shapely.geometry.shape(f["geometry"])) for f in (a, b))
        if not shapely.equals_exact(ga, gb, tolerance=0.0):
            problems.append(f"feature {i}: geometry differs")
    return problems


def snapping_seconds(table: gpd.GeoDataFrame, repeats: int) -> float:
    """Median time of the reprojection and grid snapping both writers do before serializing."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        shapely.set_precision(table.geometry.to_crs("EPSG:4326").to_numpy(), 1e-6)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare(table: gpd.GeoDataFrame, old: Writer, repeats: int, folder: Path) -> dict[str, Any]:
    old_path, new_path = folder / "old.geojson", folder / "new.geojson"
    times: dict[str, list[float]] = {"old": [], "new": []}
    for _ in range(repeats):
        for name, writer, path in (
            ("old", old, old_path),
            ("new", write_geojson_rfc7946, new_path),
        ):
            start = time.perf_counter()
            writer(table, path)
            times[name].append(time.perf_counter() - start)
    old_doc, new_doc = (json.loads(p.read_text(encoding="utf-8")) for p in (old_path, new_path))
    return {
        "features": len(table),
        "snap_s": snapping_seconds(table, repeats),
        "old_s": statistics.median(times["old"]),
        "new_s": statistics.median(times["new"]),
        "old_best_s": min(times["old"]),
        "new_best_s": min(times["new"]),
        "old_mb": old_path.stat().st_size / 1e6,
        "new_mb": new_path.stat().st_size / 1e6,
        "differences": same_output(old_doc, new_doc),
        "valid": validate_structure(new_doc, check_crs=True) == {}
        and validate_geometries(new_doc)["invalid"] == {},
    }


def report(results: dict[str, dict[str, Any]], repeats: int) -> str:
    lines = [
        "# GeoJSON writer: GDAL (pyogrio, RFC7946=YES) against the hand-written serializer",
        "",
        f"`.venv/bin/python bench/geojson_writer.py --repeats {repeats}` on "
        f"{platform.node() or 'this machine'} ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}, GDAL {pyogrio.__gdal_version_string__}, "
        f"pyogrio {pyogrio.__version__}. Old = `flows/publish.py` at `{OLD_COMMIT[:7]}`. Times "
        "are the whole `write_geojson_rfc7946` call (reprojection, snapping, serializing, atomic "
        f"write with fsync), median (best) of {repeats} alternating runs; load average "
        f"{os.getloadavg()[0]:.1f} at the end (other work on the machine slows both).",
        "",
        "| table | features | old s | new s | speed-up | of which snapping s | old MB | new MB "
        "| same output | valid |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['features']:,} | {r['old_s']:.3f} ({r['old_best_s']:.3f}) "
            f"| {r['new_s']:.3f} ({r['new_best_s']:.3f}) | {r['old_s'] / r['new_s']:.2f}× "
            f"| {r['snap_s']:.3f} "
            f"| {r['old_mb']:.2f} | {r['new_mb']:.2f} | {'yes' if not r['differences'] else 'NO'} "
            f"| {'yes' if r['valid'] else 'NO'} |"
        )
    lines += [
        "",
        "Same output: equal bbox, feature count, property names, order, values and JSON types, "
        "and geometries with exactly equal coordinates once normalised (GDAL may start a "
        "reversed ring at another vertex). Valid: geojson-validator finds no structure or "
        "geometry errors. Snapping: reprojection and `shapely.set_precision` to the 1e-6 degree "
        "grid, which both writers do before serializing, so it bounds the speed-up. The new "
        "file is larger: GDAL adds a bbox to every feature, spaces "
        "inside arrays, and pads the collection bbox line.",
    ]
    for name, r in results.items():
        lines += [f"- {name}: {d}" for d in r["differences"][:5]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    configure_logging(enabled=False)
    tables = {
        "real parcels (tests/data)": with_risk_columns(gpd.read_file(PARCELS), seed=1),
        "synthetic parcels": with_risk_columns(synthetic_parcels(20_000, seed=2), seed=3),
    }
    old = old_writer()
    with tempfile.TemporaryDirectory() as folder:
        results = {n: compare(t, old, args.repeats, Path(folder)) for n, t in tables.items()}
    text = report(results, args.repeats)
    RESULTS.write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    return 1 if any(r["differences"] or not r["valid"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
