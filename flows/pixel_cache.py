"""``pestcast fetch --keep-pixels``: each solar day's mosaic kept as COGs with a STAC item.

``<paths.work_dir>/pixels/<solar_day>/`` holds one COG per reflectance band read
(``<band>.tif``: uint16 DN, nodata 0, reflectance = DN · scale + offset with the scale and offset
in the GeoTIFF's band metadata and as ``scale_factor``/``add_offset`` tags), the scene
classification (``scl.tif``, uint8, nodata 0), ``item.json`` (a STAC item: assets, source items
and their unsigned hrefs, processing baseline, BOA offset, ``proj:*``) and ``manifest.json``
(the cache key and every file's sha256). The folder is written whole in a staging folder and
renamed into place, so a folder that exists is complete.

The DN are the sources' own: the offset is the first item's ``boa_offset_dn`` / 10000, so a day
of one processing baseline is stored without loss. A pixel mosaicked from an item with another
offset is re-expressed in this one (clipped to 1…65535).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pystac
import rasterio
import rasterio.shutil
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension
from rasterio.io import DatasetWriter
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from pestcast.features.reflectance import QUANTIFICATION_VALUE
from pestcast.flows.failure_ledger import unsigned_href
from pestcast.flows.publication import MANIFEST, publish_folder
from pestcast.flows.raster_read import SCL_BAND as SCL, AnalysisGrid, SceneArrays
from pestcast.flows.stac_search import SceneRef
from pestcast.flows.strip_stats import StripConsumer

__all__ = [
    "ITEM_FILE",
    "SCL_FILE",
    "day_item",
    "keep_day_pixels",
    "pixel_folder",
    "pixels_complete",
    "reflectance_to_dn",
]

ITEM_FILE = "item.json"
SCL_FILE = "scl.tif"
COG_OPTIONS: Mapping[str, Any] = {
    "driver": "COG",
    "compress": "ZSTD",
    "predictor": 2,
    "blocksize": 512,
    "overviews": "AUTO",  # none on a grid smaller than a block; a region-wide grid gets them
}
"""Creation options of every kept COG."""
STRIP_OPTIONS: Mapping[str, Any] = {
    "driver": "GTiff",
    "tiled": True,
    "blockxsize": 512,
    "blockysize": 512,
    "compress": "ZSTD",
    "zstd_level": 1,
}
"""The files strips are written into before they become COGs (the COG driver writes whole
files only): tiled, so a strip lands in whole blocks, and cheaply compressed."""
_T = TypeVar("_T")


def pixel_folder(directory: Path, scenes: Sequence[SceneRef]) -> Path:
    """The folder of one solar day's pixels under ``directory``."""
    return directory / scenes[0].solar_day.isoformat()


