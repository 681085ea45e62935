"""The demo region's landscape: canals, villages and rice parcels in An Giang (Thoại Sơn).

The layout copies the Long Xuyên quadrangle: a rotated grid of main canals 1.5–2 km apart with
secondary canals every 400–600 m between them. Villages (houses and homestead trees) line one
bank of each main canal behind a road. Each block between canals is cut into two rows of narrow
strips that run from the secondary canals to a slightly tilted midline, with jittered corners, so
parcels are irregular quadrilaterals of 0.2–3 ha (median ~0.5 ha). The registered parcels are
the ``n_parcels`` strips that fit in the smallest square around the region centre; strips around
them are rice fields missing from the parcel file (they are still rendered, with their own crop
calendars, but carry no pests). Six communes in two districts are Voronoi cells of jittered seeds,
hence spatially contiguous.

All coordinates are metres in EPSG:32648 (UTM 48N).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

__all__ = [
    "CENTRE_XY",
    "COMMUNES",
    "CRS",
    "PROVINCE",
    "RegionLayout",
    "SceneGrid",
    "build_region_layout",
]

CRS = "EPSG:32648"
CENTRE_XY = (527_000.0, 1_138_600.0)
"""Region centre, metres (lon 105.25, lat 10.30: Thoại Sơn, An Giang)."""
PROVINCE = "An Giang"
COMMUNES: tuple[tuple[str, str], ...] = (
    ("Vĩnh Trạch", "Thoại Sơn"),
    ("Định Thành", "Thoại Sơn"),
    ("Vĩnh Khánh", "Thoại Sơn"),
    ("Thoại Giang", "Thoại Sơn"),
    ("Vĩnh Bình", "Châu Thành"),
    ("Vĩnh Hanh", "Châu Thành"),
)
"""(commune, district), west to east in pairs: the seeds sit on a 3 × 2 grid."""

CANAL_ANGLE_DEG = 37.0
"""Main canals run south-west → north-east (Rạch Giá–Long Xuyên direction), degrees from east."""
MAIN_CANAL_SPACING_M = (1500.0, 2000.0)
SECONDARY_CANAL_SPACING_M = (400.0, 600.0)
MAIN_CANAL_WIDTH_M = 30.0
SECONDARY_CANAL_WIDTH_M = 12.0
ROAD_WIDTH_M = 6.0
VILLAGE_WIDTH_M = (60.0, 130.0)
PARCEL_AREA_HA = (0.27, 2.6)
"""Drawn parcel area range before corner jitter (final areas stay within 0.2–3 ha)."""
PARCEL_MEDIAN_HA = 0.5
MARGIN_M = 200.0
"""Raster margin around the parcels' bounding box."""
COARSE_RES_M = 20.0


