"""The static, self-contained STAC catalog of the simulated Sentinel-2 L2A scenes.

Layout (``docs/DESIGN.md``): ``stac/catalog.json`` → ``stac/sentinel-2-l2a/collection.json`` →
``stac/sentinel-2-l2a/<item_id>/<item_id>.json`` with the band COGs beside each item. Items
carry the fields real Planetary Computer items have and the pipeline relies on: eo, proj and
raster extensions, ``s2:processing_baseline``, ``s2:mgrs_tile``, ``platform``, ``created`` (when
the product became available), ``eo:cloud_cover``. Links and asset hrefs are relative.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pystac
from pyproj import Transformer
from pystac.extensions.eo import Band, EOExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension

from pestcast.core.atomic import write_text_atomic
from pestcast.simulator.encoding import BOA_QUANTIFICATION_VALUE, boa_add_offset
from pestcast.simulator.geometry import CRS, SceneGrid
from pestcast.simulator.imagery import BAND_RESOLUTION_M

__all__ = [
    "COLLECTION_ID",
    "MGRS_TILE",
    "ItemFacts",
    "build_item",
    "footprint_of",
    "item_id",
    "items_extent",
    "processing_baseline",
    "write_catalog",
]

COLLECTION_ID = "sentinel-2-l2a"
MGRS_TILE = "48PWS"
RELATIVE_ORBIT = 32
EPSG = 32648
_S2_BANDS = {
    "B02": ("blue", 0.49, 0.098),
    "B03": ("green", 0.56, 0.045),
    "B04": ("red", 0.665, 0.038),
    "B05": ("rededge", 0.704, 0.019),
    "B08": ("nir", 0.842, 0.145),
    "B8A": ("nir08", 0.865, 0.033),
    "B11": ("swir16", 1.61, 0.143),
    "B12": ("swir22", 2.19, 0.242),
}
"""Band → (common name, centre wavelength µm, full width at half maximum µm)."""
OFFSET_BASELINE_FROM = dt.date(2022, 1, 25)
BASELINE_0509_FROM = dt.date(2022, 12, 13)


@dataclass(frozen=True)
class ItemFacts:
    """What one item says about its scene."""

    item_id: str
    acquired_utc: dt.datetime
    available_utc: dt.datetime
    platform: str
    processing_baseline: str
    cloud_cover_pct: float


def processing_baseline(day: dt.date) -> str:
    """Baseline of a scene acquired on ``day``: 03.01, then 04.00 (offset) and 05.09."""
    if day < OFFSET_BASELINE_FROM:
        return "03.01"
    return "04.00" if day < BASELINE_0509_FROM else "05.09"


def item_id(platform: str, acquired_utc: dt.datetime, available_utc: dt.datetime) -> str:
    """Sentinel-2 product-style id, e.g. ``S2A_MSIL2A_20210701T032601_R032_T48PWS_2021…``."""
    unit = platform[-1].upper()
    return (
        f"S2{unit}_MSIL2A_{acquired_utc:%Y%m%dT%H%M%S}_R{RELATIVE_ORBIT:03d}_T{MGRS_TILE}_"
        f"{available_utc:%Y%m%dT%H%M%S}"
    )


def build_item(facts: ItemFacts, grid: SceneGrid) -> pystac.Item:
    """The STAC item of one scene with its nine band assets."""
    footprint, bbox = footprint_of(grid)
    item = pystac.Item(
        id=facts.item_id,
        geometry=footprint,
        bbox=bbox,
        datetime=facts.acquired_utc,
        properties={
            "platform": facts.platform,
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "s2:processing_baseline": facts.processing_baseline,
            "s2:mgrs_tile": MGRS_TILE,
            "s2:product_type": "S2MSI2A",
        },
    )
    item.common_metadata.created = facts.available_utc
    EOExtension.ext(item, add_if_missing=True).cloud_cover = facts.cloud_cover_pct
    projection = ProjectionExtension.ext(item, add_if_missing=True)
    projection.code = CRS
    item.properties["proj:epsg"] = EPSG
    RasterExtension.add_to(item)
    offset = boa_add_offset(facts.processing_baseline) / BOA_QUANTIFICATION_VALUE
    for band, resolution in BAND_RESOLUTION_M.items():
        item.add_asset(band, _asset(band, resolution, grid, offset))
    return item


def _asset(band: str, resolution: int, grid: SceneGrid, offset: float) -> pystac.Asset:
    is_scl = band == "SCL"
    title = "Scene classification map (SCL)" if is_scl else f"Band {band} ({_S2_BANDS[band][0]})"
    asset = pystac.Asset(
        href=f"./{band}.tif",
        media_type=pystac.MediaType.COG,
        roles=["data"],
        title=f"{title} - {resolution}m",
    )
    projection = ProjectionExtension.ext(asset)
    projection.code = CRS
    projection.shape = list(grid.shape(resolution))
    projection.transform = list(grid.transform(resolution))
    asset.extra_fields["proj:epsg"] = EPSG
    raster = RasterExtension.ext(asset)
    if is_scl:
        raster.bands = [
            RasterBand.create(nodata=0, data_type=DataType.UINT8, spatial_resolution=resolution)
        ]
        return asset
    common_name, centre, width = _S2_BANDS[band]
    EOExtension.ext(asset).bands = [
        Band.create(band, common_name, None, centre, width),
    ]
    raster.bands = [
        RasterBand.create(
            nodata=0,
            data_type=DataType.UINT16,
            spatial_resolution=resolution,
            scale=1.0 / BOA_QUANTIFICATION_VALUE,
            offset=offset,
        )
    ]
    return asset


def footprint_of(grid: SceneGrid) -> tuple[dict[str, object], list[float]]:
    """The grid extent as a WGS84 polygon (counter-clockwise) and its bounding box."""
    x_min, y_min, x_max, y_max = grid.bounds
    to_wgs84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    corners = [(x_min, y_min), (x_max, y_min), (x_max, y_max), (x_min, y_max), (x_min, y_min)]
    ring = [[round(c, 7) for c in to_wgs84.transform(x, y)] for x, y in corners]
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    return {"type": "Polygon", "coordinates": [ring]}, [min(lons), min(lats), max(lons), max(lats)]


def write_catalog(
    stac_dir: Path,
    items: Sequence[pystac.Item],
    *,
    extra_collections: Sequence[pystac.Collection] = (),
) -> Path:
    """Write the catalog, the collection and every item (each file atomically); returns the root.

    ``extra_collections`` (holding their items, e.g. the simulated Sentinel-1 RTC) become
    further children of the same root catalog.
    """
    catalog = pystac.Catalog(
        id="pestcast-demo",
        description="Simulated demo region (An Giang, Thoại Sơn): not real satellite data.",
        title="pestcast demo region",
        catalog_type=pystac.CatalogType.SELF_CONTAINED,
    )
    collection = _collection(items)
    catalog.add_child(collection)
    collection.add_items(items)
    for extra in extra_collections:
        catalog.add_child(extra)
    catalog.normalize_hrefs(str(stac_dir))
    extras = [o for extra in extra_collections for o in (*extra.get_items(), extra)]
    for stac_object in [*items, collection, *extras, catalog]:
        payload = stac_object.to_dict(include_self_link=False, transform_hrefs=True)
        target = Path(stac_object.get_self_href() or "")
        target.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(target, json.dumps(payload, indent=1, ensure_ascii=False))
    return stac_dir / "catalog.json"


def items_extent(items: Sequence[pystac.Item]) -> pystac.Extent:
    """The bounding box and time span of ``items``: a collection's extent."""
    bboxes = [item.bbox for item in items if item.bbox is not None]
    spatial = [
        min(b[0] for b in bboxes),
        min(b[1] for b in bboxes),
        max(b[2] for b in bboxes),
        max(b[3] for b in bboxes),
    ]
    times = sorted(item.datetime for item in items if item.datetime is not None)
    return pystac.Extent(
        pystac.SpatialExtent([spatial]), pystac.TemporalExtent([[times[0], times[-1]]])
    )


def _collection(items: Sequence[pystac.Item]) -> pystac.Collection:
    return pystac.Collection(
        id=COLLECTION_ID,
        description="Sentinel-2 Level-2A surface reflectance, simulated for the demo region.",
        extent=items_extent(items),
        license="other",
        title="Sentinel-2 L2A (simulated)",
    )
