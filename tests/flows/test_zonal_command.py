"""``pestcast zonal`` on a real Sentinel-2 chip and real parcel shapes, checked against independent
tools (rasterstats, exactextract); on synthetic rasters for reprojection, band names and memory;
and through the real command, errors included."""

from __future__ import annotations

import re
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from shapely.geometry import Polygon, box
from typer.testing import CliRunner

from pestcast.flows.cli import app
from pestcast.flows.zonal_command import ZonalOptions, write_zonal_table
from tests.bad_inputs import folder_hashes

DATA = Path(__file__).resolve().parents[1] / "data"
RASTER = DATA / "s2_ftw_austria_2date" / "inference-img-crop.tif"
"""120 × 120 px of 10 m, EPSG:32633, 8 uint16 bands (2 dates × B04 B03 B02 B08), no nodata."""
VIETNAM = DATA / "parcels" / "1_vietnam_areas.gpkg"

# The real Vietnamese parcels (Red River Delta, EPSG:32648) lie nowhere near the Austrian chip
# (EPSG:32633). They are *translated* as one block, their densest 1.2 km onto the chip, and
# relabelled EPSG:32633: a shift, not a reprojection, so shapes and areas stay real. 43 then hold
# pixels, a few cross the chip's edge and 57 lie outside it.
SHIFT = (361130.0 - 624989.7, 5350140.0 - 2306860.5)
BANDS = range(1, 9)
QUANTILES = {"p10": "percentile_10", "median": "median", "p90": "percentile_90"}
UTM = "EPSG:32648"

# rasterstats 0.21 and rasterio 1.4 still multiply Affine with `*`, which affine 3 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")
BOWTIE = [(600_012, 1_199_611), (600_088, 1_199_689), (600_088, 1_199_611), (600_012, 1_199_689)]
"""Crosses itself at (600050, 1199650); no pixel centre lies on its edges."""