@dataclass(frozen=True)
class SceneGrid:
    """The raster grid of every scene: aligned to 20 m, covering the parcels plus a margin."""

    x_min: float
    """West edge, metres (a multiple of 20)."""
    y_max: float
    """North edge, metres (a multiple of 20)."""
    rows_20m: int
    cols_20m: int

    def shape(self, resolution_m: float) -> tuple[int, int]:
        """(rows, cols) at ``resolution_m`` (5, 10 or 20 m)."""
        factor = round(COARSE_RES_M / resolution_m)
        return self.rows_20m * factor, self.cols_20m * factor

    def transform(self, resolution_m: float) -> tuple[float, float, float, float, float, float]:
        """Affine coefficients (a, b, c, d, e, f) as in GDAL/rasterio order."""
        return (resolution_m, 0.0, self.x_min, 0.0, -resolution_m, self.y_max)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(x_min, y_min, x_max, y_max), metres."""
        return (
            self.x_min,
            self.y_max - self.rows_20m * COARSE_RES_M,
            self.x_min + self.cols_20m * COARSE_RES_M,
            self.y_max,
        )


@dataclass(frozen=True)
class RegionLayout:
    """Everything drawn on the map; fields ``0 … n_parcels − 1`` are the registered parcels."""

    parcels: gpd.GeoDataFrame
    """Registered parcels: parcel_id, commune, district, province, area_ha, geometry."""
    field_polygons: npt.NDArray[np.object_]
    """Every rice strip rendered (registered parcels first, in parcel_id order)."""
    field_block: npt.NDArray[np.int32]
    """Canal block of each field (fields of one block share sowing habits)."""
    field_compartment: npt.NDArray[np.int32]
    """Dyke compartment of each field (two neighbouring blocks): decides the third crop."""
    parcel_commune: npt.NDArray[np.int32]
    """Index into ``COMMUNES`` for each registered parcel."""
    water: npt.NDArray[np.object_]
    roads: npt.NDArray[np.object_]
    villages: npt.NDArray[np.object_]
    houses: npt.NDArray[np.object_]
    grid: SceneGrid

    @property
    def n_parcels(self) -> int:
        return len(self.parcels)

    @property
    def n_fields(self) -> int:
        return len(self.field_polygons)


class _Frame:
    """Canal-aligned coordinates: ``a`` along the main canals, ``b`` across them (metres)."""

    def __init__(self, centre: tuple[float, float], angle_deg: float) -> None:
        self.cx, self.cy = centre
        self.cos = math.cos(math.radians(angle_deg))
        self.sin = math.sin(math.radians(angle_deg))

    def to_xy(
        self, a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """Stack of (x, y) with a trailing axis of 2."""
        x = self.cx + a * self.cos - b * self.sin
        y = self.cy + a * self.sin + b * self.cos
        return np.stack([x, y], axis=-1)

    def rectangles(
        self,
        a_lo: npt.NDArray[np.float64],
        a_hi: npt.NDArray[np.float64],
        b_lo: npt.NDArray[np.float64],
        b_hi: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.object_]:
        """Polygons of frame-aligned rectangles (rotated in map coordinates)."""
        a = np.stack([a_lo, a_hi, a_hi, a_lo], axis=-1)
        b = np.stack([b_lo, b_lo, b_hi, b_hi], axis=-1)
        polygons: npt.NDArray[np.object_] = shapely.polygons(self.to_xy(a, b))
        return polygons


@dataclass(frozen=True)
class _Network:
    """Canal positions in the frame, metres."""

    main_b: npt.NDArray[np.float64]
    secondary_a: npt.NDArray[np.float64]
    village_width: npt.NDArray[np.float64]
    """(main canal, secondary segment) → village band width."""


def build_region_layout(n_parcels: int, rng: np.random.Generator) -> RegionLayout:
    """Draw the canal network, villages and strips, and register the ``n_parcels`` central ones."""
    frame = _Frame(CENTRE_XY, CANAL_ANGLE_DEG)
    half_extent = _generation_half_extent(n_parcels)
    network = _draw_network(half_extent, rng)
    strips, blocks = _draw_strips(frame, network, rng)
    chosen = _central_strips(strips, n_parcels)
    communes = _assign_communes(strips[chosen], rng)
    order = np.lexsort((chosen, communes))
    chosen, communes = chosen[order], communes[order]
    grid = _scene_grid(strips[chosen])
    others = _fields_on_grid(strips, chosen, grid)
    fields = np.concatenate([chosen, others])
    water, roads, villages = _canal_features(frame, network, half_extent)
    return RegionLayout(
        parcels=_parcel_table(strips[chosen], communes),
        field_polygons=strips[fields],
        field_block=blocks[fields].astype(np.int32),
        field_compartment=_compartments(blocks[fields], len(network.secondary_a)),
        parcel_commune=communes.astype(np.int32),
        water=water,
        roads=roads,
        villages=villages,
        houses=_houses(frame, network, rng),
        grid=grid,
    )


def _generation_half_extent(n_parcels: int) -> float:
    """Half-size of the square drawn around the centre: room for the parcels and the margin."""
    rice_ha = n_parcels * PARCEL_MEDIAN_HA * 1.25 / 0.8
    return 0.5 * math.sqrt(rice_ha * 10_000.0) * 1.6 + 1500.0


def _spaced(
    lo: float, hi: float, spacing: tuple[float, float], rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """Positions from below ``lo`` to above ``hi`` with uniform random spacing."""
    positions = [lo - rng.uniform(*spacing)]
    while positions[-1] <= hi:
        positions.append(positions[-1] + rng.uniform(*spacing))
    return np.asarray(positions)


def _draw_network(half_extent: float, rng: np.random.Generator) -> _Network:
    reach = half_extent * math.sqrt(2.0)
    main_b = _spaced(-reach, reach, MAIN_CANAL_SPACING_M, rng)
    secondary_a = _spaced(-reach, reach, SECONDARY_CANAL_SPACING_M, rng)
    village_width = rng.uniform(*VILLAGE_WIDTH_M, size=(len(main_b), len(secondary_a)))
    return _Network(main_b, secondary_a, village_width)


def _draw_strips(
    frame: _Frame, network: _Network, rng: np.random.Generator
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.int64]]:
    """All rice strips of every block, with the block index of each."""
    polygons: list[npt.NDArray[np.object_]] = []
    block_ids: list[npt.NDArray[np.int64]] = []
    n_segments = len(network.secondary_a) - 1
    for k in range(len(network.main_b) - 1):
        for j in range(n_segments):
            block = _block_strips(frame, network, k, j, rng)
            polygons.append(block)
            block_ids.append(np.full(len(block), k * n_segments + j))
    return np.concatenate(polygons), np.concatenate(block_ids)


def _block_strips(
    frame: _Frame, network: _Network, k: int, j: int, rng: np.random.Generator
) -> npt.NDArray[np.object_]:
    """Two rows of strips between secondary canals ``j``, ``j+1`` and main canals ``k``, ``k+1``."""
    b_lo = (
        network.main_b[k]
        + MAIN_CANAL_WIDTH_M / 2
        + ROAD_WIDTH_M
        + network.village_width[k, j]
        + 3.0
    )
    b_hi = network.main_b[k + 1] - MAIN_CANAL_WIDTH_M / 2 - 4.0
    a_lo = network.secondary_a[j] + SECONDARY_CANAL_WIDTH_M / 2 + 2.0
    a_hi = network.secondary_a[j + 1] - SECONDARY_CANAL_WIDTH_M / 2 - 2.0
    midline = (0.5 * (a_lo + a_hi) + rng.normal(0.0, 12.0), rng.normal(0.0, 0.015))
    b_mid = 0.5 * (b_lo + b_hi)

    def a_mid(b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(midline[0] + midline[1] * (b - b_mid), dtype=np.float64)

    rows = []
    for a_edge in (a_lo, a_hi):
        length = abs(midline[0] - a_edge)
        cuts_edge, cuts_mid = _row_cuts(b_lo, b_hi, length, rng)
        a_outer = np.full((len(cuts_edge) - 1, 2), a_edge)
        a_inner = np.stack([a_mid(cuts_mid[1:]), a_mid(cuts_mid[:-1])], axis=-1)
        a = np.concatenate([a_outer, a_inner], axis=1)
        b = np.stack([cuts_edge[:-1], cuts_edge[1:], cuts_mid[1:], cuts_mid[:-1]], axis=-1)
        rows.append(shapely.polygons(frame.to_xy(a, b)))
    return np.concatenate(rows)


def _row_cuts(
    b_lo: float, b_hi: float, length: float, rng: np.random.Generator
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Cut positions across a row at its canal edge and at the midline (jittered corners)."""
    n_draw = int((b_hi - b_lo) / 5.0) + 2
    areas_ha = np.clip(PARCEL_MEDIAN_HA * np.exp(rng.normal(0.0, 0.55, n_draw)), *PARCEL_AREA_HA)
    widths = areas_ha * 10_000.0 / length
    cuts = b_lo + np.concatenate([[0.0], np.cumsum(widths)])
    cuts = cuts[cuts < b_hi]
    min_width = PARCEL_AREA_HA[0] * 10_000.0 / length
    if b_hi - cuts[-1] < min_width and len(cuts) > 1:
        cuts = cuts[:-1]
    cuts = np.append(cuts, b_hi)
    gaps = np.diff(cuts)
    room = 0.12 * np.minimum(gaps[:-1], gaps[1:])
    edge_jitter = np.clip(rng.normal(0.0, 1.2, len(room)), -room, room)
    mid_jitter = np.clip(rng.normal(0.0, 1.2, len(room)), -room, room)
    inner = cuts[1:-1]
    return (
        np.concatenate([[b_lo], inner + edge_jitter, [b_hi]]),
        np.concatenate([[b_lo], inner + mid_jitter, [b_hi]]),
    )


