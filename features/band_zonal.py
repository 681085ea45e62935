"""Per-band parcel statistics of any raster, reduced block by block (``pestcast zonal``).

Two rules decide which pixels belong to a parcel:

* pixel centres (the default): a pixel counts, with weight 1, when its centre lies inside the
  parcel (GDAL's rasterization rule, the one of ``rasterstats`` with ``all_touched=False``);
* coverage (``exact=True``): every pixel the parcel touches counts with the fraction of its area
  inside the parcel (0–1), computed by ``exactextract``; statistics are then weighted the way
  exactextract weights them.

Parcels that share area are put in different *layers*, each rasterized into its own label raster,
so a pixel centre inside two parcels counts for both and no result depends on parcel order. Each
band is reduced with its own validity mask: a pixel that is nodata in one band still counts in
the others.

Blocks arrive in row-major order. A parcel's pixel values are kept only until the blocks have
passed its last row, then reduced and dropped: memory holds one block plus the pixels of the
parcels that cross the current row of blocks, whatever the size of the raster.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from affine import Affine
from shapely.geometry.base import BaseGeometry

from pestcast.core.errors import ConfigError, DataError, ParcelError
from pestcast.features.zonal import burn_polygons

__all__ = [
    "DEFAULT_STATISTICS",
    "STATISTICS",
    "ParcelCells",
    "ParcelLayers",
    "RasterBlock",
    "band_zonal_stats",
    "buffer_parcels",
    "coverage_cells",
    "grouped_statistics",
    "parcel_label_layers",
    "parcel_layers",
    "parcels_outside",
    "parse_statistics",
    "pixel_centre_cells",
    "polygonal_parcels",
    "statistic_quantile",
]

STATISTICS = ("count", "mean", "std", "min", "max", "sum", "median")
"""Statistic names besides percentiles ``pNN`` (0–100, e.g. ``p10``, ``p2.5``)."""

DEFAULT_STATISTICS = ("mean", "std", "count", "p10", "median", "p90")
"""What ``pestcast zonal`` computes unless told otherwise."""

_PERCENTILE = re.compile(r"p(\d{1,3}(?:\.\d+)?)")

OnInvalid = Literal["repair", "reject"]


# --- statistics names -------------------------------------------------------------------------


def parse_statistics(names: str | Sequence[str], *, what: str = "stats") -> tuple[str, ...]:
    """Statistic names from ``"mean,std,p10"`` or a sequence: lower-cased, checked, deduplicated.

    ``what`` names the setting in the error message (e.g. ``"--stats"``).
    """
    items = names.split(",") if isinstance(names, str) else list(names)
    cleaned = [item.strip().lower() for item in items if item.strip()]
    if not cleaned:
        raise ConfigError(f"{what} is empty; give e.g. {','.join(DEFAULT_STATISTICS)}")
    for name in cleaned:
        if name not in STATISTICS and statistic_quantile(name) is None:
            raise ConfigError(
                f"{what}: {name!r} is not a statistic; choose from {', '.join(STATISTICS)} or "
                "pNN, a percentile from 0 to 100 such as p10"
            )
    return tuple(dict.fromkeys(cleaned))


def statistic_quantile(name: str) -> float | None:
    """The quantile (0–1) a statistic stands for: 0.5 for ``median``, NN/100 for ``pNN``."""
    if name == "median":
        return 0.5
    match = _PERCENTILE.fullmatch(name)
    if match is None or float(match[1]) > 100:
        return None
    return float(match[1]) / 100


# --- parcel geometry --------------------------------------------------------------------------


def polygonal_parcels(
    geometries: Sequence[BaseGeometry | None] | npt.NDArray[np.object_],
    ids: Sequence[object],
    *,
    on_invalid: OnInvalid = "repair",
) -> tuple[npt.NDArray[np.object_], list[object]]:
    """Parcels as valid polygons, and the ids of the parcels that were repaired.

    Invalid polygons are repaired with ``make_valid(method="structure")`` keeping the polygonal
    parts (``buffer(0)`` silently drops parts), or refused with ``on_invalid="reject"``. A
    multipolygon stays one parcel. Missing or non-polygonal geometries are refused either way.
    """
    polygons = np.asarray(geometries, dtype=object)
    ids = list(ids)
    missing = [pid for pid, g in zip(ids, polygons, strict=True) if g is None]
    if missing:
        raise ParcelError(f"parcels {_listed(missing)} have no geometry; add or drop them")
    kinds = shapely.get_type_id(polygons)
    not_polygons = [pid for pid, kind in zip(ids, kinds, strict=True) if kind not in (3, 6, 7)]
    if not_polygons:
        raise ParcelError(
            f"parcels {_listed(not_polygons)} are not polygons (points or lines); "
            "zonal statistics need polygons"
        )
    invalid = np.flatnonzero(~shapely.is_valid(polygons))
    if invalid.size and on_invalid == "reject":
        reasons = shapely.is_valid_reason(polygons[invalid])
        named = [f"{ids[i]} ({reason})" for i, reason in zip(invalid, reasons, strict=True)]
        raise ParcelError(
            f"parcels {_listed(named)} have invalid geometry; fix them, or repair them with "
            "shapely.make_valid (on_invalid='repair', on the command line --on-invalid repair)"
        )
    polygons[invalid] = [_polygonal_part(g) for g in _make_valid(polygons[invalid])]
    return polygons, [ids[i] for i in invalid]


def _make_valid(polygons: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    repaired: npt.NDArray[np.object_] = shapely.make_valid(
        polygons, method="structure", keep_collapsed=False
    )
    return repaired


def _polygonal_part(geometry: BaseGeometry) -> BaseGeometry:
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    parts = [
        part
        for part in getattr(geometry, "geoms", [geometry])
        if part.geom_type in ("Polygon", "MultiPolygon")
    ]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def buffer_parcels(geometries: npt.NDArray[np.object_], distance: float) -> npt.NDArray[np.object_]:
    """Parcels grown by ``distance`` (CRS units), or shrunk when it is negative.

    A parcel narrower than twice a negative distance becomes empty (and then has no pixels).
    """
    if not math.isfinite(distance):
        raise ConfigError(f"buffer distance {distance} is not a finite number")
    if distance == 0:
        return geometries
    buffered: npt.NDArray[np.object_] = shapely.buffer(geometries, distance)
    return buffered


def parcels_outside(
    geometries: npt.NDArray[np.object_], *, transform: Affine, shape: tuple[int, int]
) -> npt.NDArray[np.bool_]:
    """Which parcels share no area with the raster of ``shape`` (rows, cols) at ``transform``.

    An empty parcel is not outside: it is nowhere.
    """
    rows, cols = shape
    west, east = sorted((transform.c, transform.c + cols * transform.a))
    south, north = sorted((transform.f, transform.f + rows * transform.e))
    extent = shapely.box(west, south, east, north)
    inside = shapely.relate_pattern(geometries, extent, "2********")
    outside: npt.NDArray[np.bool_] = ~inside & ~shapely.is_empty(geometries)
    return outside


def _listed(values: Sequence[object], limit: int = 10) -> str:
    shown = ", ".join(str(value) for value in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


# --- overlaps and label rasters ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ParcelLayers:
    """Parcels split into layers whose members share no area with one another."""

    geometries: npt.NDArray[np.object_]
    """Polygons in the raster CRS, one per parcel position; an empty one has no pixels."""
    layer: npt.NDArray[np.intp]
    """Layer of each parcel position (0 for every parcel that overlaps no other)."""
    overlapping: npt.NDArray[np.intp]
    """(k, 2) positions of the pairs of parcels that share area, the smaller first."""

    @property
    def n_layers(self) -> int:
        """How many label rasters the parcels need (0 without parcels)."""
        return int(self.layer.max()) + 1 if self.layer.size else 0


def parcel_layers(geometries: Sequence[BaseGeometry] | npt.NDArray[np.object_]) -> ParcelLayers:
    """Parcels split so that parcels sharing area fall in different layers (greedy colouring).

    Parcels that only touch (a shared edge) stay in one layer: a pixel centre on the edge goes
    to one of them by GDAL's rule, as it would without the other.
    """
    polygons = np.asarray(geometries, dtype=object)
    if polygons.size >= np.iinfo(np.int32).max:
        raise DataError(f"{polygons.size} parcels do not fit an int32 label raster")
    pairs = _overlapping_pairs(polygons)
    return ParcelLayers(polygons, _greedy_layers(polygons.size, pairs), pairs)


def _overlapping_pairs(polygons: npt.NDArray[np.object_]) -> npt.NDArray[np.intp]:
    left, right = shapely.STRtree(polygons).query(polygons, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    shared = shapely.relate_pattern(polygons[left], polygons[right], "2********")
    return np.column_stack([left[shared], right[shared]]).astype(np.intp)


def _greedy_layers(n_parcels: int, pairs: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
    layer = np.zeros(n_parcels, dtype=np.intp)
    neighbours: defaultdict[int, list[int]] = defaultdict(list)
    for first, second in pairs.tolist():
        neighbours[second].append(first)
    for parcel in sorted(neighbours):  # every earlier neighbour already has its layer
        taken = {int(layer[other]) for other in neighbours[parcel]}
        layer[parcel] = next(k for k in itertools.count() if k not in taken)
    return layer


def parcel_label_layers(
    layers: ParcelLayers,
    *,
    transform: Affine,
    shape: tuple[int, int],
    positions: npt.NDArray[np.intp] | None = None,
) -> npt.NDArray[np.int32]:
    """Label rasters (layers, rows, cols): in each, 0 = no parcel, ``i + 1`` = parcel ``i``.

    The pixel-centre rule; ``positions`` limits the parcels burnt (those near a block) and
    ``transform`` is the transform of the raster (or block) of ``shape``.
    """
    chosen = np.arange(layers.geometries.size) if positions is None else np.asarray(positions)
    labels = np.zeros((layers.n_layers, *shape), dtype=np.int32)
    for k in range(layers.n_layers):
        members = chosen[layers.layer[chosen] == k]
        labels[k] = burn_polygons(
            layers.geometries[members], members + 1, transform=transform, shape=shape
        )
    return labels


# --- parcel cells -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ParcelCells:
    """Which cells of a raster (or block) belong to which parcel, and how much."""

    parcel: npt.NDArray[np.intp]
    """Parcel position of each membership."""
    cell: npt.NDArray[np.intp]
    """Flat (row-major) index of the cell in the raster or block."""
    weight: npt.NDArray[np.float64]
    """1 for a pixel centre inside; the covered fraction of the cell (0–1] for coverage."""


def pixel_centre_cells(
    layers: ParcelLayers,
    *,
    transform: Affine,
    shape: tuple[int, int],
    positions: npt.NDArray[np.intp] | None = None,
) -> ParcelCells:
    """The cells whose centre lies inside each parcel (a cell may belong to several)."""
    labels = parcel_label_layers(layers, transform=transform, shape=shape, positions=positions)
    flat = labels.reshape(labels.shape[0], -1)
    layer, cell = np.nonzero(flat)
    parcel = flat[layer, cell].astype(np.intp) - 1
    return ParcelCells(parcel, cell.astype(np.intp), np.ones(cell.size, dtype=np.float64))


def coverage_cells(
    geometries: npt.NDArray[np.object_],
    *,
    transform: Affine,
    shape: tuple[int, int],
    positions: npt.NDArray[np.intp] | None = None,
) -> ParcelCells:
    """The cells each parcel covers, with the covered fraction of each cell (exactextract)."""
    chosen = np.arange(geometries.size) if positions is None else np.asarray(positions)
    chosen = chosen[~shapely.is_empty(geometries[chosen])]
    if chosen.size == 0:
        return _no_cells()
    rows = _exact_extract(geometries[chosen], transform, shape)
    cells = [np.asarray(row["properties"]["cell_id"], dtype=np.intp) for row in rows]
    weights = [np.asarray(row["properties"]["coverage"], dtype=np.float64) for row in rows]
    parcel = np.repeat(chosen, [c.size for c in cells]).astype(np.intp)
    return ParcelCells(parcel, np.concatenate(cells), np.concatenate(weights))


def _no_cells() -> ParcelCells:
    return ParcelCells(np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0, np.float64))


def _exact_extract(
    polygons: npt.NDArray[np.object_], transform: Affine, shape: tuple[int, int]
) -> list[dict[str, Any]]:
    """exactextract's ``cell_id`` and ``coverage`` of each polygon on a grid (no values read)."""
    try:
        from exactextract import exact_extract  # type: ignore[import-untyped]
        from exactextract.feature import JSONFeatureSource  # type: ignore[import-untyped]
        from exactextract.raster import NumPyRasterSource  # type: ignore[import-untyped]
    except ImportError as error:
        raise ConfigError(
            f"coverage-weighted statistics need the exactextract package ({error}); "
            "install it with `pip install exactextract`"
        ) from error
    rows, cols = shape
    west, north = transform.c, transform.f
    grid = NumPyRasterSource(
        np.zeros(shape, dtype=np.uint8),
        west,
        north + rows * transform.e,
        west + cols * transform.a,
        north,
    )
    features = [
        {"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(polygon)}
        for polygon in polygons
    ]
    found: list[dict[str, Any]] = exact_extract(
        grid, JSONFeatureSource(features), ["cell_id", "coverage"], output="geojson"
    )
    return found


# --- statistics of (parcel, value, weight) triples ----------------------------------------------


def grouped_statistics(
    parcel: npt.NDArray[np.intp],
    values: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64],
    stats: Sequence[str],
    *,
    merge_ties: bool = False,
) -> tuple[npt.NDArray[np.intp], dict[str, npt.NDArray[np.float64]]]:
    """Weighted statistics per parcel; returns the parcels present (ascending) and the columns.

    ``count`` is the sum of weights, ``mean`` and ``sum`` weighted, ``std`` the weighted
    population standard deviation, ``min``/``max`` plain. Quantiles follow exactextract's
    weighted definition, which with unit weights is numpy's default (linear, "type 7")
    quantile; ``merge_ties=True`` first merges equal values of a parcel into one weighted
    value, as exactextract does, and is for coverage weights.
    """
    order = np.lexsort((weights, values, parcel))  # one order whatever the block layout
    groups = _Groups(parcel[order], values[order], weights[order])
    ranked = groups.merged_ties() if merge_ties else groups
    columns: dict[str, npt.NDArray[np.float64]] = {}
    for name in stats:
        q = statistic_quantile(name)
        columns[name] = groups.moment(name) if q is None else ranked.quantile(q)
    return groups.parcels, columns