@pytest.fixture(scope="module")
def parcels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 100 translated parcels with unique ids (the file's own ``id`` column is all 1)."""
    table = gpd.read_file(VIETNAM)
    moved = gpd.GeoDataFrame(
        {"parcel_id": [f"VN-{i:03d}" for i in range(len(table))]},
        geometry=table.translate(*SHIFT).to_numpy(),
        crs="EPSG:32633",
    )
    path = tmp_path_factory.mktemp("parcels") / "translated.gpkg"
    moved.to_file(path)
    return path


def run(raster: Path, parcel_file: Path, out: Path, **options: Any) -> pd.DataFrame:
    write_zonal_table(raster, parcel_file, out, ZonalOptions(**options))
    return pd.read_parquet(out)


def rasterstats_of(parcel_file: Path, raster: Path, band: int, nodata: float) -> pd.DataFrame:
    from rasterstats import zonal_stats  # type: ignore[import-untyped]

    stats = "count mean std median percentile_10 percentile_90"
    geometries = list(gpd.read_file(parcel_file).geometry)
    found = zonal_stats(geometries, raster, band=band, nodata=nodata, stats=stats)
    return pd.DataFrame(found).astype(float)


def test_pixel_centre_statistics_match_rasterstats(parcels: Path, tmp_path: Path) -> None:
    """rasterstats (all_touched=False, its default) on the same file. Its ``nodata=0`` masks only
    the zeros its boundless read puts outside the chip (the chip has no 0): without it, parcels
    across the edge or outside would count those zeros as pixels."""
    ours = run(RASTER, parcels, tmp_path / "z.parquet", block_size=16)
    assert (ours["b1_count"] > 0).sum() == 43
    worst = 0.0
    for band in BANDS:
        theirs = rasterstats_of(parcels, RASTER, band, nodata=0)
        np.testing.assert_array_equal(ours[f"b{band}_count"], theirs["count"])
        for stat, their_stat in {"mean": "mean", "std": "std", **QUANTILES}.items():
            np.testing.assert_allclose(ours[f"b{band}_{stat}"], theirs[their_stat], rtol=1e-12)
        worst = max(worst, float(np.nanmax(np.abs(ours[f"b{band}_mean"] - theirs["mean"]))))
    assert worst < 1e-9  # measured: 0.0


def test_block_by_block_equals_one_block_on_real_data(parcels: Path, tmp_path: Path) -> None:
    small = run(RASTER, parcels, tmp_path / "small.parquet", block_size=7)
    whole = run(RASTER, parcels, tmp_path / "whole.parquet", block_size=1000)
    pd.testing.assert_frame_equal(small, whole, check_exact=True)


def test_a_nodata_pixel_of_one_band_is_not_dropped_from_the_others(
    parcels: Path, tmp_path: Path
) -> None:
    """Band 3 gets a 40 × 40 px hole of zeros and the file nodata 0; no other band has a 0."""
    holed = tmp_path / "holed.tif"
    with rasterio.open(RASTER) as source:
        profile, data = source.profile, source.read()
    data[2, 40:80, 40:80] = 0
    with rasterio.open(holed, "w", **(profile | {"nodata": 0})) as target:
        target.write(data)
    ours = run(holed, parcels, tmp_path / "z.parquet")
    plain = run(RASTER, parcels, tmp_path / "plain.parquet")
    assert (ours["b3_count"] < ours["b1_count"]).sum() >= 5
    for band in BANDS:
        theirs = rasterstats_of(parcels, holed, band, nodata=0)
        np.testing.assert_array_equal(ours[f"b{band}_count"], theirs["count"])
        np.testing.assert_allclose(ours[f"b{band}_mean"], theirs["mean"], rtol=1e-12)
        if band != 3:
            pd.testing.assert_series_equal(ours[f"b{band}_mean"], plain[f"b{band}_mean"])


def test_exact_matches_exactextract_called_directly(parcels: Path, tmp_path: Path) -> None:
    """exactextract reading the file itself. Its quantiles come back in the raster's type
    (uint16 here: truncated); ours are not truncated."""
    from exactextract import exact_extract  # type: ignore[import-untyped]

    stats = ["count", "mean", "std", "min", "max", "p10", "median", "p90"]
    ours = run(RASTER, parcels, tmp_path / "z.parquet", exact=True, stats=stats, block_size=32)
    ops = ["count", "mean", "stdev", "min", "max", "quantile(q=0.1)", "median", "quantile(q=0.9)"]
    theirs = exact_extract(str(RASTER), gpd.read_file(parcels), ops, output="pandas")
    assert (theirs["band_1_count"] > 0).sum() == 43
    names = dict(zip(stats, ["count", "mean", "stdev", "min", "max", "quantile_10", "median",
                             "quantile_90"], strict=True))  # fmt: skip
    for band in BANDS:
        for stat, op in names.items():
            mine, reference = ours[f"b{band}_{stat}"], theirs[f"band_{band}_{op}"].astype(float)
            if stat in QUANTILES:
                mine = np.trunc(mine)
            np.testing.assert_allclose(mine, reference, rtol=1e-9, err_msg=f"b{band}_{stat}")


def write_raster(path: Path, data: np.ndarray, *, crs: str | None = UTM, **extra: Any) -> Path:
    """A GeoTIFF of ``data`` (bands, rows, cols) with 10 m pixels from (600000, 1200000) down."""
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "transform": Affine(10.0, 0.0, 600_000.0, 0.0, -10.0, 1_200_000.0),
    }
    with rasterio.open(path, "w", **(profile | {"crs": crs} | extra)) as target:
        target.write(data)
    return path


def centres_inside(geometry: Any) -> int:
    """Pixel centres of the synthetic rasters' grid inside ``geometry``, counted by shapely."""
    x, y = np.meshgrid(600_005.0 + 10 * np.arange(40), 1_199_995.0 - 10 * np.arange(40))
    return int(shapely.contains_xy(geometry, x, y).sum())


def write_parcels(path: Path, geometries: list[Any], ids: list[Any], **columns: Any) -> Path:
    frame = gpd.GeoDataFrame({"parcel_id": ids, **columns}, geometry=geometries, crs=UTM)
    frame.to_file(path)
    return path


def fields(n: int = 12) -> list[Polygon]:
    """Irregular fields inside the synthetic raster (x 600000–600400, y 1199600–1200000)."""
    rng = np.random.default_rng(4)
    corners = rng.uniform([600_005, 1_199_605], [600_330, 1_199_930], size=(n, 2))
    return [
        Polygon([(x, y), (x + 61.3, y + 7.1), (x + 55.2, y + 63.7), (x - 3.9, y + 48.4)])
        for x, y in corners
    ]