def _central_strips(strips: npt.NDArray[np.object_], n_parcels: int) -> npt.NDArray[np.int64]:
    """Indices of the ``n_parcels`` strips fitting in the smallest square around the centre."""
    bounds = shapely.bounds(strips)
    centre = np.tile(np.asarray(CENTRE_XY), 2)
    distance = np.max(np.abs(bounds - centre), axis=1)
    if len(strips) < n_parcels:
        raise ValueError(f"drew {len(strips)} strips, fewer than the {n_parcels} parcels asked")
    return np.sort(np.argsort(distance, kind="stable")[:n_parcels])


def _assign_communes(
    polygons: npt.NDArray[np.object_], rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Nearest of six jittered seeds on a 3 × 2 grid (west → east, south → north)."""
    centroids = shapely.get_coordinates(shapely.centroid(polygons))
    lo, hi = centroids.min(axis=0), centroids.max(axis=0)
    span = hi - lo
    seeds = np.array(
        [
            (lo[0] + span[0] * fx, lo[1] + span[1] * fy)
            for fx in (1 / 6, 1 / 2, 5 / 6)
            for fy in (1 / 4, 3 / 4)
        ]
    )
    seeds += rng.normal(0.0, 0.06, seeds.shape) * span
    distance = np.linalg.norm(centroids[:, None, :] - seeds[None, :, :], axis=-1)
    return np.asarray(np.argmin(distance, axis=1), dtype=np.int64)


def _scene_grid(parcels: npt.NDArray[np.object_]) -> SceneGrid:
    x_min, y_min, x_max, y_max = shapely.total_bounds(parcels)
    west = math.floor((x_min - MARGIN_M) / COARSE_RES_M) * COARSE_RES_M
    east = math.ceil((x_max + MARGIN_M) / COARSE_RES_M) * COARSE_RES_M
    south = math.floor((y_min - MARGIN_M) / COARSE_RES_M) * COARSE_RES_M
    north = math.ceil((y_max + MARGIN_M) / COARSE_RES_M) * COARSE_RES_M
    return SceneGrid(
        x_min=west,
        y_max=north,
        rows_20m=round((north - south) / COARSE_RES_M),
        cols_20m=round((east - west) / COARSE_RES_M),
    )


def _fields_on_grid(
    strips: npt.NDArray[np.object_], chosen: npt.NDArray[np.int64], grid: SceneGrid
) -> npt.NDArray[np.int64]:
    """Unregistered strips that show on the scene grid."""
    visible = shapely.intersects(strips, shapely.box(*grid.bounds))
    visible[chosen] = False
    return np.flatnonzero(visible)


def _compartments(blocks: npt.NDArray[np.int64], n_secondary: int) -> npt.NDArray[np.int32]:
    """Dyke compartment = two neighbouring blocks along a main canal band."""
    n_segments = n_secondary - 1
    band, segment = np.divmod(blocks, n_segments)
    return np.asarray(band * n_segments + segment // 2, dtype=np.int32)


def _canal_features(
    frame: _Frame, network: _Network, half_extent: float
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.object_], npt.NDArray[np.object_]]:
    """Canal water, canal-side roads and village bands as polygons."""
    reach = half_extent * math.sqrt(2.0) + 2000.0
    main = network.main_b
    ones = np.ones_like(main)
    main_canals = frame.rectangles(
        -reach * ones, reach * ones, main - MAIN_CANAL_WIDTH_M / 2, main + MAIN_CANAL_WIDTH_M / 2
    )
    road_lo = main + MAIN_CANAL_WIDTH_M / 2
    roads = frame.rectangles(-reach * ones, reach * ones, road_lo, road_lo + ROAD_WIDTH_M)
    sec = network.secondary_a
    k, j = np.meshgrid(np.arange(len(main) - 1), np.arange(len(sec)), indexing="ij")
    secondary = frame.rectangles(
        sec[j] - SECONDARY_CANAL_WIDTH_M / 2,
        sec[j] + SECONDARY_CANAL_WIDTH_M / 2,
        main[k] + MAIN_CANAL_WIDTH_M / 2,
        main[k + 1] - MAIN_CANAL_WIDTH_M / 2,
    ).ravel()
    kk, jj = np.meshgrid(np.arange(len(main)), np.arange(len(sec) - 1), indexing="ij")
    village_lo = main[kk] + MAIN_CANAL_WIDTH_M / 2 + ROAD_WIDTH_M
    villages = frame.rectangles(
        sec[jj], sec[jj + 1], village_lo, village_lo + network.village_width[kk, jj]
    ).ravel()
    return np.concatenate([main_canals, secondary]), roads, villages


def _houses(frame: _Frame, network: _Network, rng: np.random.Generator) -> npt.NDArray[np.object_]:
    """Houses in one or two rows behind each canal road, 8–14 m wide, 10–18 m deep."""
    houses: list[npt.NDArray[np.object_]] = []
    for k, b_canal in enumerate(network.main_b):
        b_front = b_canal + MAIN_CANAL_WIDTH_M / 2 + ROAD_WIDTH_M + 2.0
        for j in range(len(network.secondary_a) - 1):
            a_start = network.secondary_a[j] + SECONDARY_CANAL_WIDTH_M
            a_stop = network.secondary_a[j + 1] - SECONDARY_CANAL_WIDTH_M
            rows = 2 if network.village_width[k, j] > 90.0 else 1
            for row in range(rows):
                houses.append(_house_row(frame, a_start, a_stop, b_front + 28.0 * row, rng))
    return np.concatenate(houses)


def _house_row(
    frame: _Frame, a_start: float, a_stop: float, b_front: float, rng: np.random.Generator
) -> npt.NDArray[np.object_]:
    n_draw = int((a_stop - a_start) / 12.0) + 1
    widths = rng.uniform(8.0, 14.0, n_draw)
    gaps = rng.exponential(9.0, n_draw) + 2.0
    starts = a_start + np.concatenate([[0.0], np.cumsum(widths + gaps)[:-1]])
    keep = starts + widths < a_stop
    starts, widths = starts[keep], widths[keep]
    depth = rng.uniform(10.0, 18.0, len(starts))
    front = b_front + rng.uniform(0.0, 3.0, len(starts))
    return frame.rectangles(starts, starts + widths, front, front + depth)


def _parcel_table(
    polygons: npt.NDArray[np.object_], communes: npt.NDArray[np.int64]
) -> gpd.GeoDataFrame:
    names = np.array([name for name, _ in COMMUNES], dtype=object)
    districts = np.array([district for _, district in COMMUNES], dtype=object)
    table = pd.DataFrame(
        {
            "parcel_id": [f"AG-{i:05d}" for i in range(1, len(polygons) + 1)],
            "commune": names[communes],
            "district": districts[communes],
            "province": PROVINCE,
            "area_ha": np.round(shapely.area(polygons) / 10_000.0, 4),
        }
    )
    return gpd.GeoDataFrame(table, geometry=list(polygons), crs=CRS)