class _Groups:
    """(parcel, value, weight) triples sorted by parcel, then value."""

    def __init__(
        self,
        parcel: npt.NDArray[np.intp],
        values: npt.NDArray[np.float64],
        weights: npt.NDArray[np.float64],
    ) -> None:
        self.values, self.weights = values, weights
        self.starts = np.flatnonzero(np.diff(parcel, prepend=-1))
        self.parcels = parcel[self.starts]
        self.sizes = np.diff(np.append(self.starts, parcel.size))
        self.group_of = np.repeat(np.arange(self.starts.size), self.sizes)

    def _sum(self, array: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if array.size == 0:
            return np.zeros(0, dtype=np.float64)
        total: npt.NDArray[np.float64] = np.add.reduceat(array, self.starts)
        return total

    def moment(self, name: str) -> npt.NDArray[np.float64]:
        x, w = self.values, self.weights
        total = self._sum(w)
        if name == "count":
            return total
        if name == "min":
            return x[self.starts]
        if name == "max":
            return x[self.starts + self.sizes - 1]
        weighted_sum = self._sum(w * x)
        if name == "sum":
            return weighted_sum
        mean = weighted_sum / total
        if name == "mean":
            return mean
        return np.sqrt(self._sum(w * (x - mean[self.group_of]) ** 2) / total)

    def merged_ties(self) -> _Groups:
        """Equal values of a parcel merged into one value weighted by their total weight."""
        x = self.values
        new_value = np.diff(x, prepend=np.nan) != 0
        starts = np.flatnonzero(new_value | (np.diff(self.group_of, prepend=-1) != 0))
        merged = np.add.reduceat(self.weights, starts) if starts.size else self.weights
        return _Groups(self.parcels[self.group_of[starts]], x[starts], merged)

    def quantile(self, q: float) -> npt.NDArray[np.float64]:
        """exactextract's weighted quantile (WeightedQuantiles::quantile), per parcel."""
        x, w, starts, sizes, group_of = (
            self.values,
            self.weights,
            self.starts,
            self.sizes,
            self.group_of,
        )
        cumulative = np.cumsum(w)
        before = cumulative - w  # total weight of the earlier values of the same parcel
        before -= before[starts][group_of]
        rank = np.arange(x.size) - starts[group_of]
        s = rank * w + (sizes[group_of] - 1) * before
        target = q * self._sum(w) * (sizes - 1)
        below = np.bincount(group_of, weights=s <= target[group_of], minlength=starts.size)
        lower = starts + np.maximum(below.astype(np.intp), 1) - 1
        last = starts + sizes - 1
        upper = np.minimum(lower + 1, last)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = (target - s[lower]) * (x[upper] - x[lower]) / (s[upper] - s[lower])
        result: npt.NDArray[np.float64] = np.where(lower == last, x[lower], x[lower] + step)
        return result


# --- blocks -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RasterBlock:
    """One window of every band of a raster."""

    row_off: int
    """Raster row of the block's first row."""
    col_off: int
    """Raster column of the block's first column."""
    data: npt.NDArray[np.float64]
    """(bands, rows, cols) pixel values."""
    valid: npt.NDArray[np.bool_]
    """(bands, rows, cols): False where that band is nodata or masked. NaN never counts."""


def band_zonal_stats(
    blocks: Iterable[RasterBlock],
    layers: ParcelLayers,
    *,
    transform: Affine,
    band_names: Sequence[str],
    stats: Sequence[str] = DEFAULT_STATISTICS,
    exact: bool = False,
) -> pd.DataFrame:
    """One row per parcel position, columns ``{band}_{stat}`` in band order, then stat order.

    ``blocks`` tile the raster (north-up ``transform``) in row-major order, each pixel in one
    block. A parcel without a valid pixel of a band (outside the raster, smaller than a pixel,
    or nodata there) has count 0 and NaN statistics for it. ``count`` is the number of valid
    pixels (an integer), or with ``exact`` the sum of their covered fractions.
    """
    reducer = _BlockReducer(layers, transform, band_names, parse_statistics(stats), exact=exact)
    for block in blocks:
        reducer.add(block)
    return reducer.table()


class _PendingValues:
    """The valid (parcel, value, weight) triples of one band not reduced yet."""

    def __init__(self) -> None:
        self.parts: list[tuple[npt.NDArray[Any], ...]] = []

    def add(
        self, cells: ParcelCells, values: npt.NDArray[np.float64], valid: npt.NDArray[np.bool_]
    ) -> None:
        pixel_values = values.ravel()[cells.cell]
        keep = valid.ravel()[cells.cell] & np.isfinite(pixel_values)
        self.parts.append((cells.parcel[keep], pixel_values[keep], cells.weight[keep]))

    def take(self, done: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[Any], ...]:
        """Remove and return the triples of the parcels marked ``done``."""
        if not self.parts:
            return _no_cells().parcel, np.zeros(0), np.zeros(0)
        parcel, values, weights = (
            np.concatenate(column) for column in zip(*self.parts, strict=True)
        )
        finished = done[parcel]
        self.parts = [(parcel[~finished], values[~finished], weights[~finished])]
        return parcel[finished], values[finished], weights[finished]


class _BlockReducer:
    """Feeds blocks to the pending values and reduces each parcel once blocks pass its rows."""

    def __init__(
        self,
        layers: ParcelLayers,
        transform: Affine,
        band_names: Sequence[str],
        stats: tuple[str, ...],
        *,
        exact: bool,
    ) -> None:
        _require_north_up(transform)
        self.layers, self.transform, self.stats, self.exact = layers, transform, stats, exact
        self.band_names = list(band_names)
        self.tree = shapely.STRtree(layers.geometries)
        self.last_row = _last_rows(layers.geometries, transform)
        self.pending = [_PendingValues() for _ in self.band_names]
        self.columns = {
            f"{band}_{stat}": np.zeros(layers.geometries.size)
            if stat == "count"
            else np.full(layers.geometries.size, np.nan)
            for band in self.band_names
            for stat in stats
        }
        self.done = np.zeros(layers.geometries.size, dtype=bool)
        self.row_off = 0

    def add(self, block: RasterBlock) -> None:
        self._check(block)
        if block.row_off > self.row_off:
            self._reduce(self.last_row < block.row_off)
            self.row_off = block.row_off
        cells = self._cells(block)
        if self.done[cells.parcel].any():
            raise DataError(
                f"the block at row {block.row_off}, column {block.col_off} holds pixels of "
                "parcels already reduced; give blocks in row-major order, each pixel in one block"
            )
        for band, pending in enumerate(self.pending):
            pending.add(cells, block.data[band], block.valid[band])

    def table(self) -> pd.DataFrame:
        self._reduce(np.ones(self.done.size, dtype=bool))
        table = pd.DataFrame(self.columns)
        if not self.exact:
            counts = [f"{band}_count" for band in self.band_names if "count" in self.stats]
            table[counts] = table[counts].astype(np.int64)
        return table

    def _check(self, block: RasterBlock) -> None:
        shape = np.shape(block.data)
        if len(shape) != 3 or shape[0] != len(self.band_names) or np.shape(block.valid) != shape:
            raise DataError(
                f"the block at row {block.row_off}, column {block.col_off} has values of shape "
                f"{shape} and a mask of shape {np.shape(block.valid)}; both must be (bands, "
                f"rows, cols) with {len(self.band_names)} bands"
            )
        if block.row_off < self.row_off:
            raise DataError(
                f"the block at row {block.row_off} comes after a block at row {self.row_off}; "
                "give blocks in row-major order"
            )

    def _cells(self, block: RasterBlock) -> ParcelCells:
        rows, cols = block.data.shape[1:]
        transform = self.transform @ Affine.translation(block.col_off, block.row_off)
        west, north = transform @ (0, 0)
        east, south = transform @ (cols, rows)
        near = self.tree.query(shapely.box(west, south, east, north)).astype(np.intp)
        if self.exact:
            return coverage_cells(
                self.layers.geometries, transform=transform, shape=(rows, cols), positions=near
            )
        return pixel_centre_cells(
            self.layers, transform=transform, shape=(rows, cols), positions=np.sort(near)
        )

    def _reduce(self, done: npt.NDArray[np.bool_]) -> None:
        for band, pending in zip(self.band_names, self.pending, strict=True):
            parcel, values, weights = pending.take(done)
            present, columns = grouped_statistics(
                parcel, values, weights, self.stats, merge_ties=self.exact
            )
            for stat, column in columns.items():
                self.columns[f"{band}_{stat}"][present] = column
        self.done |= done


def _require_north_up(transform: Affine) -> None:
    if not (transform.b == 0 and transform.d == 0 and transform.a > 0 and transform.e < 0):
        raise DataError(
            f"the raster's transform {tuple(transform)[:6]} is rotated or not north-up; warp "
            "the raster north-up first (e.g. `gdalwarp in.tif north_up.tif`)"
        )


def _last_rows(geometries: npt.NDArray[np.object_], transform: Affine) -> npt.NDArray[np.float64]:
    """The last raster row each parcel can reach (conservative); -1 for an empty parcel."""
    south = shapely.bounds(geometries)[:, 1]
    rows = np.floor((south - transform.f) / transform.e) + 1
    last: npt.NDArray[np.float64] = np.where(np.isnan(rows), -1.0, rows)
    return last