def pixels_complete(folder: Path, key: str) -> bool:
    """Whether ``folder`` holds a complete set of pixels written under cache ``key``."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    files = manifest.get("files", {})
    return manifest.get("cache_key") == key and all((folder / name).is_file() for name in files)


def reflectance_to_dn(
    reflectance: npt.NDArray[np.floating], *, offset_dn: float
) -> npt.NDArray[np.uint16]:
    """uint16 DN with reflectance = (DN + ``offset_dn``) / 10000; 0 where reflectance is NaN."""
    scaled = np.clip(np.rint(reflectance * QUANTIFICATION_VALUE - offset_dn), 1, 65535)
    return np.where(np.isfinite(reflectance), scaled, 0).astype(np.uint16)


def keep_day_pixels(
    folder: Path,
    scenes: Sequence[SceneRef],
    grid: AnalysisGrid,
    *,
    bands: Sequence[str],
    key: str,
    read: Callable[[StripConsumer], _T],
) -> _T:
    """Run ``read(on_strip)``, which reads the day strip by strip handing each to ``on_strip``,
    and keep the strips as the day's pixel folder (written whole, then renamed into place).

    Returns what ``read`` returns. If it raises, nothing is left behind.
    """
    result: list[_T] = []

    def write(staging: Path) -> dict[str, Any]:
        with _StripWriter(staging, grid, bands, offset_dn=scenes[0].boa_offset_dn) as writer:
            result.append(read(writer.write))
            writer.finish()
        item = day_item(scenes, grid, bands=[band for band in bands if band != SCL])
        text = json.dumps(item.to_dict(include_self_link=False, transform_hrefs=False), indent=1)
        (staging / ITEM_FILE).write_text(text + "\n", encoding="utf-8")
        return {"cache_key": key, "solar_day": scenes[0].solar_day.isoformat()}

    publish_folder(folder, write, order=("cache_key", "solar_day"))
    return result[0]


class _StripWriter:
    """The strips of one day written into tiled GeoTIFFs, made COGs once all are in."""

    def __init__(
        self, folder: Path, grid: AnalysisGrid, bands: Sequence[str], *, offset_dn: float
    ) -> None:
        self.folder, self.grid, self.offset_dn = folder, grid, offset_dn
        self.bands = [band for band in dict.fromkeys(bands) if band != SCL]
        self._open: dict[str, DatasetWriter] = {}
        try:
            for band in [*self.bands, SCL]:
                self._open[band] = self._create(band, "uint8" if band == SCL else "uint16")
        except BaseException:
            self.close()
            raise

    def _create(self, band: str, dtype: str) -> DatasetWriter:
        rows, cols = self.grid.shape
        target = rasterio.open(
            self.folder / f".{band}.strips.tif",
            "w",
            **STRIP_OPTIONS,
            width=cols,
            height=rows,
            count=1,
            dtype=dtype,
            crs=self.grid.crs,
            transform=self.grid.transform,
            nodata=0,
        )
        if band != SCL:
            scale, offset = _scale_offset(self.offset_dn)
            target.scales, target.offsets = (scale,), (offset,)
            target.update_tags(1, scale_factor=repr(scale), add_offset=repr(offset))
        return target

    def write(self, window: Window, arrays: SceneArrays) -> None:
        """Write one strip of the mosaic (a ``flows.strip_stats.StripConsumer``)."""
        for band in self.bands:
            dn = reflectance_to_dn(arrays.reflectance[band], offset_dn=self.offset_dn)
            self._open[band].write(dn, 1, window=window)
        self._open[SCL].write(np.asarray(arrays.scl, dtype=np.uint8), 1, window=window)

    def finish(self) -> None:
        """Turn every strip file into ``<band>.tif`` / ``scl.tif`` COGs."""
        self.close()
        for band in [*self.bands, SCL]:
            strips = self.folder / f".{band}.strips.tif"
            name = SCL_FILE if band == SCL else f"{band}.tif"
            rasterio.shutil.copy(strips, self.folder / name, **COG_OPTIONS)
            strips.unlink()

    def close(self) -> None:
        while self._open:
            self._open.popitem()[1].close()

    def __enter__(self) -> _StripWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _scale_offset(offset_dn: float) -> tuple[float, float]:
    return 1.0 / QUANTIFICATION_VALUE, offset_dn / QUANTIFICATION_VALUE


def day_item(scenes: Sequence[SceneRef], grid: AnalysisGrid, *, bands: list[str]) -> pystac.Item:
    """The STAC item of one kept solar day: its COGs, where they came from, ``proj:*``."""
    first = scenes[0]
    west, south, east, north = transform_bounds(grid.crs, "EPSG:4326", *grid.bounds, 21)
    footprint = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    item = pystac.Item(
        id=f"pestcast-{first.collection}-{first.solar_day.isoformat()}",
        geometry={"type": "Polygon", "coordinates": [footprint]},
        bbox=[west, south, east, north],
        datetime=first.acquired_utc,
        properties={
            "platform": first.platform,
            "s2:processing_baseline": first.processing_baseline,
            "pestcast:solar_day": first.solar_day.isoformat(),
            "pestcast:boa_offset_dn": first.boa_offset_dn,
            "pestcast:sources": [_source(scene) for scene in scenes],
        },
    )
    projection = ProjectionExtension.ext(item, add_if_missing=True)
    projection.code = grid.crs
    projection.shape = list(grid.shape)
    projection.transform = list(grid.transform)[:6]
    projection.bbox = list(grid.bounds)
    scale, offset = _scale_offset(first.boa_offset_dn)
    RasterExtension.add_to(item)
    for band in bands:
        _add_asset(item, band, f"{band}.tif", DataType.UINT16, scale=scale, offset=offset)
    _add_asset(item, SCL, SCL_FILE, DataType.UINT8, scale=None, offset=None)
    return item


def _source(scene: SceneRef) -> dict[str, Any]:
    return {
        "id": scene.item_id,
        "collection": scene.collection,
        "datetime": scene.acquired_utc.isoformat(),
        "s2:processing_baseline": scene.processing_baseline,
        "boa_offset_dn": scene.boa_offset_dn,
        "assets": {band: unsigned_href(href) for band, href in sorted(scene.asset_hrefs.items())},
    }


def _add_asset(
    item: pystac.Item,
    key: str,
    file_name: str,
    data_type: DataType,
    *,
    scale: float | None,
    offset: float | None,
) -> None:
    asset = pystac.Asset(
        href=f"./{file_name}", media_type=pystac.MediaType.COG, roles=["data"], title=key
    )
    item.add_asset(key, asset)
    RasterExtension.ext(asset).bands = [
        RasterBand.create(nodata=0, data_type=data_type, scale=scale, offset=offset)
    ]