def test_parcels_in_epsg4326_are_reprojected_to_the_raster(tmp_path: Path) -> None:
    data = np.random.default_rng(1).normal(0.3, 0.1, size=(2, 40, 40)).astype(np.float32)
    raster = write_raster(tmp_path / "r.tif", data)
    ids = [f"P{i}" for i in range(12)]
    in_utm = write_parcels(tmp_path / "utm.gpkg", fields(), ids)
    in_degrees = tmp_path / "lonlat.gpkg"
    gpd.read_file(in_utm).to_crs("EPSG:4326").to_file(in_degrees)
    assert gpd.read_file(in_degrees).crs.to_epsg() == 4326
    expected = run(raster, in_utm, tmp_path / "utm.parquet")
    got = run(raster, in_degrees, tmp_path / "lonlat.parquet")
    assert expected["b1_count"].sum() > 300
    pd.testing.assert_frame_equal(got, expected, rtol=1e-12)


def test_memory_does_not_grow_with_the_raster(tmp_path: Path) -> None:
    """A 3000 × 3000 px band is 72 MB as float64; blocks of 256 px keep the peak far below."""
    data = np.random.default_rng(2).integers(1, 5000, size=(1, 3000, 3000), dtype=np.uint16)
    raster = write_raster(tmp_path / "big.tif", data, tiled=True, blockxsize=256, blockysize=256)
    del data
    rng = np.random.default_rng(3)
    corners = rng.uniform([600_000, 1_170_000], [629_900, 1_199_900], size=(300, 2))
    parcel_file = write_parcels(
        tmp_path / "p.gpkg",
        [box(x, y, x + 97.3, y + 83.1) for x, y in corners],
        [f"P{i}" for i in range(300)],
    )
    tracemalloc.start()
    try:
        table = run(raster, parcel_file, tmp_path / "z.parquet", block_size=256)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert table["b1_count"].between(70, 100).all()
    assert peak < 8e6, f"peak {peak / 1e6:.1f} MB"  # measured 1.7 MB; 189 MB in one block


# --- the command ----------------------------------------------------------------------------------


