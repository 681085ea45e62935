"""Per-band parcel statistics on synthetic rasters, where the math is the point: per-band masks,
overlapping parcels, invalid polygons, parcels outside, block-by-block = whole raster, and the
statistics against numpy, exactextract and shapely areas."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import shapely
from affine import Affine
from shapely.geometry import Polygon, box

from pestcast.core.errors import ConfigError, DataError, ParcelError
from pestcast.features.band_zonal import (
    DEFAULT_STATISTICS,
    RasterBlock,
    band_zonal_stats,
    buffer_parcels,
    coverage_cells,
    grouped_statistics,
    parcel_label_layers,
    parcel_layers,
    parcels_outside,
    parse_statistics,
    pixel_centre_cells,
    polygonal_parcels,
)

# 10 × 10 grid of 10 m pixels over x 0–100, y 0–100; pixel centres at 5, 15, … 95.
TRANSFORM = Affine(10.0, 0.0, 0.0, 0.0, -10.0, 100.0)
SHAPE = (10, 10)
BOWTIE = Polygon([(2, 1), (38, 39), (38, 1), (2, 39), (2, 1)])  # invalid: crosses itself at 20, 20


def blocks(
    data: npt.NDArray[np.float64], valid: npt.NDArray[np.bool_] | None = None, size: int = 10_000
) -> Iterator[RasterBlock]:
    """``data`` (bands, rows, cols) cut into ``size`` × ``size`` blocks, row-major."""
    valid = np.ones(data.shape, dtype=bool) if valid is None else valid
    rows, cols = data.shape[1:]
    for row in range(0, rows, size):
        for col in range(0, cols, size):
            window = np.s_[:, row : row + size, col : col + size]
            yield RasterBlock(row_off=row, col_off=col, data=data[window], valid=valid[window])


def stats_of(
    parcels: list[Any],
    data: npt.NDArray[np.float64],
    valid: npt.NDArray[np.bool_] | None = None,
    *,
    size: int = 10_000,
    transform: Affine = TRANSFORM,
    **options: Any,
) -> pd.DataFrame:
    names = [f"b{i}" for i in range(1, data.shape[0] + 1)]
    return band_zonal_stats(
        blocks(data, valid, size),
        parcel_layers(parcels),
        transform=transform,
        band_names=names,
        **options,
    )


def ramp(bands: int = 1) -> npt.NDArray[np.float64]:
    """Pixel (r, c) of band b holds 100 b + 10 r + c."""
    rows, cols = np.indices(SHAPE)
    return np.stack([100.0 * b + 10 * rows + cols for b in range(1, bands + 1)])


def test_each_band_has_its_own_mask() -> None:
    data = ramp(2)
    valid = np.ones(data.shape, dtype=bool)
    valid[0, 9, 0] = False  # band 1 nodata at the bottom-left pixel (value 190)
    data[1, 9, 1] = np.nan  # band 2 NaN at its neighbour (value 291)
    table = stats_of([box(0, 0, 20, 10)], data, valid, stats=["count", "mean", "min"])
    assert table.to_dict("records") == [
        {"b1_count": 1, "b1_mean": 191.0, "b1_min": 191.0}
        | {"b2_count": 1, "b2_mean": 290.0, "b2_min": 290.0}
    ]
    assert table["b1_count"].dtype == np.int64


def test_overlapping_parcels_both_count_and_order_does_not_matter() -> None:
    big, inside, crossing = box(0, 0, 50, 50), box(10, 10, 30, 30), box(40, 40, 70, 70)
    layers = parcel_layers([big, inside, crossing])
    assert layers.overlapping.tolist() == [[0, 1], [0, 2]]
    assert layers.layer.tolist() == [0, 1, 1]
    labels = parcel_label_layers(layers, transform=TRANSFORM, shape=SHAPE)
    assert labels.shape == (2, *SHAPE)
    table = stats_of([big, inside, crossing], ramp(), stats=["count", "mean"])
    assert table["b1_count"].tolist() == [25, 4, 9]  # the inner parcel is not swallowed
    assert table["b1_mean"].tolist() == [172.0, 176.5, 145.0]
    reordered = stats_of([crossing, inside, big], ramp(), stats=["count", "mean"])
    pd.testing.assert_frame_equal(reordered.iloc[::-1].reset_index(drop=True), table)


def test_parcels_sharing_only_an_edge_are_no_overlap() -> None:
    left, right = box(0, 0, 50, 50), box(50, 0, 100, 50)
    layers = parcel_layers([left, right])
    assert layers.overlapping.shape == (0, 2)
    assert layers.n_layers == 1
    cells = pixel_centre_cells(layers, transform=TRANSFORM, shape=SHAPE)
    assert np.bincount(cells.parcel).tolist() == [25, 25]


def test_an_invalid_bowtie_is_repaired_into_both_triangles() -> None:
    repaired, which = polygonal_parcels([box(60, 60, 80, 80), BOWTIE], ["A", "B"])
    assert which == ["B"]
    assert repaired[1].geom_type == "MultiPolygon"
    assert repaired[1].is_valid
    assert repaired[1].area == pytest.approx(2 * 18 * 38 / 2)
    table = stats_of(list(repaired), ramp(), stats=["count"])
    # Each triangle holds 4 centres in its outer column (x 5 or 35) and 2 in its inner one.
    assert table["b1_count"].tolist() == [4, 12]


def test_an_invalid_bowtie_is_rejected_naming_the_parcel_and_why() -> None:
    with pytest.raises(ParcelError, match=r"parcels B \(Self-intersection\[20 20\]\)"):
        polygonal_parcels([box(60, 60, 80, 80), BOWTIE], ["A", "B"], on_invalid="reject")


@pytest.mark.parametrize(
    ("geometry", "says"),
    [
        pytest.param(None, "have no geometry", id="missing"),
        pytest.param(shapely.LineString([(0, 0), (5, 5)]), "are not polygons", id="a-line"),
    ],
)
def test_geometries_that_are_no_polygons_are_refused(geometry: Any, says: str) -> None:
    with pytest.raises(ParcelError, match=f"parcels P7 {says}"):
        polygonal_parcels([box(0, 0, 1, 1), geometry], ["P1", "P7"])


def test_a_parcel_outside_the_raster_has_count_0_and_no_statistics() -> None:
    parcels = [box(0, 0, 20, 20), box(200, 200, 250, 250), box(96, 0, 130, 10), Polygon()]
    outside = parcels_outside(np.asarray(parcels), transform=TRANSFORM, shape=SHAPE)
    assert outside.tolist() == [False, True, False, False]  # empty is nowhere, not outside
    table = stats_of(parcels, ramp())
    assert table["b1_count"].tolist() == [4, 0, 0, 0]  # the third holds no pixel centre
    assert table.loc[1:, "b1_mean"].isna().all()
    assert list(table.columns) == [f"b1_{stat}" for stat in DEFAULT_STATISTICS]


def test_a_negative_buffer_keeps_edge_pixels_out_and_can_empty_a_parcel() -> None:
    field, narrow = box(1, 1, 51, 51), box(60, 0, 68, 50)
    shrunk = buffer_parcels(np.asarray([field, narrow]), -5.0)
    assert shapely.is_empty(shrunk).tolist() == [False, True]
    table = stats_of(list(shrunk), ramp(), stats=["count"])
    assert table["b1_count"].tolist() == [16, 0]
    with pytest.raises(ConfigError, match="not a finite number"):
        buffer_parcels(np.asarray([field]), float("nan"))


def random_parcels(seed: int, n: int = 40, extent: float = 300.0) -> list[Any]:
    """Random convex and concave polygons, some overlapping, some across the raster edge."""
    rng = np.random.default_rng(seed)
    parcels = []
    for _ in range(n):
        x, y = rng.uniform(-20, extent + 20, size=2)
        radius = rng.uniform(3, 60)
        angles = np.sort(rng.uniform(0, 2 * np.pi, size=rng.integers(3, 9)))
        radii = radius * rng.uniform(0.4, 1.0, size=angles.size)
        ring = np.column_stack([x + radii * np.cos(angles), y + radii * np.sin(angles)])
        parcels.append(shapely.make_valid(Polygon(ring)))
    return parcels


@pytest.mark.parametrize("exact", [False, True], ids=["pixel-centres", "coverage"])
@pytest.mark.parametrize("size", [1, 7, 16])
def test_block_by_block_equals_the_whole_raster(exact: bool, size: int) -> None:
    rng = np.random.default_rng(size)
    transform = Affine(10.0, 0.0, 0.0, 0.0, -10.0, 300.0)
    data = rng.integers(0, 50, size=(2, 30, 30)).astype(np.float64)  # ties, as in DN bands
    valid = rng.random(data.shape) > 0.1
    parcels = random_parcels(size)
    options: dict[str, Any] = {"transform": transform, "exact": exact}
    options["stats"] = ["count", "mean", "std", "min", "max", "sum", "p10", "median", "p90"]
    whole = stats_of(parcels, data, valid, **options)
    blocked = stats_of(parcels, data, valid, size=size, **options)
    assert whole["b1_count"].gt(0).sum() > 20
    if exact:  # coverage fractions of a cell computed in a block differ in the last bits
        pd.testing.assert_frame_equal(blocked, whole, rtol=1e-9, atol=1e-9)
    else:
        pd.testing.assert_frame_equal(blocked, whole, check_exact=True)


def test_blocks_out_of_order_are_refused() -> None:
    later_first = reversed(list(blocks(ramp(), size=5)))
    with pytest.raises(DataError, match="row-major order"):
        band_zonal_stats(
            later_first, parcel_layers([box(0, 0, 50, 50)]), transform=TRANSFORM, band_names=["b1"]
        )


def test_a_rotated_raster_is_refused() -> None:
    rotated = TRANSFORM @ Affine.rotation(10)
    with pytest.raises(DataError, match="rotated or not north-up; warp"):
        stats_of([box(0, 0, 50, 50)], ramp(), transform=rotated)


def test_unit_weights_give_numpy_statistics() -> None:
    rng = np.random.default_rng(5)
    parcel = rng.integers(0, 30, size=3000)
    values = rng.integers(0, 12, size=3000).astype(np.float64)
    names = ["count", "mean", "std", "min", "max", "sum", "median", "p10", "p2.5", "p90", "p100"]
    present, columns = grouped_statistics(parcel, values, np.ones(values.size), names)
    assert present.tolist() == list(range(30))
    for k in present:
        v = values[parcel == k]
        expected = [v.size, v.mean(), v.std(), v.min(), v.max(), v.sum(), np.median(v)]
        expected += list(np.percentile(v, [10, 2.5, 90, 100]))
        np.testing.assert_allclose([columns[n][k] for n in names], expected, rtol=1e-12, atol=1e-12)


def test_coverage_weighted_statistics_match_exactextract_called_directly() -> None:
    """exactextract on the whole grid at once, with ties (it merges equal values before its
    weighted quantiles, and so must we)."""
    from exactextract import exact_extract  # type: ignore[import-untyped]
    from exactextract.feature import JSONFeatureSource  # type: ignore[import-untyped]
    from exactextract.raster import NumPyRasterSource  # type: ignore[import-untyped]

    rng = np.random.default_rng(11)
    data = (rng.integers(0, 6, size=(30, 30)) + 0.25).astype(np.float64)  # floats stay floats
    parcels = random_parcels(3, n=25)
    features = [{"type": "Feature", "properties": {}, "geometry": p.__geo_interface__}
                for p in parcels]  # fmt: skip
    ops = ["count", "mean", "stdev", "min", "max", "quantile(q=0.1)", "median", "quantile(q=0.9)"]
    found = exact_extract(
        NumPyRasterSource(data, 0, 0, 300, 300), JSONFeatureSource(features), ops, output="geojson"
    )
    theirs = pd.DataFrame([feature["properties"] for feature in found])
    transform = Affine(10.0, 0.0, 0.0, 0.0, -10.0, 300.0)
    stats = ["count", "mean", "std", "min", "max", "p10", "median", "p90"]
    ours = stats_of(parcels, data[np.newaxis], transform=transform, stats=stats, exact=True)
    assert (theirs["count"] > 0).sum() > 15
    for stat, op in zip(stats, ["count", "mean", "stdev", "min", "max", "quantile_10", "median",
                                "quantile_90"], strict=True):  # fmt: skip
        np.testing.assert_allclose(ours[f"b1_{stat}"], theirs[op].astype(float), rtol=1e-12)


def test_coverage_weighted_means_match_areas_computed_with_shapely() -> None:
    rng = np.random.default_rng(2)
    data = rng.normal(0.4, 0.1, size=SHAPE)
    parcels = [Polygon([(3, 7), (61, 12), (48, 77), (9, 52)]), box(22.5, 33.3, 27.1, 38.9)]
    weights = np.zeros((len(parcels), *SHAPE))
    for r, c in np.ndindex(SHAPE):
        cell = box(c * 10, 90 - r * 10, c * 10 + 10, 100 - r * 10)
        weights[:, r, c] = [p.intersection(cell).area / 100 for p in parcels]
    expected = (weights * data).sum(axis=(1, 2)) / weights.sum(axis=(1, 2))
    table = stats_of(parcels, data[np.newaxis], stats=["count", "mean"], exact=True)
    np.testing.assert_allclose(table["b1_mean"], expected, rtol=1e-6)
    np.testing.assert_allclose(table["b1_count"], [p.area / 100 for p in parcels], rtol=1e-6)
    cells = coverage_cells(np.asarray(parcels), transform=TRANSFORM, shape=SHAPE)
    assert cells.weight.min() > 0
    assert cells.weight.max() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("given", "parsed"),
    [
        ("mean,std,count,p10,median,p90", ("mean", "std", "count", "p10", "median", "p90")),
        (" Mean , P2.5,mean, p100 ", ("mean", "p2.5", "p100")),
        (["min", "max", "sum"], ("min", "max", "sum")),
    ],
)
def test_statistic_names_are_parsed(given: Any, parsed: tuple[str, ...]) -> None:
    assert parse_statistics(given) == parsed


@pytest.mark.parametrize(
    ("given", "says"),
    [
        pytest.param("mean,avg", r"--stats: 'avg' is not a statistic; choose from count", id="avg"),
        pytest.param("p101", "'p101' is not a statistic", id="percentile-above-100"),
        pytest.param("p-5", "'p-5' is not a statistic", id="negative-percentile"),
        pytest.param(" , ", "--stats is empty; give e.g. mean,std", id="empty"),
    ],
)
def test_bad_statistic_names_are_refused(given: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_statistics(given, what="--stats")
