"""RFC 7946 GeoJSON from real parcels, checked by geojson-validator and from first principles."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import shapely.geometry
from geojson_validator import configure_logging, validate_geometries, validate_structure
from shapely.geometry import MultiPolygon, Polygon

from pestcast.core.errors import ConfigError, PublishError
from pestcast.flows.publish import update_latest_link, write_geojson_rfc7946

PARCELS = Path(__file__).resolve().parents[1] / "data" / "parcels" / "1_vietnam_areas.gpkg"
REPO = Path(__file__).resolve().parents[2]

configure_logging(enabled=False)


@pytest.fixture(scope="module")
def parcels() -> gpd.GeoDataFrame:
    table = gpd.read_file(PARCELS)
    table["parcel_id"] = [f"VN-{i:05d}" for i in range(len(table))]
    return table


def read(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def rings(geometry: dict[str, Any]) -> list[tuple[bool, list[list[float]]]]:
    """(is_exterior, ring) for every ring of a Polygon or MultiPolygon."""
    polygons = (
        [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    )
    return [(i == 0, ring) for polygon in polygons for i, ring in enumerate(polygon)]


def signed_area(ring: list[list[float]]) -> float:
    """Shoelace: positive for counter-clockwise rings in (lon, lat)."""
    xs, ys = np.array(ring).T
    return float(np.sum(xs[:-1] * ys[1:] - xs[1:] * ys[:-1]) / 2)


def test_real_parcels_pass_an_independent_rfc7946_check(
    parcels: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    path = write_geojson_rfc7946(parcels, tmp_path / "risk_map.geojson")
    document = read(path)

    assert validate_structure(document, check_crs=True) == {}
    assert validate_geometries(document)["invalid"] == {}
    assert "crs" not in document
    assert len(document["features"]) == len(parcels) == 100
    # The input rings are all clockwise (checked below); the output follows the right-hand rule.
    assert not any(p.exterior.is_ccw for p in parcels.geometry)
    for feature in document["features"]:
        for is_exterior, ring in rings(feature["geometry"]):
            assert (signed_area(ring) > 0) == is_exterior
            assert ring[0] == ring[-1]
            assert all(a != b for a, b in itertools.pairwise(ring))


@pytest.mark.parametrize("precision", [6, 7, 5])
def test_coordinates_are_lon_lat_rounded_to_the_precision(
    parcels: gpd.GeoDataFrame, tmp_path: Path, precision: int
) -> None:
    path = write_geojson_rfc7946(parcels, tmp_path / "map.geojson", precision=precision)
    document = read(path)
    expected = parcels.to_crs("EPSG:4326")
    step = 10.0**-precision  # 6 decimals ≈ 10 cm

    west, south, east, north = document["bbox"]
    assert 106.19 < west < east < 106.23  # Red River delta parcels: longitude first
    assert 20.82 < south < north < 20.88
    for feature, original in zip(document["features"], expected.geometry, strict=True):
        shape = shapely.geometry.shape(feature["geometry"])
        assert shapely.hausdorff_distance(shape, original) < step
        assert feature["bbox"] == pytest.approx(list(shape.bounds), abs=1e-12)
        for _, ring in rings(feature["geometry"]):
            for lon, lat in ring:
                assert round(lon, precision) == lon
                assert round(lat, precision) == lat
    assert np.allclose(document["bbox"], expected.total_bounds, atol=step)


def test_bbox_false_writes_no_bbox(parcels: gpd.GeoDataFrame, tmp_path: Path) -> None:
    document = read(write_geojson_rfc7946(parcels, tmp_path / "map.geojson", bbox=False))

    assert "bbox" not in document
    assert not any("bbox" in feature for feature in document["features"])


def test_hole_and_multipolygon_come_out_oriented(tmp_path: Path) -> None:
    x0, y0 = 588000.0, 1150000.0  # An Giang, EPSG:32648
    clockwise_shell = [(x0, y0), (x0, y0 + 100), (x0 + 100, y0 + 100), (x0 + 100, y0), (x0, y0)]
    ccw_hole = [(x0 + 30, y0 + 30), (x0 + 60, y0 + 30), (x0 + 60, y0 + 60), (x0 + 30, y0 + 60)]
    with_hole = Polygon(clockwise_shell, [ccw_hole])
    two_parts = MultiPolygon([Polygon(clockwise_shell), shapely.affinity.translate(with_hole, 500)])
    table = gpd.GeoDataFrame(
        {"parcel_id": ["AG-00001", "AG-00002"]}, geometry=[with_hole, two_parts], crs="EPSG:32648"
    )

    document = read(write_geojson_rfc7946(table, tmp_path / "holes.geojson"))

    assert validate_geometries(document)["invalid"] == {}
    first, second = (f["geometry"] for f in document["features"])
    assert first["type"] == "Polygon"
    assert [signed_area(r) > 0 for _, r in rings(first)] == [True, False]
    assert second["type"] == "MultiPolygon"
    assert len(second["coordinates"]) == 2
    assert [signed_area(r) > 0 for _, r in rings(second)] == [True, True, False]


def test_a_parcel_crossing_the_antimeridian_is_split(tmp_path: Path) -> None:
    degrees = gpd.GeoSeries([shapely.box(179.9, 10.0, 180.1, 10.1)], crs="EPSG:4326")
    table = gpd.GeoDataFrame({"parcel_id": ["FJ-1"]}, geometry=degrees.to_crs("EPSG:32660"))

    document = read(write_geojson_rfc7946(table, tmp_path / "fiji.geojson"))

    geometry = document["features"][0]["geometry"]
    assert geometry["type"] == "MultiPolygon"
    sides = sorted(
        {np.sign(lon) for _, ring in rings(geometry) for lon, _ in ring if abs(lon) != 180}
    )
    assert sides == [-1, 1]
    assert document["bbox"] == pytest.approx([179.9, 10.0, -179.9, 10.1], abs=1e-6)  # west > east


def test_points_that_rounding_merges_are_dropped(tmp_path: Path) -> None:
    near = 105.5 + 2e-8  # within the 6th decimal of its neighbour
    ring = [(105.5, 10.5), (near, 10.5), (105.501, 10.5), (105.501, 10.501), (105.5, 10.501)]
    table = gpd.GeoDataFrame({"parcel_id": ["AG-1"]}, geometry=[Polygon(ring)], crs="EPSG:4326")

    document = read(write_geojson_rfc7946(table, tmp_path / "dup.geojson"))

    (_, written), *_ = rings(document["features"][0]["geometry"])
    assert len(written) == 5  # four corners, closed
    assert (
        validate_geometries(
            document, criteria_invalid=[], criteria_problematic=["duplicate_nodes"]
        )["problematic"]
        == {}
    )


def test_properties_are_json_safe_and_vietnamese_stays_readable(tmp_path: Path) -> None:
    square = shapely.box(588000, 1150000, 588100, 1150100)
    table = gpd.GeoDataFrame(
        {
            "parcel_id": ["AG-00001", "AG-00002"],
            "pest_name_vi": ["rầy nâu", "đạo ôn"],
            "risk_class_vi": ["trung bình", "cao"],
            "risk": np.array([0.4213, np.nan], dtype=np.float32),
            "risk_x100": [42.0, np.inf],
            "n_valid_px": np.array([12, 0], dtype=np.int64),
            "days_since_clear_obs": pd.array([None, 3], dtype="Int64"),
            "flag": np.array([True, False]),
            "forecast_date": [dt.date(2024, 5, 6), dt.date(2024, 5, 13)],
            "acquired_utc": pd.to_datetime(["2024-05-01T03:35:00Z", "NaT"]),
            "note": [None, "[1, 2]"],
        },
        geometry=[square, square],
        crs="EPSG:32648",
        index=pd.Index([7, 8], name="row"),
    )
    path = write_geojson_rfc7946(table, tmp_path / "props.geojson")

    first, second = (f["properties"] for f in read(path)["features"])
    assert first == {
        "parcel_id": "AG-00001",
        "pest_name_vi": "rầy nâu",
        "risk_class_vi": "trung bình",
        "risk": pytest.approx(0.4213),
        "risk_x100": 42.0,
        "n_valid_px": 12,
        "days_since_clear_obs": None,
        "flag": True,
        "forecast_date": "2024-05-06",
        "acquired_utc": "2024-05-01T03:35:00Z",
        "note": None,
    }
    assert list(first) == [c for c in table.columns if c != "geometry"]  # column order, no index
    assert [type(first[k]) for k in ("risk_x100", "n_valid_px", "flag")] == [float, int, bool]
    assert second["risk"] is None
    assert second["risk_x100"] is None  # inf, which GDAL alone would silently leave out
    assert second["days_since_clear_obs"] == 3
    assert second["acquired_utc"] is None
    assert second["pest_name_vi"] == "đạo ôn"
    assert second["note"] == "[1, 2]"  # text that looks like JSON stays text
    raw = path.read_bytes()
    assert "rầy nâu".encode() in raw
    assert b"\\u" not in raw
    assert b"NaN" not in raw
    assert b"Infinity" not in raw


def test_missing_and_empty_geometries_are_null(tmp_path: Path) -> None:
    square = shapely.box(588000, 1150000, 588100, 1150100)
    table = gpd.GeoDataFrame(
        {"parcel_id": ["a", "b", "c"]}, geometry=[square, None, Polygon()], crs="EPSG:32648"
    )

    document = read(write_geojson_rfc7946(table, tmp_path / "nulls.geojson"))

    assert [f["geometry"] is None for f in document["features"]] == [False, True, True]
    assert validate_structure(document, check_crs=True) == {}


def test_an_empty_table_gives_an_empty_collection(tmp_path: Path) -> None:
    table = gpd.GeoDataFrame({"parcel_id": []}, geometry=[], crs="EPSG:32648")

    document = read(write_geojson_rfc7946(table, tmp_path / "empty.geojson"))

    assert document["type"] == "FeatureCollection"
    assert document["features"] == []
    assert "bbox" not in document


def test_output_is_deterministic(parcels: gpd.GeoDataFrame, tmp_path: Path) -> None:
    one = write_geojson_rfc7946(parcels, tmp_path / "a.geojson").read_bytes()
    two = write_geojson_rfc7946(parcels.copy(), tmp_path / "b.geojson").read_bytes()
    assert one == two  # nor does the file name (GDAL's layer name) leak into the bytes
    # No member that could carry a time stamp, a layer name or a CRS.
    assert set(json.loads(one)) == {"type", "xy_coordinate_resolution", "bbox", "features"}


@pytest.mark.parametrize(
    ("make_column", "culprit"),
    [
        (lambda t: t.geometry.centroid, r"a value of type Point"),  # a second geometry
        (lambda t: [["rầy nâu", "đạo ôn"]] * len(t), r"a value of type list \(\['rầy nâu'"),
        (lambda t: [{"risk": 0.4}] * len(t), r"a value of type dict"),
        (lambda t: pd.Series(["x", *range(1, len(t))], dtype=object), r"a value of type int"),
        (lambda t: pd.to_timedelta(np.arange(len(t)), unit="D"), r"timedelta64\[\w+\] values"),
        (lambda t: np.arange(len(t), dtype=np.uint64), r"uint64 values"),
    ],
    ids=["geometry", "list", "dict", "object-int", "timedelta", "uint64"],
)
def test_unpublishable_property_fails_and_keeps_the_previous_file(
    parcels: gpd.GeoDataFrame,
    tmp_path: Path,
    make_column: Callable[[gpd.GeoDataFrame], Any],
    culprit: str,
) -> None:
    path = write_geojson_rfc7946(parcels, tmp_path / "map.geojson")
    before = path.read_bytes()
    broken = parcels.assign(extra=make_column(parcels))

    with pytest.raises(PublishError, match=rf"column 'extra' holds {culprit}") as caught:
        write_geojson_rfc7946(broken, path)

    assert "convert it to text or a number" in str(caught.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.geojson"]


def test_repeated_property_names_are_refused(tmp_path: Path) -> None:
    square = shapely.box(588000, 1150000, 588100, 1150100)
    table = gpd.GeoDataFrame({"1": ["a"], 1: ["b"]}, geometry=[square], crs="EPSG:32648")
    with pytest.raises(PublishError, match=r"property names repeat: \['1'\]"):
        write_geojson_rfc7946(table, tmp_path / "x.geojson")


WRITE_WITH_SIZE_LIMIT = textwrap.dedent(
    """
    import resource, signal, sys
    from pathlib import Path
    import geopandas as gpd
    from pestcast.core.errors import PublishError
    from pestcast.flows.publish import write_geojson_rfc7946

    parcels = gpd.read_file(sys.argv[1])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails (EFBIG)
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[3]), hard))
    try:
        write_geojson_rfc7946(parcels, Path(sys.argv[2]))
    except PublishError as error:
        print(error)
        sys.exit(3)
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs POSIX resource limits")
@pytest.mark.parametrize("bytes_short", [None, 64], ids=["early", "in-the-last-bytes"])
def test_a_write_failing_midway_leaves_the_previous_file_intact(
    tmp_path: Path, bytes_short: int | None
) -> None:
    small = gpd.read_file(PARCELS).head(3)
    path = write_geojson_rfc7946(small, tmp_path / "map.geojson")
    before = path.read_bytes()
    full_size = len(write_geojson_rfc7946(gpd.read_file(PARCELS), tmp_path / "x.json").read_bytes())
    (tmp_path / "x.json").unlink()
    # A real I/O failure part-way through: the process may not write files past the limit.
    # Failing in the last bytes is the case GDAL alone would not report (it ignores a failed
    # flush when closing the file), leaving a truncated map.
    limit = 2048 if bytes_short is None else full_size - bytes_short

    result = subprocess.run(
        [sys.executable, "-c", WRITE_WITH_SIZE_LIMIT, str(PARCELS), str(path), str(limit)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 3, result.stderr
    assert "cannot write" in result.stdout
    assert str(path) in result.stdout
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.geojson"]  # no temporary left


def test_table_without_crs_is_refused(tmp_path: Path) -> None:
    table = gpd.GeoDataFrame({"parcel_id": ["x"]}, geometry=[shapely.box(0, 0, 1, 1)])
    with pytest.raises(PublishError, match=r"x\.geojson: the table has no CRS"):
        write_geojson_rfc7946(table, tmp_path / "x.geojson")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("precision", [-1, 16, 6.0])
def test_bad_precision_is_refused(
    parcels: gpd.GeoDataFrame, tmp_path: Path, precision: Any
) -> None:
    with pytest.raises(ConfigError, match=r"precision .* must be 0–15 decimals"):
        write_geojson_rfc7946(parcels, tmp_path / "x.geojson", precision=precision)
    assert not list(tmp_path.iterdir())


def test_latest_link_is_relative_and_moves_to_the_newest_folder(tmp_path: Path) -> None:
    output_root = tmp_path / "outputs" / "demo"
    older, newer = output_root / "2024-05-06", output_root / "2024-05-13"
    for folder in (older, newer):
        folder.mkdir(parents=True)
        (folder / "risk_map.geojson").write_text(folder.name)

    update_latest_link(output_root, older)
    link = update_latest_link(output_root, newer)

    assert link == output_root / "latest"
    assert link.is_symlink()
    assert link.readlink() == Path("2024-05-13")
    assert (link / "risk_map.geojson").read_text() == "2024-05-13"
    moved = tmp_path / "moved"
    (tmp_path / "outputs").rename(moved)  # a relative link survives moving the tree
    assert (moved / "demo" / "latest" / "risk_map.geojson").read_text() == "2024-05-13"
