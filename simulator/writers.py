"""Atomic writers of the demo region's files: a temporary file in the same folder, then rename.

A reader therefore never sees half a file, and ``MANIFEST.json`` (written last) marks a complete
region. GeoPackages get a fixed ``OGR_CURRENT_DATE`` so the same seed gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pyogrio

from pestcast.core.atomic import atomic_path

__all__ = ["write_geopackage", "write_parquet", "write_parquet_table"]

FIXED_GPKG_DATE = "2000-01-01T00:00:00.000Z"


def write_parquet(path: Path, table: pd.DataFrame) -> None:
    """A pandas table as zstd-compressed Parquet, without the index."""
    _write(path, lambda temporary: table.to_parquet(temporary, index=False, compression="zstd"))


def write_parquet_table(
    path: Path, table: pa.Table, *, float_columns: tuple[str, ...] = ()
) -> None:
    """An Arrow table as zstd-compressed Parquet.

    ``float_columns`` are written with byte-stream-split encoding instead of a dictionary:
    a quarter smaller for continuous values such as probabilities.
    """
    dictionary = [name for name in table.column_names if name not in float_columns]

    def write(temporary: Path) -> None:
        pq.write_table(
            table,
            temporary,
            compression="zstd",
            use_dictionary=dictionary,
            use_byte_stream_split=list(float_columns) or False,
        )

    _write(path, write)


def write_geopackage(path: Path, frame: gpd.GeoDataFrame, layer: str) -> None:
    """One layer GeoPackage with a fixed timestamp (reproducible bytes)."""
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": FIXED_GPKG_DATE})
    try:
        with atomic_path(path) as temporary:
            frame.to_file(temporary, layer=layer, driver="GPKG", engine="pyogrio")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})


def _write(path: Path, writer: Callable[[Path], None]) -> None:
    with atomic_path(path) as temporary:
        writer(temporary)
