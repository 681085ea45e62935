"""``pestcast zonal``: per-parcel statistics of every band of any raster, written to Parquet.

The I/O around :func:`pestcast.features.band_zonal.band_zonal_stats`: open the raster and the
parcel file, check them, reproject the parcels to the raster's CRS (never the raster to the
parcels), read the raster block by block, and write the table atomically.
"""

from __future__ import annotations

import dataclasses
import enum
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import typer
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader
from rasterio.windows import Window

from pestcast.core.atomic import atomic_path
from pestcast.core.errors import ConfigError, DataError, ParcelError, PestcastError, SourceError
from pestcast.features.band_zonal import (
    DEFAULT_STATISTICS,
    RasterBlock,
    band_zonal_stats,
    buffer_parcels,
    parcel_layers,
    parcels_outside,
    parse_statistics,
    polygonal_parcels,
)

__all__ = ["OnInvalid", "ZonalOptions", "ZonalSummary", "write_zonal_table", "zonal"]

DEFAULT_BLOCK_SIZE = 512
"""Pixels per side of the blocks read at a time: 512 × 512 float64 is 2 MiB per band."""

ID_COLUMN = "parcel_id"


class OnInvalid(enum.StrEnum):
    """What to do with invalid parcel polygons."""

    repair = "repair"
    reject = "reject"


@dataclasses.dataclass(frozen=True)
class ZonalOptions:
    """How ``pestcast zonal`` reduces the raster."""

    id_column: str | None = None
    """Column of the parcel ids; None: ``parcel_id``, else the first column named ``id``."""
    stats: tuple[str, ...] = DEFAULT_STATISTICS
    """Statistics per band (see :data:`pestcast.features.band_zonal.STATISTICS`)."""
    buffer_m: float = 0.0
    """Buffer the parcels by this many metres first; negative shrinks them."""
    exact: bool = False
    """Weight pixels by the fraction of their area inside the parcel (exactextract)."""
    on_invalid: OnInvalid = OnInvalid.repair
    """Repair invalid polygons (``make_valid``) or refuse the file."""
    layer: str | None = None
    """Layer of the parcel file (GeoPackage); None: its first layer."""
    block_size: int = DEFAULT_BLOCK_SIZE
    """Pixels per side of the blocks read at a time."""
    overwrite: bool = False
    """Replace an existing output file."""


@dataclasses.dataclass(frozen=True)
class ZonalSummary:
    """What ``pestcast zonal`` wrote and what the user should know about it."""

    path: Path
    """The Parquet file written."""
    parcels: int
    """Rows written: one per parcel."""
    bands: tuple[str, ...]
    """Band names used in the column names."""
    repaired: tuple[str, ...] = ()
    """Ids of the parcels whose invalid polygon was repaired."""
    overlapping: tuple[tuple[str, str], ...] = ()
    """Pairs of parcel ids that share area (their shared pixels count for both)."""
    outside: tuple[str, ...] = ()
    """Ids of the parcels that share no area with the raster (count 0, NaN statistics)."""
    vanished: tuple[str, ...] = ()
    """Ids of the parcels left without area by repair or a negative buffer."""
    without_pixels: tuple[str, ...] = ()
    """Ids of the other parcels that got no valid pixel in any band."""

    def warnings(self) -> list[str]:
        """One line per thing the user should check."""
        lines = []
        if self.repaired:
            lines.append(f"{_count(self.repaired)} repaired with make_valid: {_ids(self.repaired)}")
        if self.overlapping:
            pairs = [f"{a}/{b}" for a, b in self.overlapping]
            many = len(pairs) > 1
            lines.append(
                f"{len(pairs)} {'pairs' if many else 'pair'} of parcels "
                f"{'overlap' if many else 'overlaps'}; {'their' if many else 'its'} shared "
                f"pixels count for both: {_ids(pairs)}"
            )
        if self.outside:
            lines.append(
                f"{_count(self.outside)} outside the raster (count 0, no statistics): "
                f"{_ids(self.outside)}"
                + ("; none overlaps it: check both files' CRS" if self._all_outside else "")
            )
        if self.vanished:
            lines.append(
                f"{_count(self.vanished)} without area after repair or --buffer "
                f"(count 0, no statistics): {_ids(self.vanished)}"
            )
        if self.without_pixels:
            lines.append(
                f"{_count(self.without_pixels)} without a valid pixel in any band (smaller than "
                f"a pixel, or nodata there; --exact counts partial pixels): "
                f"{_ids(self.without_pixels)}"
            )
        return lines

    @property
    def _all_outside(self) -> bool:
        return len(self.outside) == self.parcels