def invoke(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    return result.exit_code, result.output


def test_the_command_names_bands_reports_overlaps_and_parcels_outside(tmp_path: Path) -> None:
    data = np.stack([np.full((40, 40), 0.1), np.full((40, 40), 0.8)]).astype(np.float32)
    raster = write_raster(tmp_path / "r.tif", data)
    with rasterio.open(raster, "r+") as target:
        target.descriptions = ("red", "nir")
    tiny = box(600_101, 1_199_901, 600_104, 1_199_904)  # between pixel centres
    geometries = [*fields(3), fields(3)[0].buffer(-10), box(0, 0, 10, 10), tiny]
    ids = ["A", "B", "C", "A-in", "far", "tiny"]
    parcel_file = write_parcels(tmp_path / "p.gpkg", geometries, ids)
    code, output = invoke(
        "zonal", raster, parcel_file, "--out", tmp_path / "z.parquet", "--stats", "mean,count"
    )
    assert code == 0, output
    assert "6 parcels × 2 bands (red, nir) → " in output
    assert "warning: 1 pair of parcels overlaps; its shared pixels count for both: A/A-in" in output
    assert "warning: 1 parcel outside the raster (count 0, no statistics): far" in output
    assert "warning: 1 parcel without a valid pixel in any band (smaller than a pixel" in output
    assert "--exact counts partial pixels): tiny\n" in output
    table = pd.read_parquet(tmp_path / "z.parquet")
    assert list(table.columns) == ["parcel_id", "red_mean", "red_count", "nir_mean", "nir_count"]
    assert table["parcel_id"].tolist() == ids
    assert table["red_count"].tolist() == [*map(centres_inside, geometries[:4]), 0, 0]
    np.testing.assert_allclose(table["nir_mean"][:4], 0.8, rtol=1e-6)


def test_id_column_defaults_to_the_first_column_named_id(tmp_path: Path) -> None:
    raster = write_raster(tmp_path / "r.tif", np.ones((1, 40, 40), dtype=np.uint8))
    frame = gpd.GeoDataFrame({"name": ["x", "y"], "ID": [7, 8]}, geometry=fields(2), crs=UTM)
    frame.to_file(tmp_path / "p.gpkg")
    table = run(raster, tmp_path / "p.gpkg", tmp_path / "a.parquet")
    assert table["parcel_id"].tolist() == [7, 8]
    code, output = invoke(
        "zonal", raster, tmp_path / "p.gpkg", "--out", tmp_path / "b.parquet", "--id-column", "name"
    )
    assert code == 0, output
    assert pd.read_parquet(tmp_path / "b.parquet")["parcel_id"].tolist() == ["x", "y"]


def test_an_existing_output_is_replaced_only_with_overwrite(parcels: Path, tmp_path: Path) -> None:
    out = tmp_path / "z.parquet"
    out.write_text("the user's earlier table\n", encoding="utf-8")
    code, output = invoke("zonal", RASTER, parcels, "--out", out)
    assert code == 2
    assert re.search(r"pestcast zonal: --out .*z\.parquet exists; pass --overwrite", output)
    assert out.read_text(encoding="utf-8") == "the user's earlier table\n"
    code, output = invoke("zonal", RASTER, parcels, "--out", out, "--overwrite", "--exact")
    assert code == 0, output
    assert pd.read_parquet(out)["b1_count"].dtype == np.float64
    assert [path.name for path in tmp_path.iterdir()] == ["z.parquet"]  # no temporary left


def test_the_installed_command_runs_in_a_fresh_process(parcels: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pestcast.flows.cli", "zonal", str(RASTER), str(parcels),
         "--out", str(tmp_path / "z.parquet"), "--buffer", "-5"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "100 parcels × 8 bands (b1, b2, b3, b4, b5, b6, b7, b8)" in done.stdout
    assert "57 parcels outside the raster" in done.stderr
    shrunk = pd.read_parquet(tmp_path / "z.parquet")
    full = run(RASTER, parcels, tmp_path / "full.parquet")
    assert (shrunk["b1_count"] <= full["b1_count"]).all()
    assert 0 < shrunk["b1_count"].sum() < 0.7 * full["b1_count"].sum()  # measured: 1014 of 1570


def bad_inputs(folder: Path) -> dict[str, Path]:
    """One file per way to be wrong, each bad in one way only."""
    (folder / "notes.tif").write_text("not a raster\n", encoding="utf-8")
    (folder / "notes.gpkg").write_text("not a vector file\n", encoding="utf-8")
    good = write_raster(folder / "good.tif", np.ones((1, 40, 40), dtype=np.uint8))
    bowtie = Polygon(BOWTIE)
    return {
        "good": good,
        "nocrs": write_raster(folder / "nocrs.tif", np.ones((1, 4, 4), np.uint8), crs=None),
        "lonlat": write_raster(
            folder / "lonlat.tif", np.ones((1, 4, 4), np.uint8), crs="EPSG:4326"
        ),
        "parcels": write_parcels(folder / "p.gpkg", fields(2), ["AG-1", "AG-2"]),
        "bowtie": write_parcels(folder / "bowtie.gpkg", [fields(1)[0], bowtie], ["AG-1", "AG-9"]),
        "empty": write_parcels(folder / "empty.gpkg", [], []),
        "nocrs_parcels": _without_crs(folder / "nocrs.gpkg"),
        "no_id_column": _renamed(folder / "noidcol.gpkg"),
    }


def _without_crs(path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'crs' was not provided", UserWarning)
        gpd.GeoDataFrame({"parcel_id": ["AG-1"]}, geometry=fields(1)).to_file(path)
    return path


def _renamed(path: Path) -> Path:
    gpd.GeoDataFrame({"field": ["AG-1"]}, geometry=fields(1), crs=UTM).to_file(path)
    return path


BAD = [
    pytest.param(("{tmp}/missing.tif", "{parcels}"),
                 r"raster .*missing\.tif does not exist; check the RASTER argument",
                 id="raster-missing"),
    pytest.param(("{tmp}/notes.tif", "{parcels}"),
                 r"notes\.tif is not a raster GDAL can read .*; give a GeoTIFF",
                 id="not-a-raster"),
    pytest.param(("{nocrs}", "{parcels}"),
                 r"raster .*nocrs\.tif has no CRS; set the one .*gdal_edit\.py -a_srs",
                 id="raster-without-crs"),
    pytest.param(("{good}", "{tmp}/missing.gpkg"),
                 r"parcel file .*missing\.gpkg does not exist; check the PARCELS argument",
                 id="parcels-missing"),
    pytest.param(("{good}", "{tmp}/notes.gpkg"),
                 r"cannot read parcels from .*notes\.gpkg .*; give a vector file GDAL can read",
                 id="parcels-not-a-vector-file"),
    pytest.param(("{good}", "{nocrs_parcels}"),
                 r"parcel file .*nocrs\.gpkg has no CRS; set the one .*ogr2ogr -a_srs",
                 id="parcels-without-crs"),
    pytest.param(("{good}", "{empty}"),
                 r"parcel file .*empty\.gpkg \(layer first\) holds no parcels",
                 id="no-parcels"),
    pytest.param(("{good}", "{parcels}", "--id-column", "code"),
                 r"parcel file .*p\.gpkg has no column 'code'; its columns are parcel_id; "
                 "pass one of them with --id-column", id="id-column-missing"),
    pytest.param(("{good}", "{no_id_column}"),
                 r"noidcol\.gpkg has neither a parcel_id nor an id column; its columns are "
                 "field; name the id column with --id-column", id="no-id-column"),
    pytest.param(("{good}", str(VIETNAM)),
                 r"1_vietnam_areas\.gpkg: column 'id' holds duplicate ids: '1' \(100×\); parcel "
                 "ids must be unique", id="duplicate-ids-in-a-real-file"),
    pytest.param(("{good}", "{parcels}", "--stats", "mean,avg"),
                 r"--stats: 'avg' is not a statistic; choose from count, mean",
                 id="bad-statistic"),
    pytest.param(("{good}", "{bowtie}", "--on-invalid", "reject"),
                 r"parcels AG-9 \(Self-intersection\[600050 1199650\]\) have invalid geometry",
                 id="invalid-polygon-rejected"),
    pytest.param(("{lonlat}", "{parcels}", "--buffer", "-5"),
                 r"--buffer -5 is in metres but raster .*lonlat\.tif is in EPSG:4326, which is "
                 "not projected", id="buffer-on-a-raster-in-degrees"),
    pytest.param(("{good}", "{parcels}", "--out", "{tmp}/no-such-folder/z.parquet"),
                 r"--out .*z\.parquet: the folder .*no-such-folder does not exist",
                 id="output-folder-missing"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "says"), BAD)
def test_a_bad_input_ends_in_one_clear_line_and_exit_code_2(
    tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    files = {name: str(path) for name, path in bad_inputs(tmp_path).items()}
    command = ["zonal", *(arg.format(tmp=tmp_path, **files) for arg in args)]
    if "--out" not in command:
        command += ["--out", str(tmp_path / "z.parquet")]
    before = folder_hashes(tmp_path)
    code, output = invoke(*command)
    assert code == 2, output
    assert [line.startswith("pestcast zonal: ") for line in output.splitlines()].count(True) == 1
    assert "Traceback" not in output
    assert re.search(says, output.replace("\n", " ")), output
    assert folder_hashes(tmp_path) == before


def test_an_invalid_polygon_is_repaired_by_default_and_reported(tmp_path: Path) -> None:
    files = bad_inputs(tmp_path)
    code, output = invoke("zonal", files["good"], files["bowtie"], "--out", tmp_path / "z.parquet")
    assert code == 0, output
    assert "warning: 1 parcel repaired with make_valid: AG-9" in output
    repaired = shapely.make_valid(Polygon(BOWTIE), method="structure", keep_collapsed=False)
    assert repaired.geom_type == "MultiPolygon"
    counts = pd.read_parquet(tmp_path / "z.parquet")["b1_count"].tolist()
    assert counts[1] == centres_inside(repaired) > 10


def test_verbose_adds_the_traceback(tmp_path: Path) -> None:
    out = tmp_path / "z.parquet"
    code, output = invoke("--verbose", "zonal", tmp_path / "x.tif", VIETNAM, "--out", out)
    assert code == 2
    assert "Traceback" in output
    assert output.rstrip().splitlines()[-1].startswith("pestcast zonal: raster ")
