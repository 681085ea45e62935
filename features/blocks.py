"""The feature table of a province in blocks of whole communes, each with a halo of neighbours.

A parcel's features depend on its own observations, on its neighbours within the neighbour radius
and the survey kernel's reach (centroid distances), on its commune (weather, commune survey
shares) and on its district's light traps. So a block made of whole communes, read together with
every parcel whose centroid lies within that reach of the block's bounding box, gives its own
parcels exactly the rows the whole table gives them; the halo's rows are dropped. Memory then
grows with the block, not with the province, and the blocks can go to different workers.

Communes are put in blocks in Z-order of their centroids, so a block is compact and its halo
small.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from pestcast.features.settings import FeatureSettings
from pestcast.features.spatial_evidence import KERNEL_CUTOFF_BANDWIDTHS

__all__ = ["ParcelBlock", "feature_halo_m", "in_blocks", "parcel_blocks"]

Z_ORDER_BITS = 10
"""Commune centroids are ranked on a 1024 × 1024 grid over the region for the Z-order."""


@dataclass(frozen=True)
class ParcelBlock:
    """Positions (in the parcel table) of a block's own parcels and of everything it reads."""

    own: npt.NDArray[np.intp]
    """The parcels whose rows the block gives, ascending."""
    members: npt.NDArray[np.intp]
    """Its own parcels and the halo around them, ascending."""


def feature_halo_m(settings: FeatureSettings) -> float:
    """How far from a parcel the features look: neighbours, and the survey kernel's cut-off."""
    return max(
        settings.neighbour_radius_m,
        KERNEL_CUTOFF_BANDWIDTHS * settings.survey_kernel_bandwidth_m,
    )


def parcel_blocks(parcels: pd.DataFrame, *, max_parcels: int, halo_m: float) -> list[ParcelBlock]:
    """Blocks of whole communes of about ``max_parcels`` parcels (a bigger commune is a block of
    its own), with the parcels within ``halo_m`` of each block's bounding box as its halo.

    ``parcels`` has ``commune`` and centroid ``x``/``y`` (metres); one block if all fit.
    """
    if max_parcels < 1:
        raise ValueError(f"max_parcels must be ≥ 1, got {max_parcels}")
    n_parcels = len(parcels)
    everything = np.arange(n_parcels, dtype=np.intp)
    if n_parcels <= max_parcels:
        return [ParcelBlock(own=everything, members=everything)]
    x, y = parcels["x"].to_numpy(np.float64), parcels["y"].to_numpy(np.float64)
    codes, communes = pd.factorize(parcels["commune"], sort=False)
    sizes = np.bincount(codes, minlength=len(communes))
    order = np.argsort(_z_order(_mean_by(codes, x), _mean_by(codes, y)), kind="stable")
    blocks = []
    for group in _consecutive_groups(order, sizes, max_parcels):
        own = np.flatnonzero(np.isin(codes, group)).astype(np.intp)
        members = _within(x, y, own, halo_m)
        blocks.append(ParcelBlock(own=own, members=members))
    return blocks


def in_blocks(
    blocks: list[ParcelBlock],
    parcel_ids: pd.Index,
    build: Callable[[ParcelBlock], pd.DataFrame],
) -> pd.DataFrame:
    """Concatenate the own rows of ``build(block)`` for every block, in the row order of one
    table of all parcels: forecast dates ascending, then parcels in ``parcel_ids`` order.

    ``build`` returns a feature table (``parcel_id`` and ``forecast_date`` columns) of the
    block's members.
    """
    if len(blocks) == 1:
        return build(blocks[0])
    position = pd.Series(np.arange(len(parcel_ids)), index=parcel_ids)
    parts = []
    for block in blocks:
        table = build(block)
        parts.append(table[table["parcel_id"].isin(parcel_ids[block.own])])
    whole = pd.concat(parts, ignore_index=True)
    key = position.loc[whole["parcel_id"]].to_numpy()
    order = np.lexsort((key, whole["forecast_date"].to_numpy()))
    return whole.iloc[order].reset_index(drop=True)


def _mean_by(
    codes: npt.NDArray[np.intp], values: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    return np.bincount(codes, values) / np.bincount(codes)


def _z_order(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Morton code of each point on a 2^Z_ORDER_BITS grid over the points' extent."""
    cells = (1 << Z_ORDER_BITS) - 1

    def ranks(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        span = float(values.max() - values.min()) or 1.0
        scaled = np.round((values - values.min()) / span * cells)
        return np.asarray(scaled, dtype=np.int64)

    column, row = ranks(x), ranks(y)
    code = np.zeros(len(x), dtype=np.int64)
    for bit in range(Z_ORDER_BITS):
        code |= ((column >> bit) & 1) << (2 * bit)
        code |= ((row >> bit) & 1) << (2 * bit + 1)
    return code


def _consecutive_groups(
    order: npt.NDArray[np.intp], sizes: npt.NDArray[np.int64], max_parcels: int
) -> Iterator[npt.NDArray[np.intp]]:
    """Communes in ``order``, cut into runs of at most ``max_parcels`` parcels (or one commune)."""
    group: list[int] = []
    total = 0
    for commune in order:
        if group and total + sizes[commune] > max_parcels:
            yield np.asarray(group, dtype=np.intp)
            group, total = [], 0
        group.append(int(commune))
        total += int(sizes[commune])
    if group:
        yield np.asarray(group, dtype=np.intp)


def _within(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], own: npt.NDArray[np.intp], halo_m: float
) -> npt.NDArray[np.intp]:
    """The parcels inside the bounding box of ``own`` grown by ``halo_m`` (``own`` included)."""
    west, east = x[own].min() - halo_m, x[own].max() + halo_m
    south, north = y[own].min() - halo_m, y[own].max() + halo_m
    inside = (x >= west) & (x <= east) & (y >= south) & (y <= north)
    inside[own] = True
    return np.flatnonzero(inside).astype(np.intp)