def _count(ids: tuple[str, ...]) -> str:
    return f"{len(ids)} parcel" + ("s" if len(ids) > 1 else "")


def _ids(ids: tuple[str, ...] | list[str], limit: int = 10) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" … and {len(ids) - limit} more" if len(ids) > limit else "")


# --- the command --------------------------------------------------------------------------------


def zonal(
    ctx: typer.Context,
    raster: Annotated[
        Path, typer.Argument(help="Raster GDAL can read (GeoTIFF, COG, VRT…); every band.")
    ],
    parcels: Annotated[
        Path, typer.Argument(help="Parcel polygons (GeoPackage, GeoJSON, Shapefile, …).")
    ],
    *,
    out: Annotated[Path, typer.Option("--out", help="Parquet file to write.")],
    id_column: Annotated[
        str | None,
        typer.Option(
            "--id-column",
            help="Parcel id column (default: parcel_id, else the first column named id).",
        ),
    ] = None,
    stats: Annotated[
        str,
        typer.Option(
            "--stats",
            help="Comma-separated: count, mean, std, min, max, sum, median, pNN (percentile).",
        ),
    ] = ",".join(DEFAULT_STATISTICS),
    buffer: Annotated[
        float,
        typer.Option(
            "--buffer",
            help="Buffer parcels by METRES first; negative shrinks them (keeps mixed edge "
            "pixels out).",
        ),
    ] = 0.0,
    exact: Annotated[
        bool,
        typer.Option(
            "--exact", help="Weight pixels by the fraction of their area inside (exactextract)."
        ),
    ] = False,
    on_invalid: Annotated[
        OnInvalid,
        typer.Option("--on-invalid", help="Invalid polygons: repair (make_valid) or reject."),
    ] = OnInvalid.repair,
    layer: Annotated[
        str | None, typer.Option("--layer", help="Layer of the parcel file (default: the first).")
    ] = None,
    block_size: Annotated[
        int,
        typer.Option("--block-size", min=1, help="Pixels per side of the blocks read at a time."),
    ] = DEFAULT_BLOCK_SIZE,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out.")] = False,
) -> None:
    """Per-parcel statistics of every band of a raster (one row per parcel) to Parquet."""
    try:
        options = ZonalOptions(
            id_column=id_column,
            stats=parse_statistics(stats, what="--stats"),
            buffer_m=buffer,
            exact=exact,
            on_invalid=on_invalid,
            layer=layer,
            block_size=block_size,
            overwrite=overwrite,
        )
        summary = write_zonal_table(raster, parcels, out, options)
    except PestcastError as error:
        if ctx.find_root().params.get("verbose"):
            typer.echo("".join(traceback.format_exception(error)).rstrip(), err=True)
        typer.secho(f"pestcast zonal: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from None
    for line in summary.warnings():
        typer.secho(f"warning: {line}", fg=typer.colors.YELLOW, err=True)
    typer.echo(
        f"{summary.parcels:,} parcels × {len(summary.bands)} bands "
        f"({', '.join(summary.bands)}) → {summary.path}"
    )


def write_zonal_table(
    raster: Path, parcels: Path, out: Path, options: ZonalOptions = ZonalOptions()
) -> ZonalSummary:
    """Statistics of every band of ``raster`` per parcel of ``parcels``, written to ``out``."""
    _require_writable(out, overwrite=options.overwrite)
    with _open_raster(raster) as dataset:
        table = _read_parcels(parcels, options)
        ids = table[ID_COLUMN].astype(str).tolist()
        geometries, repaired = polygonal_parcels(
            table.geometry.to_numpy(), ids, on_invalid=options.on_invalid.value
        )
        geometries = gpd.GeoSeries(geometries, crs=table.crs).to_crs(dataset.crs).to_numpy()
        grid = {"transform": dataset.transform, "shape": dataset.shape}
        outside = parcels_outside(geometries, **grid)
        geometries = buffer_parcels(geometries, _crs_units(options.buffer_m, dataset.crs, raster))
        layers = parcel_layers(geometries)
        bands = _band_names(dataset)
        stats = band_zonal_stats(
            _blocks(dataset, options.block_size, raster),
            layers,
            transform=dataset.transform,
            band_names=bands,
            stats=options.stats,
            exact=options.exact,
        )
    result = pd.concat([table[[ID_COLUMN]].reset_index(drop=True), stats], axis=1)
    _write_parquet(result, out)
    return _summary(
        out,
        ids=ids,
        bands=bands,
        repaired=repaired,
        overlapping=layers.overlapping,
        outside=outside,
        geometries=geometries,
        stats=stats,
    )


def _summary(
    out: Path,
    *,
    ids: list[str],
    bands: tuple[str, ...],
    repaired: list[object],
    overlapping: np.ndarray,
    outside: np.ndarray,
    geometries: np.ndarray,
    stats: pd.DataFrame,
) -> ZonalSummary:
    vanished = ~outside & gpd.GeoSeries(geometries).is_empty.to_numpy()
    count_columns = [f"{band}_count" for band in bands]
    no_pixel = ~outside & ~vanished
    if set(count_columns) <= set(stats.columns):
        no_pixel &= (stats[count_columns] == 0).all(axis=1).to_numpy()
    else:
        no_pixel &= stats.isna().all(axis=1).to_numpy()
    return ZonalSummary(
        path=out,
        parcels=len(ids),
        bands=bands,
        repaired=tuple(str(pid) for pid in repaired),
        overlapping=tuple((ids[a], ids[b]) for a, b in overlapping.tolist()),
        outside=tuple(np.asarray(ids, dtype=object)[outside]),
        vanished=tuple(np.asarray(ids, dtype=object)[vanished]),
        without_pixels=tuple(np.asarray(ids, dtype=object)[no_pixel]),
    )


# --- raster -------------------------------------------------------------------------------------


def _open_raster(path: Path) -> DatasetReader:
    if not path.exists():
        raise SourceError(f"raster {path} does not exist; check the RASTER argument")
    if path.is_dir():
        raise SourceError(f"raster {path} is a folder; give the raster file")
    try:
        dataset = rasterio.open(path)
    except (RasterioError, OSError) as error:
        raise SourceError(
            f"{path} is not a raster GDAL can read ({error}); give a GeoTIFF or another "
            "GDAL raster format"
        ) from error
    if dataset.crs is None:
        dataset.close()
        raise DataError(
            f"raster {path} has no CRS; set the one its coordinates are in (e.g. "
            f"`gdal_edit.py -a_srs EPSG:32648 {path}`) and run again"
        )
    return dataset


def _band_names(dataset: DatasetReader) -> tuple[str, ...]:
    """Each band's description, or ``b1, b2…`` where it has none or shares it with another."""
    descriptions = [(text or "").strip() for text in dataset.descriptions]
    return tuple(
        text if text and descriptions.count(text) == 1 else f"b{index}"
        for index, text in enumerate(descriptions, start=1)
    )


def _blocks(dataset: DatasetReader, block_size: int, path: Path) -> Iterator[RasterBlock]:
    """Every band of the raster, ``block_size`` pixels square at a time, row-major."""
    rows, cols = dataset.shape
    for row_off in range(0, rows, block_size):
        for col_off in range(0, cols, block_size):
            window = Window(
                col_off, row_off, min(block_size, cols - col_off), min(block_size, rows - row_off)
            )
            try:
                data = dataset.read(window=window, out_dtype="float64")
                valid = dataset.read_masks(window=window) > 0
            except (RasterioError, OSError) as error:
                raise SourceError(
                    f"cannot read rows {row_off}… columns {col_off}… of raster {path}: {error}; "
                    "the file may be truncated or corrupt"
                ) from error
            yield RasterBlock(row_off=row_off, col_off=col_off, data=data, valid=valid)


def _crs_units(metres: float, crs: CRS, path: Path) -> float:
    """``metres`` in the linear unit of ``crs``."""
    if metres == 0:
        return 0.0
    if not crs.is_projected:
        raise ConfigError(
            f"--buffer {metres:g} is in metres but raster {path} is in {crs.to_string()}, "
            "which is not projected; warp the raster to a metric CRS (e.g. its UTM zone) or "
            "leave --buffer out"
        )
    _, factor = crs.linear_units_factor
    return float(metres) / float(factor)


# --- parcels ------------------------------------------------------------------------------------


def _read_parcels(path: Path, options: ZonalOptions) -> gpd.GeoDataFrame:
    """The parcel file with its id column as ``parcel_id``: present, unique, no blanks."""
    table = _read_vector(path, options.layer)
    if table.empty:
        raise ParcelError(
            f"parcel file {path} (layer {options.layer or 'first'}) holds no parcels; check "
            "the file and --layer"
        )
    if table.crs is None:
        raise DataError(
            f"parcel file {path} has no CRS; set the one its coordinates are in (e.g. "
            f"`ogr2ogr -a_srs EPSG:4326 fixed.gpkg {path}`)"
        )
    column = _id_column(table, path, options.id_column)
    ids = table[column]
    _require_ids(ids, path, column)
    return gpd.GeoDataFrame(
        {ID_COLUMN: ids.to_numpy()}, geometry=table.geometry.to_numpy(), crs=table.crs
    )


def _read_vector(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    if not path.exists():
        raise SourceError(f"parcel file {path} does not exist; check the PARCELS argument")
    try:
        return gpd.read_file(path, layer=layer)
    except Exception as error:  # pyogrio raises its own, GDAL's and ValueError
        raise SourceError(
            f"cannot read parcels from {path} (layer {layer or 'first'}): {error}; give a "
            "vector file GDAL can read (GeoPackage, GeoJSON, Shapefile…)"
        ) from error


def _id_column(table: gpd.GeoDataFrame, path: Path, wanted: str | None) -> str:
    columns = [str(column) for column in table.columns if column != table.geometry.name]
    if wanted is not None:
        if wanted in columns:
            return wanted
        raise DataError(
            f"parcel file {path} has no column {wanted!r}; its columns are "
            f"{', '.join(columns) or 'none'}; pass one of them with --id-column"
        )
    if ID_COLUMN in columns:
        return ID_COLUMN
    for column in columns:
        if column.lower() == "id":
            return column
    raise DataError(
        f"parcel file {path} has neither a {ID_COLUMN} nor an id column; its columns are "
        f"{', '.join(columns) or 'none'}; name the id column with --id-column"
    )


def _require_ids(ids: pd.Series, path: Path, column: str) -> None:
    blank = ids.isna() | (ids.astype(str).str.strip() == "")
    if blank.any():
        rows = ", ".join(str(row + 1) for row in np.flatnonzero(blank.to_numpy())[:10])
        raise ParcelError(
            f"parcel file {path}: column {column!r} is empty in {int(blank.sum())} rows "
            f"(features {rows}); every parcel needs an id"
        )
    repeated = ids[ids.duplicated(keep=False)].astype(str).value_counts()
    if len(repeated):
        named = ", ".join(f"{pid!r} ({times}×)" for pid, times in repeated.head(10).items())
        more = f" and {len(repeated) - 10} more" if len(repeated) > 10 else ""
        raise ParcelError(
            f"parcel file {path}: column {column!r} holds duplicate ids: {named}{more}; "
            "parcel ids must be unique — fix the file or choose another column with --id-column"
        )


# --- output -------------------------------------------------------------------------------------


def _require_writable(out: Path, *, overwrite: bool) -> None:
    """Refuse before any work: a missing folder (a typo) or an existing file without --overwrite."""
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give the Parquet file to write")
    if out.exists() and not overwrite:
        raise ConfigError(f"--out {out} exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise ConfigError(
            f"--out {out}: the folder {out.parent} does not exist; create it first or choose "
            "another path"
        )


def _write_parquet(table: pd.DataFrame, out: Path) -> None:
    with atomic_path(out) as temporary:
        table.to_parquet(temporary, index=False)
